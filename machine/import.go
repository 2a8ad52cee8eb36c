package machine

import (
	"context"
	"fmt"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// importPrefetch is the number of sessions importSessions looks up in one
// store call (BatchTx).
const importPrefetch = 1000

// ImportResult is the outcome of ImportRoomKeys.
type ImportResult struct {
	// Imported counts the sessions stored or improved (a lower first
	// index); sessions already known as well or better are not counted.
	Imported int
	// Errors holds, for each session refused, its index in the input and
	// why (malformed, or in conflict with the known session of that ID).
	Errors map[int]error
	// Retry lists events that failed earlier for want of these keys.
	Retry []RetryEvent
}

// ImportRoomKeys stores Megolm sessions restored from server-side key
// backup (ProvenanceBackup) or read from a key export file
// (ProvenanceExport), all in one store transaction. Nothing proves who
// wrote such keys, so the sessions stay unauthenticated: an imported copy
// never replaces a session received directly (it can only lower its first
// index), and a copy whose ratchet does not connect with the known session
// of the same ID is refused (SECURITY 29). New sessions imported with
// ProvenanceBackup count as already in the backup version set later, as
// nothing tells from which version they came: RestoreBackup, given the
// version, decides this exactly and does the decryption too.
func (m *Machine) ImportRoomKeys(ctx context.Context, sessions []keybackup.ExportedSession, provenance Provenance) (*ImportResult, error) {
	if provenance != ProvenanceBackup && provenance != ProvenanceExport {
		return nil, fmt.Errorf("%w: import provenance must be backup or export, not %q", ErrBadOptions, provenance)
	}
	out := &ImportResult{Errors: map[int]error{}}
	err := m.update(ctx, func(t *txn) error {
		o, err := t.importSessions(sessions, provenance)
		if err != nil {
			return err
		}
		*out = ImportResult{Imported: o.imported, Errors: o.errors, Retry: o.retry}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// importOutcome is what importSessions did.
type importOutcome struct {
	// imported counts the sessions stored or improved; errors holds the
	// refused ones by index.
	imported int
	errors   map[int]error
	// stored lists (room, session) of the sessions stored for the first
	// time.
	stored [][2]string
	retry  []RetryEvent
}

// importSessions stores restored or imported sessions with the given
// provenance, merging them with known copies (storeInbound).
func (t *txn) importSessions(sessions []keybackup.ExportedSession, provenance Provenance) (*importOutcome, error) {
	out := &importOutcome{errors: map[int]error{}}
	res := &SyncResult{}
	for i := range sessions {
		if i%importPrefetch == 0 {
			// The sessions already known, importPrefetch at a time: one
			// store call instead of one per session (BatchTx).
			keys := make([]InboundGroupSessionKey, 0, importPrefetch)
			for _, e := range sessions[i:min(i+importPrefetch, len(sessions))] {
				keys = append(keys, InboundGroupSessionKey{RoomID: e.RoomID, SessionID: e.SessionID})
			}
			if err := t.prefetchInbound(keys); err != nil {
				return nil, err
			}
		}
		e := &sessions[i]
		// The primitive records the provenance too (backup or export).
		var s *megolm.InboundGroupSession
		var err error
		if provenance == ProvenanceBackup {
			s, err = e.BackedUpSession.InboundGroupSession()
			if err == nil && s.SessionID() != e.SessionID {
				err = fmt.Errorf("session ID %s is not the entry's", s.SessionID())
			}
		} else {
			s, err = e.InboundGroupSession()
		}
		if err != nil {
			out.errors[i] = fmt.Errorf("%w: %w", ErrMalformedEvent, err)
			continue
		}
		if e.RoomID == "" {
			out.errors[i] = fmt.Errorf("%w: no room ID", ErrMalformedEvent)
			continue
		}
		if e.SenderKey == (olm.Curve25519PublicKey{}) {
			out.errors[i] = fmt.Errorf("%w: sender_key", ErrMalformedEvent)
			continue
		}
		st := inboundState{RoomID: e.RoomID, SessionID: e.SessionID, SenderKey: e.SenderKey.String(),
			SenderEd25519: e.SenderClaimedKeys["ed25519"], Provenance: provenance, SharedHistory: e.SharedHistory}
		before, err := t.inbound(e.RoomID, e.SessionID)
		if err != nil {
			return nil, err
		}
		var beforeIndex uint32
		if before != nil {
			beforeIndex = before.s.FirstKnownIndex()
		}
		if err := t.storeInbound(&inboundSession{s: s, state: st}, res); err != nil {
			if _, ok := err.(*storeError); ok {
				return nil, err
			}
			out.errors[i] = err
			continue
		}
		if before == nil {
			out.imported++
			out.stored = append(out.stored, [2]string{e.RoomID, e.SessionID})
		} else if after, _ := t.inbound(e.RoomID, e.SessionID); after != nil && after.s.FirstKnownIndex() < beforeIndex {
			out.imported++
		}
	}
	out.retry = res.Retry
	return out, nil
}
