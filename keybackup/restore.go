package keybackup

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/souverain/e2ee/megolm"
)

// KeyBackupData is one backed-up room key as the server stores it: the
// encrypted session and the metadata the server uses to keep the best
// copy. It is public.
type KeyBackupData struct {
	// FirstMessageIndex is the first message index the key can decrypt.
	FirstMessageIndex uint32 `json:"first_message_index"`
	// ForwardedCount is the length of the key's forwarding chain.
	ForwardedCount uint32 `json:"forwarded_count"`
	// IsVerified says whether the uploading device had verified the key's
	// sender. It is the uploader's claim.
	IsVerified bool `json:"is_verified"`
	// SessionData is the encrypted BackedUpSession.
	SessionData *SessionData `json:"session_data"`
}

// ParseKeyBackupData decodes a KeyBackupData object. Errors wrap
// ErrTooLarge or ErrBadFormat.
func ParseKeyBackupData(data []byte) (*KeyBackupData, error) {
	if len(data) > 2*MaxSessionDataSize {
		return nil, fmt.Errorf("keybackup: key backup data of %d bytes: %w", len(data), ErrTooLarge)
	}
	var d KeyBackupData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("keybackup: key backup data: %w", asFormat(err))
	}
	if d.SessionData == nil {
		return nil, fmt.Errorf("keybackup: key backup data without session_data: %w", ErrBadFormat)
	}
	return &d, nil
}

// BackupEntry is one room key of a backup, by room and session ID, with
// its KeyBackupData still in JSON, so that one damaged entry does not stop
// the others from being read.
type BackupEntry struct {
	// RoomID is the room the key belongs to.
	RoomID string
	// SessionID is the Megolm session ID the server files the key under.
	SessionID string
	// Data is the KeyBackupData object.
	Data json.RawMessage
}

type roomKeysJSON struct {
	Rooms map[string]struct {
		Sessions map[string]json.RawMessage `json:"sessions"`
	} `json:"rooms"`
}

// ParseRoomKeys splits the body of GET /room_keys/keys into its entries,
// sorted by room ID and then session ID. It checks only the nesting of
// rooms and sessions; each entry's data is checked when it is decrypted.
// Errors wrap ErrBadFormat. The caller bounds the size of body.
func ParseRoomKeys(body []byte) ([]BackupEntry, error) {
	var w roomKeysJSON
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("keybackup: room keys: %w: %v", ErrBadFormat, err)
	}
	var entries []BackupEntry
	for room, r := range w.Rooms {
		for session, data := range r.Sessions {
			entries = append(entries, BackupEntry{RoomID: room, SessionID: session, Data: data})
		}
	}
	slices.SortFunc(entries, func(a, b BackupEntry) int {
		return cmp.Or(cmp.Compare(a.RoomID, b.RoomID), cmp.Compare(a.SessionID, b.SessionID))
	})
	return entries, nil
}

// MarshalRoomKeys returns the body of PUT /room_keys/keys for entries.
// Errors wrap ErrBadFormat if an entry's data is not JSON.
func MarshalRoomKeys(entries []BackupEntry) ([]byte, error) {
	var w roomKeysJSON
	w.Rooms = map[string]struct {
		Sessions map[string]json.RawMessage `json:"sessions"`
	}{}
	for _, e := range entries {
		r := w.Rooms[e.RoomID]
		if r.Sessions == nil {
			r.Sessions = map[string]json.RawMessage{}
		}
		r.Sessions[e.SessionID] = e.Data
		w.Rooms[e.RoomID] = r
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("keybackup: room keys: %w: %v", ErrBadFormat, err)
	}
	return b, nil
}

// NewBackupEntry encrypts s to the backup key p and returns the entry to
// upload for it. firstIndex (the first message index the key decrypts) and
// isVerified describe the session as KeyBackupData does; the forwarded
// count is not a parameter: it is the length of s's forwarding chain
// (ForwardingCurve25519KeyChain). Errors are those of EncryptSession.
func (p BackupPublicKey) NewBackupEntry(roomID, sessionID string, s *BackedUpSession, firstIndex uint32, isVerified bool) (BackupEntry, error) {
	sd, err := p.EncryptSession(s)
	if err != nil {
		return BackupEntry{}, err
	}
	data, err := json.Marshal(&KeyBackupData{
		FirstMessageIndex: firstIndex,
		ForwardedCount:    uint32(len(s.ForwardingCurve25519KeyChain)),
		IsVerified:        isVerified,
		SessionData:       sd,
	})
	if err != nil {
		return BackupEntry{}, fmt.Errorf("keybackup: backup entry: %w: %v", ErrBadFormat, err)
	}
	return BackupEntry{RoomID: roomID, SessionID: sessionID, Data: data}, nil
}

// DecryptAllOptions configures DecryptAll. The zero value uses every core
// and reports no progress.
type DecryptAllOptions struct {
	// Workers is the number of goroutines that decrypt; 0 or less means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if not nil, is called after each entry is finished,
	// successfully or not, with the number finished so far and the total.
	// Calls never overlap and done increases by one each time, ending at
	// total. Keep it short: the workers wait for it.
	Progress func(done, total int)
}

// RestoreResult is the outcome for one BackupEntry. Its Session is secret:
// fmt, encoding/json and log/slog never print the session key.
type RestoreResult struct {
	// RoomID and SessionID are those of the entry.
	RoomID, SessionID string
	// Data is the entry's decoded KeyBackupData, nil if it did not decode.
	Data *KeyBackupData
	// Session is the decrypted session, nil on error.
	Session *BackedUpSession
	// Inbound is the session imported into Megolm, with provenance
	// megolm.ProvenanceBackup (see BackedUpSession.InboundGroupSession);
	// nil on error.
	Inbound *megolm.InboundGroupSession
	// Err is nil on success; otherwise it wraps ErrBadFormat or
	// ErrTooLarge (the entry's KeyBackupData did not parse), ErrBadMAC (the
	// one decryption error), or the context's error.
	Err error
}

// DecryptAll decrypts every entry of a backup in parallel, imports each
// session into Megolm, checks that its session ID is the entry's, and
// returns the results in the order of entries. A damaged entry gets its own
// error and does not stop the others; every failure after the entry's JSON
// is parsed (decryption, the session's JSON, its key, a session ID that
// does not match) gives the one decryption error, wrapping ErrBadMAC. When
// ctx is cancelled the entries not yet begun get ctx's error. A nil ctx or
// a nil or zero k gives every entry an error wrapping ErrNil, a closed k
// one wrapping ErrClosed. The result always has len(entries) elements.
func (k *BackupKey) DecryptAll(ctx context.Context, entries []BackupEntry, opts *DecryptAllOptions) []RestoreResult {
	var o DecryptAllOptions
	if opts != nil {
		o = *opts
	}
	n := len(entries)
	results := make([]RestoreResult, n)
	if ctx == nil || k == nil || k.mu == nil {
		// Checked here: a panic inside a worker could not be recovered.
		for i, e := range entries {
			results[i] = RestoreResult{RoomID: e.RoomID, SessionID: e.SessionID,
				Err: fmt.Errorf("keybackup: restore: nil context or backup key: %w", ErrNil)}
		}
		return results
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))

	var next atomic.Int64
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				e := &entries[i]
				if err := ctx.Err(); err != nil {
					results[i] = RestoreResult{RoomID: e.RoomID, SessionID: e.SessionID,
						Err: fmt.Errorf("keybackup: restore: %w", err)}
				} else {
					results[i] = k.restore(e)
				}
				if o.Progress != nil {
					mu.Lock()
					done++
					o.Progress(done, n)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return results
}

// restore decodes and decrypts one entry.
func (k *BackupKey) restore(e *BackupEntry) RestoreResult {
	r := RestoreResult{RoomID: e.RoomID, SessionID: e.SessionID}
	d, err := ParseKeyBackupData(e.Data)
	if err != nil {
		r.Err = err
		return r
	}
	r.Data = d
	s, err := k.DecryptSession(d.SessionData)
	if err != nil {
		r.Err = err
		return r
	}
	igs, err := s.InboundGroupSession()
	if err != nil || igs.SessionID() != e.SessionID {
		r.Err = errSessionDecrypt
		return r
	}
	r.Session, r.Inbound = s, igs
	return r
}

// LogValue describes the result for log/slog: its IDs, its error and the
// session without its key.
func (r RestoreResult) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("room_id", r.RoomID), slog.String("session_id", r.SessionID)}
	if r.Session != nil {
		attrs = append(attrs, slog.Any("session", r.Session.LogValue()))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("err", r.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}
