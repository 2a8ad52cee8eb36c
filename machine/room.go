package machine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// Rotation defaults and bounds of m.room.encryption (specification, and
// matrix-rust-sdk's clamping).
const (
	DefaultRotationPeriod     = 7 * 24 * time.Hour
	DefaultRotationPeriodMsgs = 100
	minRotationPeriod         = time.Hour
	maxRotationPeriodMsgs     = 10000
)

// roomEncryptionContent is the content of m.room.encryption.
type roomEncryptionContent struct {
	Algorithm          string `json:"algorithm"`
	RotationPeriodMs   *int64 `json:"rotation_period_ms"`
	RotationPeriodMsgs *int64 `json:"rotation_period_msgs"`
}

func (t *txn) room(roomID string) (*roomState, error) {
	var r roomState
	ok, err := t.getValue(NSRooms, roomID, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// SetRoomEncryption records a room's m.room.encryption state content. Once
// a room is encrypted, later changes and removals (an empty content) are
// ignored: nothing is ever sent there in plaintext nor with weaker settings.
// An algorithm other than m.megolm.v1.aes-sha2 is refused with
// ErrUnknownAlgorithm (and, for a room not yet encrypted, the room stays
// unencrypted, so EncryptRoomEvent refuses to send there).
func (m *Machine) SetRoomEncryption(ctx context.Context, roomID string, content json.RawMessage) error {
	var c roomEncryptionContent
	if err := json.Unmarshal(content, &c); err != nil {
		return fmt.Errorf("%w: m.room.encryption: %v", ErrMalformedEvent, err)
	}
	return m.update(ctx, func(t *txn) error {
		old, err := t.room(roomID)
		if err != nil {
			return err
		}
		if old != nil {
			if c.Algorithm != old.Algorithm {
				m.notice(Notice{Err: fmt.Errorf("machine: %s: change of m.room.encryption ignored", roomID)})
			}
			return nil
		}
		if c.Algorithm != olm.AlgorithmMegolm {
			return fmt.Errorf("%w: room %s: %q", ErrUnknownAlgorithm, roomID, c.Algorithm)
		}
		r := roomState{Algorithm: c.Algorithm, PeriodMs: DefaultRotationPeriod.Milliseconds(), PeriodMsgs: DefaultRotationPeriodMsgs}
		if c.RotationPeriodMs != nil {
			r.PeriodMs = max(*c.RotationPeriodMs, minRotationPeriod.Milliseconds())
		}
		if c.RotationPeriodMsgs != nil {
			r.PeriodMsgs = uint32(min(max(*c.RotationPeriodMsgs, 1), maxRotationPeriodMsgs))
		}
		return t.putValue(NSRooms, roomID, r)
	})
}

// SetRoomHistoryVisibility records a room's m.room.history_visibility. Keys
// shared while it is "shared" or "world_readable" carry MSC3061's
// shared_history flag; a change rotates the room key.
func (m *Machine) SetRoomHistoryVisibility(ctx context.Context, roomID, visibility string) error {
	return m.update(ctx, func(t *txn) error {
		r, err := t.room(roomID)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: %s", ErrRoomNotEncrypted, roomID)
		}
		if r.HistoryVisibility == visibility {
			return nil
		}
		r.HistoryVisibility = visibility
		if o, err := t.outbound(roomID); err != nil {
			return err
		} else if o != nil {
			o.state.Invalidated = true
			if err := t.putOutbound(o); err != nil {
				return err
			}
		}
		return t.putValue(NSRooms, roomID, *r)
	})
}

// SetRoomOnlyVerified sets a room's sharing policy: keys only to verified
// devices (m.unverified for the others), whatever Options.OnlyVerified says.
func (m *Machine) SetRoomOnlyVerified(ctx context.Context, roomID string, onlyVerified bool) error {
	return m.update(ctx, func(t *txn) error {
		r, err := t.room(roomID)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: %s", ErrRoomNotEncrypted, roomID)
		}
		r.OnlyVerified = onlyVerified
		return t.putValue(NSRooms, roomID, *r)
	})
}

// IsRoomEncrypted reports whether m.room.encryption was recorded for a room.
func (m *Machine) IsRoomEncrypted(ctx context.Context, roomID string) (bool, error) {
	var enc bool
	err := m.view(ctx, func(t *txn) error {
		r, err := t.room(roomID)
		enc = r != nil
		return err
	})
	return enc, err
}

// inbound returns the inbound session of (room, session), nil if none.
func (t *txn) inbound(roomID, sessionID string) (*inboundSession, error) {
	k := roomID + "\x00" + sessionID
	if s, ok := t.m.c.inbound[k]; ok {
		return s, nil
	}
	var rec InboundGroupSessionRecord
	if p, ok := t.prefetched[k]; ok {
		if p == nil {
			// Not in the store when prefetched; a session put since
			// is in the cache.
			return nil, nil
		}
		rec = *p
		delete(t.prefetched, k)
	} else {
		var err error
		rec, err = t.tx.InboundGroupSession(roomID, sessionID)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, storeErr(err)
		}
	}
	var st inboundState
	if err := t.m.open(kindInbound, rec.Pickle, &st); err != nil {
		return nil, err
	}
	if st.RoomID != roomID || st.SessionID != sessionID {
		return nil, fmt.Errorf("%w: inbound session filed under another room or ID", ErrCorruptedStore)
	}
	s, err := megolm.UnpickleInboundGroupSession(st.Session, t.m.key[:])
	if err != nil {
		return nil, err
	}
	if s.SessionID() != sessionID {
		return nil, fmt.Errorf("%w: inbound session filed under another ID", ErrCorruptedStore)
	}
	st.Session = ""
	is := &inboundSession{s: s, state: st}
	t.m.c.inbound[k] = is
	return is, nil
}

// prefetchInbound looks up, in one BatchTx call if the store's Tx has one,
// the inbound sessions of keys that are not in the cache, so that inbound
// answers them without a store lookup each. Without BatchTx it does
// nothing.
func (t *txn) prefetchInbound(keys []InboundGroupSessionKey) error {
	bt, ok := t.tx.(BatchTx)
	if !ok {
		return nil
	}
	var want []InboundGroupSessionKey
	for _, k := range keys {
		ck := k.RoomID + "\x00" + k.SessionID
		if _, ok := t.m.c.inbound[ck]; ok {
			continue
		}
		if _, ok := t.prefetched[ck]; ok {
			continue
		}
		want = append(want, k)
	}
	if len(want) < 2 {
		// One session: inbound looks it up as well.
		return nil
	}
	recs, err := bt.InboundGroupSessionsByID(want)
	if err != nil {
		return storeErr(err)
	}
	if t.prefetched == nil {
		t.prefetched = make(map[string]*InboundGroupSessionRecord, len(want))
	}
	for _, k := range want {
		var p *InboundGroupSessionRecord
		if r, ok := recs[k]; ok {
			p = &r
		}
		t.prefetched[k.RoomID+"\x00"+k.SessionID] = p
	}
	return nil
}

func (t *txn) putInbound(s *inboundSession, backedUp bool) error {
	p, err := s.s.Pickle(t.m.key[:])
	if err != nil {
		return err
	}
	st := s.state
	st.Session = p
	b, err := t.m.seal(kindInbound, st)
	if err != nil {
		return err
	}
	t.m.c.inbound[st.RoomID+"\x00"+st.SessionID] = s
	return storeErr(t.tx.PutInboundGroupSession(InboundGroupSessionRecord{
		RoomID: st.RoomID, SessionID: st.SessionID, SenderKey: st.SenderKey,
		Provenance: st.Provenance, BackedUp: backedUp, Pickle: b,
	}))
}

// errNotConnected means a session with a known ID but another ratchet or
// sender arrived.
var errNotConnected = errors.New("machine: room key conflicts with the known session of that ID")

// storeInbound adds a received session, merging it with a known copy:
// copies must come from the same sender and be connected (the same
// ratchet); the lower first index is kept, and provenance is direct only if
// a direct copy took part (SECURITY 29).
func (t *txn) storeInbound(n *inboundSession, res *SyncResult) error {
	old, err := t.inbound(n.state.RoomID, n.state.SessionID)
	if err != nil {
		return err
	}
	// A session restored from backup is in the backup already; merged
	// copies are uploaded again (conservatively).
	backedUp := old == nil && n.state.Provenance == ProvenanceBackup
	if old != nil {
		// The authenticated key wins over a copy of unknown origin (a
		// backup entry anyone who knows the backup's public key could
		// write, a forward, an export) made under the session's ID with
		// another ratchet or naming another sender: kept, it would block
		// the real key for good. So does a key forwarded by one of our
		// verified devices, in answer to our request, over a backup entry.
		wins := n.state.Provenance == ProvenanceDirect && old.state.Provenance != ProvenanceDirect ||
			n.state.Provenance == ProvenanceForwarded && old.state.Provenance == ProvenanceBackup
		var merged *megolm.InboundGroupSession
		if old.state.SenderKey == n.state.SenderKey {
			merged = old.s.Merge(n.s)
		} else if !wins {
			return fmt.Errorf("%w: %w: other sender key", ErrUntrustedSender, errNotConnected)
		}
		st := old.state
		replaced := false
		switch {
		case merged == nil && wins:
			merged, st, replaced = n.s, n.state, true
		case merged == nil:
			return fmt.Errorf("%w: %w", ErrMalformedEvent, errNotConnected)
		}
		if n.state.Provenance == ProvenanceDirect && st.Provenance != ProvenanceDirect {
			// An authenticated copy of the same ratchet authenticates
			// the session; keep the direct sender facts.
			st = n.state
		}
		if !replaced {
			st.SharedHistory = old.state.SharedHistory || n.state.SharedHistory
		}
		if merged.FirstKnownIndex() == old.s.FirstKnownIndex() && st == old.state {
			return nil // nothing new
		}
		n = &inboundSession{s: merged, state: st}
	}
	if err := t.putInbound(n, backedUp); err != nil {
		return err
	}
	if err := storeErr(t.tx.Delete(NSWithheld, n.state.RoomID+"\x00"+n.state.SessionID)); err != nil {
		return err
	}
	t.m.c.withheld = -1
	if err := t.keyArrived(n.state.RoomID, n.state.SessionID); err != nil {
		return err
	}
	return t.retryFailures(n.state.RoomID, n.state.SessionID, res)
}

// outbound returns the room's outbound session, nil if none.
func (t *txn) outbound(roomID string) (*outboundSession, error) {
	if o, ok := t.m.c.out[roomID]; ok {
		return o, nil
	}
	rec, err := t.tx.OutboundGroupSession(roomID)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	var st outboundState
	if err := t.m.open(kindOutbound, rec.Pickle, &st); err != nil {
		return nil, err
	}
	if st.RoomID != roomID {
		return nil, fmt.Errorf("%w: outbound session filed under another room", ErrCorruptedStore)
	}
	s, err := megolm.UnpickleGroupSession(st.Session, t.m.key[:])
	if err != nil {
		return nil, err
	}
	if s.SessionID() != st.SessionID || rec.SessionID != st.SessionID {
		return nil, fmt.Errorf("%w: outbound session ID", ErrCorruptedStore)
	}
	st.Session = ""
	o := &outboundSession{s: s, state: st}
	t.m.c.out[roomID] = o
	return o, nil
}

func (t *txn) putOutbound(o *outboundSession) error {
	p, err := o.s.Pickle(t.m.key[:])
	if err != nil {
		return err
	}
	st := o.state
	st.Session = p
	b, err := t.m.seal(kindOutbound, st)
	if err != nil {
		return err
	}
	t.m.c.out[st.RoomID] = o
	return storeErr(t.tx.PutOutboundGroupSession(OutboundGroupSessionRecord{RoomID: st.RoomID, SessionID: st.SessionID, Pickle: b}))
}

// expired reports whether the session's rotation period is over.
func (o *outboundSession) expired(now time.Time) bool {
	return o.state.Invalidated || o.state.Messages >= o.state.PeriodMsgs ||
		now.Sub(time.UnixMilli(o.state.Created)) >= time.Duration(o.state.PeriodMs)*time.Millisecond
}

// DiscardRoomKey makes the next ShareRoomKey of the room start a new
// session (for instance after a member left).
func (m *Machine) DiscardRoomKey(ctx context.Context, roomID string) error {
	return m.update(ctx, func(t *txn) error {
		o, err := t.outbound(roomID)
		if err != nil || o == nil {
			return err
		}
		o.state.Invalidated = true
		return t.putOutbound(o)
	})
}

// megolmContent is the content of an m.room.encrypted room event.
type megolmContent struct {
	Algorithm  string          `json:"algorithm"`
	Ciphertext string          `json:"ciphertext"`
	SessionID  string          `json:"session_id"`
	SenderKey  string          `json:"sender_key,omitempty"`
	DeviceID   string          `json:"device_id,omitempty"`
	RelatesTo  json.RawMessage `json:"m.relates_to,omitempty"`
}

// megolmPayload is the plaintext of a Megolm message.
type megolmPayload struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
	RoomID  string          `json:"room_id"`
}

// EncryptRoomEvent encrypts an event of eventType with content for a room
// and returns the content of the m.room.encrypted event to send. The
// room's key must have been shared (ShareRoomKey until it returns no
// requests); otherwise, or when rotation is due or devices changed, the
// error wraps ErrShareRequired. In a room without m.room.encryption the
// error wraps ErrRoomNotEncrypted.
//
// m.relates_to (edits, replies in threads, reactions) moves to the
// cleartext content, as the specification says. The session's new state is
// stored before the ciphertext is returned, so a message index is never
// handed out twice, even across a crash.
func (m *Machine) EncryptRoomEvent(ctx context.Context, roomID, eventType string, content json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: content must be a JSON object", ErrMalformedEvent)
	}
	relates, hasRel := fields["m.relates_to"]
	if hasRel {
		delete(fields, "m.relates_to")
		var err error
		if content, err = json.Marshal(fields); err != nil {
			return nil, err
		}
	}
	var out json.RawMessage
	err := m.update(ctx, func(t *txn) error {
		r, err := t.room(roomID)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: %s", ErrRoomNotEncrypted, roomID)
		}
		o, err := t.outbound(roomID)
		if err != nil {
			return err
		}
		switch {
		case o == nil:
			return fmt.Errorf("%w: no room key yet", ErrShareRequired)
		case len(o.state.Pending) > 0:
			return fmt.Errorf("%w: %d requests of the share not marked as sent", ErrShareRequired, len(o.state.Pending))
		case o.expired(t.now):
			return fmt.Errorf("%w: rotation due", ErrShareRequired)
		case o.state.DeviceGen != t.m.deviceGen || o.state.NeedsShare:
			return fmt.Errorf("%w: devices changed since the share", ErrShareRequired)
		}
		if err := t.checkRecipients(r, o); err != nil {
			return err
		}
		plain, err := json.Marshal(megolmPayload{Type: eventType, Content: content, RoomID: roomID})
		if err != nil {
			return err
		}
		ct, err := o.s.Encrypt(plain)
		if err != nil {
			return err
		}
		o.state.Messages++
		if err := t.putOutbound(o); err != nil {
			return err
		}
		a, err := t.account()
		if err != nil {
			return err
		}
		mc := megolmContent{
			Algorithm: olm.AlgorithmMegolm, Ciphertext: base64.RawStdEncoding.EncodeToString(ct),
			SessionID: o.state.SessionID, SenderKey: a.Curve25519Key().String(), DeviceID: t.m.deviceID,
		}
		if hasRel {
			mc.RelatesTo = relates
		}
		out, err = json.Marshal(mc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkRecipients refuses with ErrShareRequired when a device that holds
// the session's key no longer passes the sharing policy (the room turned
// OnlyVerified, a device lost its verification, was blacklisted, flagged or
// deleted): ShareRoomKey then rotates the session before the next message.
func (t *txn) checkRecipients(r *roomState, o *outboundSession) error {
	admitted := map[string]bool{}
	loaded := map[string]bool{}
	for k, sh := range o.state.Shared {
		if sh.Withheld != "" {
			continue
		}
		user, _, _ := strings.Cut(k, "\x00")
		if !loaded[user] {
			loaded[user] = true
			ds, err := t.devices(user)
			if err != nil {
				return err
			}
			for _, d := range ds {
				admitted[d.key()] = !d.Deleted && d.Curve == o.state.Shared[d.key()].Curve25519 && t.policy(r, d) == ""
			}
		}
		if !admitted[k] {
			return fmt.Errorf("%w: a device holding the room key is no longer admitted", ErrShareRequired)
		}
	}
	return nil
}

// withheldFor returns the withheld notice recorded for the event's
// session as a *WithheldError, or nil if there is none or it is not from
// the device expected to send the session: its sender_key must be the
// event's sender_key (when the event names one) and a device of the
// event's sender (when the sender's devices are known).
func (t *txn) withheldFor(roomID, sender string, c *megolmContent) (*WithheldError, error) {
	var w withheldState
	ok, err := t.getValue(NSWithheld, roomID+"\x00"+c.SessionID, &w)
	if err != nil || !ok {
		return nil, err
	}
	if c.SenderKey != "" && w.Sender != c.SenderKey {
		return nil, nil
	}
	ds, err := t.devices(sender)
	if err != nil {
		return nil, err
	}
	if len(ds) > 0 {
		d, err := t.deviceByCurve(sender, w.Sender)
		if err != nil || d == nil {
			return nil, err
		}
	}
	return &WithheldError{Code: w.Code, Reason: w.Reason}, nil
}

// DecryptedEvent is a decrypted room event and what is known of its
// sender. Show an event as trusted only if Provenance is ProvenanceDirect
// and Verification is VerificationVerified.
type DecryptedEvent struct {
	// Type and Content are the decrypted event's; m.relates_to from the
	// cleartext is put back into Content.
	Type    string
	Content json.RawMessage
	// RoomID, Sender, EventID and Timestamp come from the envelope.
	RoomID, Sender, EventID string
	Timestamp               int64
	// SenderKey is the Curve25519 key of the device the session is
	// attributed to; SenderDevice is that device if known from
	// /keys/query (nil otherwise).
	SenderKey    olm.Curve25519PublicKey
	SenderDevice *Device
	// Verification is the trust in SenderDevice. For a session that did
	// not come from the sender over Olm (Provenance other than
	// ProvenanceDirect) it is at most VerificationUnauthenticated, never
	// VerificationVerified: a backup, forwarded key or export can name
	// any sender.
	Verification Verification
	// Provenance is how the room key reached us.
	Provenance Provenance
	// SessionID and Index locate the message in its Megolm session.
	SessionID string
	Index     uint32
	// SharedHistory is MSC3061's flag on the session.
	SharedHistory bool
}

type roomEvent struct {
	Type      string          `json:"type"`
	Sender    string          `json:"sender"`
	EventID   string          `json:"event_id"`
	RoomID    string          `json:"room_id"`
	Timestamp int64           `json:"origin_server_ts"`
	Content   json.RawMessage `json:"content"`
}

// maxCiphertext is the longest Megolm ciphertext (base64) accepted.
const maxCiphertext = (megolm.MaxMessageSize*4)/3 + 4

// DecryptRoomEvent decrypts an m.room.encrypted event received in roomID.
// Errors (each a refusal, with the event left undecrypted): ErrNoSession
// (the key is requested from our other devices, and the event is reported
// in SyncResult.Retry when the key arrives), *WithheldError (the sender's
// device said it withholds the key; requested and retried all the same,
// since anyone can send that notice), ErrUnknownIndex,
// ErrReplay (another event already used this message index), ErrWrongRoom,
// ErrSenderMismatch, ErrMegolmDecrypt, ErrUnknownAlgorithm,
// ErrMalformedEvent.
func (m *Machine) DecryptRoomEvent(ctx context.Context, roomID string, event json.RawMessage) (*DecryptedEvent, error) {
	out, errs, err := m.DecryptRoomEvents(ctx, roomID, []json.RawMessage{event})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, errs[0]
	}
	return out[0], nil
}

// DecryptRoomEvents is DecryptRoomEvent for the events of one room in a
// /sync batch, in one store transaction (one commit instead of one per
// event, which matters for stores that sync to disk). For each event,
// either its DecryptedEvent or its refusal (the errors of DecryptRoomEvent)
// is set; err is a failure of the store, after which nothing was recorded.
func (m *Machine) DecryptRoomEvents(ctx context.Context, roomID string, events []json.RawMessage) ([]*DecryptedEvent, []error, error) {
	type parsed struct {
		ev roomEvent
		c  megolmContent
		ct []byte
	}
	ps := make([]*parsed, len(events))
	out := make([]*DecryptedEvent, len(events))
	refusals := make([]error, len(events))
	for i, event := range events {
		p := new(parsed)
		if err := parseRoomEvent(roomID, event, &p.ev, &p.c, &p.ct); err != nil {
			refusals[i] = err
			continue
		}
		ps[i] = p
	}
	err := m.update(ctx, func(t *txn) error {
		keys := make([]InboundGroupSessionKey, 0, len(ps))
		seen := map[string]bool{}
		for _, p := range ps {
			if p != nil && !seen[p.c.SessionID] {
				seen[p.c.SessionID] = true
				keys = append(keys, InboundGroupSessionKey{RoomID: roomID, SessionID: p.c.SessionID})
			}
		}
		if err := t.prefetchInbound(keys); err != nil {
			return err
		}
		for i, p := range ps {
			if p == nil {
				continue
			}
			var refusal error
			out[i], refusal = t.decryptRoom(roomID, &p.ev, &p.c, p.ct)
			var se *storeError
			if errors.As(refusal, &se) || errors.Is(refusal, ErrBadPickleKey) || errors.Is(refusal, ErrCorruptedStore) {
				return refusal
			}
			refusals[i] = refusal
		}
		return t.checkReplays(out, refusals)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, refusals, nil
}

// checkReplays checks the events decrypted (out[i] set) against the replay
// records, in the order of the batch, refusing with ErrReplay one whose
// message index another event used, and records each index used for the
// first time. Two events of the batch at the same index are checked as if
// decrypted one after the other: the second is a replay unless it is the
// same event (event ID and timestamp). For more than one event and a
// ReplayBatchTx, it takes one lookup and one write in all; otherwise one of
// each per event.
func (t *txn) checkReplays(out []*DecryptedEvent, refusals []error) error {
	n, last := 0, -1
	for i, d := range out {
		if d != nil {
			n, last = n+1, i
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		// One event (DecryptRoomEvent): no maps.
		d := out[last]
		rec, err := t.tx.ReplayRecord(d.RoomID, d.SessionID, d.Index)
		switch {
		case err == nil:
			if rec.EventID != d.EventID || rec.Timestamp != d.Timestamp {
				out[last] = nil
				refusals[last] = fmt.Errorf("%w: index %d of session %s was used by %s", ErrReplay, d.Index, d.SessionID, rec.EventID)
			}
			return nil
		case isNotFound(err):
			return storeErr(t.tx.PutReplayRecord(ReplayRecord{RoomID: d.RoomID, SessionID: d.SessionID, Index: d.Index, EventID: d.EventID, Timestamp: d.Timestamp}))
		default:
			return storeErr(err)
		}
	}
	keys := make([]ReplayKey, 0, n)
	for _, d := range out {
		if d != nil {
			keys = append(keys, ReplayKey{RoomID: d.RoomID, SessionID: d.SessionID, Index: d.Index})
		}
	}
	bt, batched := t.tx.(ReplayBatchTx)
	var used map[ReplayKey]ReplayRecord
	if batched {
		var err error
		if used, err = bt.ReplayRecords(keys); err != nil {
			return storeErr(err)
		}
		if used == nil {
			used = make(map[ReplayKey]ReplayRecord, len(keys))
		}
	} else {
		used = make(map[ReplayKey]ReplayRecord, len(keys))
		asked := make(map[ReplayKey]bool, len(keys))
		for _, k := range keys {
			if asked[k] {
				continue
			}
			asked[k] = true
			rec, err := t.tx.ReplayRecord(k.RoomID, k.SessionID, k.Index)
			switch {
			case err == nil:
				used[k] = rec
			case !isNotFound(err):
				return storeErr(err)
			}
		}
	}
	var fresh []ReplayRecord
	for i, d := range out {
		if d == nil {
			continue
		}
		k := ReplayKey{RoomID: d.RoomID, SessionID: d.SessionID, Index: d.Index}
		if rec, ok := used[k]; ok {
			if rec.EventID != d.EventID || rec.Timestamp != d.Timestamp {
				out[i] = nil
				refusals[i] = fmt.Errorf("%w: index %d of session %s was used by %s", ErrReplay, d.Index, d.SessionID, rec.EventID)
			}
			continue
		}
		rec := ReplayRecord{RoomID: d.RoomID, SessionID: d.SessionID, Index: d.Index, EventID: d.EventID, Timestamp: d.Timestamp}
		used[k] = rec
		fresh = append(fresh, rec)
	}
	if len(fresh) == 0 {
		return nil
	}
	if batched {
		return storeErr(bt.PutReplayRecords(fresh))
	}
	for _, rec := range fresh {
		if err := t.tx.PutReplayRecord(rec); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// parseRoomEvent decodes and checks an m.room.encrypted room event.
func parseRoomEvent(roomID string, event json.RawMessage, ev *roomEvent, c *megolmContent, ct *[]byte) error {
	if err := json.Unmarshal(event, ev); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if ev.RoomID != "" && ev.RoomID != roomID {
		return fmt.Errorf("%w: event of %s given for %s", ErrWrongRoom, ev.RoomID, roomID)
	}
	if err := json.Unmarshal(ev.Content, c); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if ev.Type != "m.room.encrypted" {
		return fmt.Errorf("%w: type %q", ErrMalformedEvent, ev.Type)
	}
	if c.Algorithm != olm.AlgorithmMegolm {
		return fmt.Errorf("%w: %q", ErrUnknownAlgorithm, c.Algorithm)
	}
	if c.SessionID == "" || ev.Sender == "" || len(c.Ciphertext) > maxCiphertext {
		return fmt.Errorf("%w: session_id, sender or ciphertext", ErrMalformedEvent)
	}
	var err error
	*ct, err = base64.RawStdEncoding.DecodeString(c.Ciphertext)
	if err != nil {
		if *ct, err = base64.StdEncoding.DecodeString(c.Ciphertext); err != nil {
			return fmt.Errorf("%w: ciphertext: %v", ErrMalformedEvent, err)
		}
	}
	return nil
}

// decryptRoom decrypts and checks one event; its replay check is left to
// checkReplays, which sees the whole batch.
func (t *txn) decryptRoom(roomID string, ev *roomEvent, c *megolmContent, ct []byte) (*DecryptedEvent, error) {
	s, err := t.inbound(roomID, c.SessionID)
	if err != nil {
		return nil, err
	}
	if s == nil {
		// The event is retried when the key arrives, and the key is
		// requested, even if a withheld notice came: anyone can send one
		// in the clear, so it only explains the failure.
		if err := t.recordFailure(roomID, c.SessionID, ev.EventID); err != nil {
			return nil, err
		}
		if err := t.requestKey(roomID, c.SessionID, c.SenderKey); err != nil {
			return nil, err
		}
		w, err := t.withheldFor(roomID, ev.Sender, c)
		if err != nil {
			return nil, err
		}
		if w != nil {
			return nil, w
		}
		return nil, fmt.Errorf("%w: session %s", ErrNoSession, c.SessionID)
	}
	plain, idx, err := s.s.Decrypt(ct)
	if errors.Is(err, megolm.ErrUnknownMessageIndex) {
		if err := t.recordFailure(roomID, c.SessionID, ev.EventID); err != nil {
			return nil, err
		}
		if err := t.requestKey(roomID, c.SessionID, s.state.SenderKey); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnknownIndex, err)
	}
	if err != nil {
		if s.state.Provenance == ProvenanceBackup {
			// A backup entry anyone could have written under this
			// session's ID: ask our devices for the real key, which
			// replaces it, and retry the event when it comes.
			if err := t.recordFailure(roomID, c.SessionID, ev.EventID); err != nil {
				return nil, err
			}
			if err := t.requestKey(roomID, c.SessionID, s.state.SenderKey); err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrMegolmDecrypt, err)
	}
	var p megolmPayload
	if err := json.Unmarshal(plain, &p); err != nil || p.Type == "" || len(p.Content) == 0 {
		return nil, fmt.Errorf("%w: megolm payload", ErrMalformedEvent)
	}
	if p.RoomID != roomID {
		return nil, fmt.Errorf("%w: plaintext names %q", ErrWrongRoom, p.RoomID)
	}
	if s.state.Provenance == ProvenanceDirect && s.state.SenderUser != "" && s.state.SenderUser != ev.Sender {
		return nil, fmt.Errorf("%w: %s sent the session, the event claims %s", ErrSenderMismatch, s.state.SenderUser, ev.Sender)
	}
	out := &DecryptedEvent{
		Type: p.Type, Content: p.Content, RoomID: roomID, Sender: ev.Sender, EventID: ev.EventID,
		Timestamp: ev.Timestamp, Provenance: s.state.Provenance, SessionID: c.SessionID, Index: idx,
		SharedHistory: s.state.SharedHistory, Verification: VerificationUnknownDevice,
	}
	out.SenderKey, _ = olm.ParseCurve25519PublicKey(s.state.SenderKey)
	if len(c.RelatesTo) > 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(p.Content, &fields) == nil && fields != nil {
			if _, ok := fields["m.relates_to"]; !ok {
				fields["m.relates_to"] = c.RelatesTo
				if b, err := json.Marshal(fields); err == nil {
					out.Content = b
				}
			}
		}
	}
	d, err := t.deviceByCurve(ev.Sender, s.state.SenderKey)
	if err != nil {
		return nil, err
	}
	if d != nil {
		if s.state.SenderEd25519 != "" && d.Ed != s.state.SenderEd25519 {
			return nil, fmt.Errorf("%w: the device's Ed25519 key is not the one the session came with", ErrSenderMismatch)
		}
		out.SenderDevice = d.public()
		out.Verification = d.verification()
		if s.state.Provenance != ProvenanceDirect && out.Verification == VerificationVerified {
			// Nothing proves the verified device made a session that
			// reached us another way.
			out.Verification = VerificationUnauthenticated
		}
	}
	return out, nil
}
