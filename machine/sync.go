package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// SyncChanges is what a /sync response holds for the machine.
type SyncChanges struct {
	// ToDevice are the events of to_device.events, in order.
	ToDevice []json.RawMessage
	// Changed and Left are device_lists.changed and device_lists.left.
	Changed, Left []string
	// OneTimeKeyCounts is device_one_time_keys_count. Nil means the
	// response did not say (the count is left as it was); a map without
	// "signed_curve25519" means zero.
	OneTimeKeyCounts map[string]int
	// UnusedFallbackKeyTypes is device_unused_fallback_key_types. Nil means
	// the server does not support fallback keys (the field is absent).
	UnusedFallbackKeyTypes []string
	// Refresh asks for every tracked user's devices to be queried again:
	// set it for an initial sync, or when the sync token was lost or
	// expired, since device_lists may have missed changes.
	Refresh bool
	// NextBatch is the response's next_batch, saved in the same
	// transaction as the rest: read it back with SyncToken.
	NextBatch string
}

// SyncResult is what the machine made of a /sync response.
type SyncResult struct {
	// ToDevice holds a result for each to-device event, in order.
	ToDevice []ToDeviceEvent
	// RoomKeys lists the Megolm sessions received.
	RoomKeys []RoomKeyInfo
	// Retry lists room events that failed to decrypt earlier for want of a
	// key that has now arrived: decrypt them again.
	Retry []RetryEvent
	// VerificationRoomEvents are in-room verification events to send:
	// cancels of in-room verifications that timed out, and answers to
	// to-device events (rare; to-device answers are queued).
	VerificationRoomEvents []sas.Event
	// Verifications lists the verifications whose state changed since the
	// machine last reported them (events received, timeouts, and the
	// application's own calls since): what to show or decide. Act on them
	// through their Verification and hand the events to
	// SendVerificationEvents; no polling is needed (see
	// VerificationChange).
	Verifications []VerificationChange
}

// ToDeviceEvent is one to-device event as the machine received it.
type ToDeviceEvent struct {
	// Type and Content are the decrypted event's (or the plaintext
	// event's).
	Type    string
	Sender  string
	Content json.RawMessage
	// Encrypted reports that the event came over Olm; SenderKey is then
	// the Olm identity key it came from.
	Encrypted bool
	SenderKey olm.Curve25519PublicKey
	// SenderDevice is the sending device if known from /keys/query.
	SenderDevice *Device
	// Err is non-nil if the event was refused or failed to decrypt.
	Err error
}

// RoomKeyInfo describes a Megolm session received.
type RoomKeyInfo struct {
	RoomID, SessionID string
	Provenance        Provenance
}

// RetryEvent is a room event to decrypt again.
type RetryEvent struct {
	RoomID, SessionID, EventID string
}

// maxFailures bounds the undecryptable events remembered for Retry, and
// maxWithheld the m.room_key.withheld notices kept.
const (
	maxFailures = 10000
	maxWithheld = 10000
)

// keyEvents are the to-device types that carry keys or secrets: accepted
// only over Olm (SECURITY 21).
var keyEvents = map[string]bool{
	"m.room_key":                         true,
	"m.forwarded_room_key":               true,
	"m.secret.send":                      true,
	"m.room_key_bundle":                  true,
	"io.element.msc4268.room_key_bundle": true,
}

// ReceiveSync processes the to-device events, device list changes and key
// counts of one /sync response, in one store transaction: if it returns an
// error, nothing of the response was applied and the caller should retry it
// before using NextBatch. Refusals of single events are not errors; they
// are reported in the result.
func (m *Machine) ReceiveSync(ctx context.Context, sc SyncChanges) (*SyncResult, error) {
	res := &SyncResult{}
	err := m.update(ctx, func(t *txn) error {
		*res = SyncResult{}
		if sc.Refresh {
			tracked, err := t.trackedUsers()
			if err != nil {
				return err
			}
			users := make([]string, 0, len(tracked))
			for u := range tracked {
				users = append(users, u)
			}
			sc.Changed = append(users, sc.Changed...)
		}
		for _, u := range sc.Changed {
			if err := t.markOutdated(u); err != nil {
				return err
			}
		}
		for _, u := range sc.Left {
			if u == m.userID {
				continue
			}
			if err := t.untrack(u); err != nil {
				return err
			}
			if err := t.bumpDeviceGen(); err != nil {
				return err
			}
		}
		kc := &keyCounts{fallback: sc.UnusedFallbackKeyTypes, sawFB: true}
		if sc.OneTimeKeyCounts != nil {
			n := sc.OneTimeKeyCounts[algorithmSignedCurve25519]
			kc.otk = &n
		}
		if err := t.topUp(kc); err != nil {
			return err
		}
		for _, raw := range sc.ToDevice {
			ev, err := t.receiveToDevice(raw, res)
			var se *storeError
			if errors.As(err, &se) || errors.Is(err, ErrBadPickleKey) || errors.Is(err, ErrCorruptedStore) {
				return err
			}
			ev.Err = err
			res.ToDevice = append(res.ToDevice, ev)
		}
		// Timeouts, and what changed (here or since the last report).
		tick, err := t.tickVerifications()
		if err != nil {
			return err
		}
		res.VerificationRoomEvents = append(res.VerificationRoomEvents, tick...)
		// A verification that finished in a call whose transaction failed
		// is applied now, before it is reported done.
		if err := t.applyVerifications(); err != nil {
			return err
		}
		res.Verifications = t.m.verif.changes()
		if sc.NextBatch != "" {
			if err := t.putValue(NSValues, "next_batch", sc.NextBatch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// SyncToken returns the last NextBatch given to ReceiveSync, "" if none.
func (m *Machine) SyncToken(ctx context.Context) (string, error) {
	var tok string
	err := m.view(ctx, func(t *txn) error {
		_, err := t.getValue(NSValues, "next_batch", &tok)
		return err
	})
	return tok, err
}

type rawEvent struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// receiveToDevice handles one to-device event.
func (t *txn) receiveToDevice(raw json.RawMessage, res *SyncResult) (ToDeviceEvent, error) {
	var ev rawEvent
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Type == "" || ev.Sender == "" || len(ev.Content) == 0 {
		return ToDeviceEvent{}, fmt.Errorf("%w: to-device event", ErrMalformedEvent)
	}
	out := ToDeviceEvent{Type: ev.Type, Sender: ev.Sender, Content: ev.Content}
	if ev.Type != "m.room.encrypted" {
		if keyEvents[ev.Type] {
			return out, fmt.Errorf("%w: %s", ErrUnencryptedKeyEvent, ev.Type)
		}
		if isVerificationEvent(ev.Type) {
			return out, t.verification(&out, "", res)
		}
		return out, t.dispatchPlain(&out)
	}
	p, senderKey, dev, err := t.decryptOlm(ev.Sender, ev.Content)
	out.SenderKey = senderKey
	if dev != nil {
		out.SenderDevice = dev.public()
	}
	if err != nil {
		return out, err
	}
	if dev == nil {
		// Learn the sender's devices, to attribute its keys.
		if err := t.track(ev.Sender); err != nil {
			return out, err
		}
	}
	out.Type, out.Content, out.Encrypted = p.Type, p.Content, true
	if p.Type == "m.room.encrypted" {
		return out, fmt.Errorf("%w: encrypted event inside an olm payload", ErrMalformedEvent)
	}
	if isVerificationEvent(p.Type) {
		devID := ""
		if dev != nil {
			devID = dev.DeviceID
		}
		return out, t.verification(&out, devID, res)
	}
	return out, t.dispatchOlm(&out, p, dev, res)
}

// dispatchPlain handles an unencrypted to-device event.
func (t *txn) dispatchPlain(ev *ToDeviceEvent) error {
	switch ev.Type {
	case "m.room_key.withheld":
		return t.receiveWithheld(ev)
	case "m.room_key_request":
		return t.receiveKeyRequest(ev, nil)
	case "m.secret.request":
		return t.receiveSecretRequest(ev, nil)
	}
	return nil
}

// dispatchOlm handles a decrypted to-device event.
func (t *txn) dispatchOlm(ev *ToDeviceEvent, p *olm.Payload, dev *deviceState, res *SyncResult) error {
	switch ev.Type {
	case "m.room_key":
		info, err := t.receiveRoomKey(ev, p, res)
		if err != nil {
			return err
		}
		res.RoomKeys = append(res.RoomKeys, *info)
		return nil
	case "m.forwarded_room_key":
		info, err := t.receiveForwardedKey(ev, p, dev, res)
		if err != nil {
			return err
		}
		res.RoomKeys = append(res.RoomKeys, *info)
		return nil
	case "m.room_key.withheld":
		return t.receiveWithheld(ev)
	case "m.room_key_request":
		return t.receiveKeyRequest(ev, dev)
	case "m.secret.request":
		return t.receiveSecretRequest(ev, dev)
	case "m.secret.send":
		return t.receiveSecret(ev, dev)
	case "m.dummy":
		return nil
	}
	return nil
}

type roomKeyContent struct {
	Algorithm     string `json:"algorithm"`
	RoomID        string `json:"room_id"`
	SessionID     string `json:"session_id"`
	SessionKey    string `json:"session_key"`
	SharedHistory bool   `json:"shared_history,omitempty"`
}

// receiveRoomKey stores the Megolm session of an m.room_key, bound to its
// room and to the Olm sender's identity keys.
func (t *txn) receiveRoomKey(ev *ToDeviceEvent, p *olm.Payload, res *SyncResult) (*RoomKeyInfo, error) {
	var c roomKeyContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return nil, fmt.Errorf("%w: m.room_key: %v", ErrMalformedEvent, err)
	}
	if c.Algorithm != olm.AlgorithmMegolm {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, c.Algorithm)
	}
	if c.RoomID == "" {
		return nil, fmt.Errorf("%w: m.room_key without room_id", ErrMalformedEvent)
	}
	sk, err := megolm.ParseSessionKey(c.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	if sk.SessionID() != c.SessionID {
		return nil, fmt.Errorf("%w: session_id is not the key's", ErrMalformedEvent)
	}
	s, err := megolm.NewInboundGroupSession(sk)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	st := inboundState{
		RoomID: c.RoomID, SessionID: c.SessionID,
		SenderKey: ev.SenderKey.String(), SenderEd25519: p.Keys.Ed25519.String(), SenderUser: ev.Sender,
		Provenance: ProvenanceDirect, SharedHistory: c.SharedHistory,
	}
	if ev.SenderDevice != nil {
		st.SenderDevice = ev.SenderDevice.DeviceID
	}
	if err := t.storeInbound(&inboundSession{s: s, state: st}, res); err != nil {
		return nil, err
	}
	return &RoomKeyInfo{RoomID: c.RoomID, SessionID: c.SessionID, Provenance: ProvenanceDirect}, nil
}

type withheldContent struct {
	Algorithm string `json:"algorithm"`
	RoomID    string `json:"room_id"`
	SessionID string `json:"session_id"`
	SenderKey string `json:"sender_key"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
}

// receiveWithheld records why a key was withheld, for the errors of events
// it would have decrypted.
func (t *txn) receiveWithheld(ev *ToDeviceEvent) error {
	var c withheldContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return fmt.Errorf("%w: m.room_key.withheld: %v", ErrMalformedEvent, err)
	}
	if c.RoomID == "" || c.SessionID == "" || c.Code == "" {
		return nil // m.no_olm and the like name no session
	}
	if len(c.Code) > 255 || len(c.Reason) > 1024 {
		return fmt.Errorf("%w: m.room_key.withheld too long", ErrMalformedEvent)
	}
	if s, err := t.inbound(c.RoomID, c.SessionID); err != nil || s != nil {
		return err
	}
	// Anyone can send these in the clear: keep them only for encrypted
	// rooms we know, and at most maxWithheld.
	if r, err := t.room(c.RoomID); err != nil || r == nil {
		return err
	}
	if t.m.c.withheld < 0 {
		kvs, err := t.tx.List(NSWithheld)
		if err != nil {
			return storeErr(err)
		}
		t.m.c.withheld = len(kvs)
	}
	if t.m.c.withheld >= maxWithheld {
		return nil
	}
	t.m.c.withheld++
	return t.putValue(NSWithheld, c.RoomID+"\x00"+c.SessionID, withheldState{Code: c.Code, Reason: c.Reason, Sender: c.SenderKey})
}

// recordFailure remembers an event that failed for want of a key.
func (t *txn) recordFailure(roomID, sessionID, eventID string) error {
	if eventID == "" || strings.Contains(eventID, "\x00") {
		return nil
	}
	n, err := t.countFailures()
	if err != nil || n >= maxFailures {
		return err
	}
	k := roomID + "\x00" + sessionID + "\x00" + eventID
	if _, err := t.tx.Get(NSFailures, k); err == nil {
		return nil
	}
	t.m.c.failures++
	return storeErr(t.tx.Put(NSFailures, k, nil))
}

func (t *txn) countFailures() (int, error) {
	if t.m.c.failures >= 0 {
		return t.m.c.failures, nil
	}
	kvs, err := t.tx.List(NSFailures)
	if err != nil {
		return 0, storeErr(err)
	}
	t.m.c.failures = len(kvs)
	return t.m.c.failures, nil
}

// retryFailures moves the failures of a session to the result.
func (t *txn) retryFailures(roomID, sessionID string, res *SyncResult) error {
	if res == nil {
		return nil
	}
	n, err := t.countFailures()
	if err != nil || n == 0 {
		return err
	}
	kvs, err := t.tx.List(NSFailures)
	if err != nil {
		return storeErr(err)
	}
	prefix := roomID + "\x00" + sessionID + "\x00"
	for _, kv := range kvs {
		if !strings.HasPrefix(kv.Key, prefix) {
			continue
		}
		res.Retry = append(res.Retry, RetryEvent{RoomID: roomID, SessionID: sessionID, EventID: kv.Key[len(prefix):]})
		if err := storeErr(t.tx.Delete(NSFailures, kv.Key)); err != nil {
			return err
		}
		t.m.c.failures = -1
	}
	return nil
}

// verification routes a to-device verification event.
func (t *txn) verification(ev *ToDeviceEvent, senderDevice string, res *SyncResult) error {
	room, refusal, err := t.routeVerification(sas.Event{Type: ev.Type, Content: ev.Content, Sender: ev.Sender, SenderDevice: senderDevice})
	if err != nil {
		return err
	}
	res.VerificationRoomEvents = append(res.VerificationRoomEvents, room...)
	return refusal
}
