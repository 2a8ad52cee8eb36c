package dehydrated

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// MaxDeviceDataSize is the longest device_data accepted, in bytes: an
// account with olm.MaxOneTimeKeys keys fits several times over.
const MaxDeviceDataSize = 1 << 20

// MaxEventSize is the longest to-device event accepted, in bytes; the
// homeserver limits a to-device message to 64 KiB of content.
const MaxEventSize = 1 << 16

// MaxSessionsPerSender is the most Olm sessions a Rehydrated keeps with one
// sender identity key; a new one beyond it replaces the oldest. A sending
// device makes a new session with a device only when it lost or gave up
// the old one, and a dehydrated device never answers, so one or two are
// the rule. Without the bound, a homeserver (or anyone) could open a
// session per event on the fallback key, all under one identity key, and
// have every later normal message tried against each of them: a page of
// n events would cost n²/4 decryption attempts.
const MaxSessionsPerSender = 4

// Rehydrated is a dehydrated device opened with its key: its account, and
// the Olm sessions that the events it collected open. It is secret and not
// safe for concurrent use.
type Rehydrated struct {
	account  *olm.Account
	userID   string
	deviceID string
	sessions map[olm.Curve25519PublicKey][]*olm.Session
}

// Rehydrate opens a dehydrated device: deviceData is the device_data
// object from GET Path, deviceID its device_id, userID the owner, and key
// the dehydration key. Both AlgorithmV2 and AlgorithmV1 are read.
//
// Errors wrap ErrWrongKey (the key is wrong or the data was changed),
// ErrUnknownAlgorithm, ErrBadDeviceData, olm.ErrCorruptedPickle or
// olm.ErrUnknownPickleVersion.
func Rehydrate(key *Key, userID, deviceID string, deviceData []byte) (*Rehydrated, error) {
	if key == nil {
		return nil, fmt.Errorf("dehydrated: rehydrate: nil key: %w", ErrKeySize)
	}
	if userID == "" || deviceID == "" {
		return nil, fmt.Errorf("dehydrated: rehydrate: empty user or device ID: %w", ErrBadDeviceData)
	}
	data, err := ParseDeviceData(deviceData)
	if err != nil {
		return nil, err
	}
	var account *olm.Account
	switch data.Algorithm {
	case AlgorithmV2:
		account, err = olm.RehydrateAccount(data.DevicePickle, data.Nonce, &key.b)
	case AlgorithmV1:
		var legacy []byte
		legacy, err = legacyKey(key, deviceID)
		if err == nil {
			account, err = olm.UnpickleLibolmAccount(data.DevicePickle, legacy)
			clear(legacy)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dehydrated: rehydrate: %w", err)
	}
	return &Rehydrated{
		account:  account,
		userID:   userID,
		deviceID: deviceID,
		sessions: make(map[olm.Curve25519PublicKey][]*olm.Session),
	}, nil
}

// ParseDeviceData decodes a device_data object and checks that it has the
// fields its algorithm needs. Errors wrap ErrBadDeviceData or
// ErrUnknownAlgorithm.
func ParseDeviceData(b []byte) (*DeviceData, error) {
	if len(b) > MaxDeviceDataSize {
		return nil, fmt.Errorf("dehydrated: device data of %d bytes: %w", len(b), ErrBadDeviceData)
	}
	var d DeviceData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("dehydrated: device data: %w: %v", ErrBadDeviceData, err)
	}
	switch d.Algorithm {
	case AlgorithmV2:
		if d.DevicePickle == "" || d.Nonce == "" {
			return nil, fmt.Errorf("dehydrated: device data: missing device_pickle or nonce: %w", ErrBadDeviceData)
		}
	case AlgorithmV1:
		if d.DevicePickle == "" {
			return nil, fmt.Errorf("dehydrated: device data: missing device_pickle: %w", ErrBadDeviceData)
		}
	default:
		return nil, fmt.Errorf("dehydrated: device data: algorithm %q: %w", d.Algorithm, ErrUnknownAlgorithm)
	}
	return &d, nil
}

// DeviceID returns the device's ID.
func (r *Rehydrated) DeviceID() string { return r.deviceID }

// Account returns the device's Olm account.
func (r *Rehydrated) Account() *olm.Account { return r.account }

// Close wipes the device's account and the Olm sessions its events opened,
// which would decrypt what their senders send it next. It is idempotent;
// the Rehydrated is unusable afterwards.
func (r *Rehydrated) Close() {
	for k, ss := range r.sessions {
		for _, s := range ss {
			s.Close()
		}
		clear(ss)
		delete(r.sessions, k)
	}
	r.account.Close()
}

// RoomKey is a Megolm session that was sent to the dehydrated device, with
// where it came from. SenderKey is authenticated by the Olm session that
// carried it; SenderEd25519 is what the sender claimed in the encrypted
// payload, to be checked against the sender's device keys before the room
// key is trusted as coming from that device.
type RoomKey struct {
	// Index is the position of its event in the slice given to
	// ReceiveEvents.
	Index int
	// Sender is the user ID of the to-device event's sender.
	Sender string
	// SenderKey is the Curve25519 identity key of the sending device.
	SenderKey olm.Curve25519PublicKey
	// SenderEd25519 is the Ed25519 key the sending device claimed.
	SenderEd25519 olm.Ed25519PublicKey
	// Algorithm is the room key's algorithm (m.megolm.v1.aes-sha2).
	Algorithm string
	// RoomID and SessionID name the Megolm session.
	RoomID    string
	SessionID string
	// Session is the inbound Megolm session.
	Session *megolm.InboundGroupSession
	// SharedHistory is the room key's shared_history flag (MSC3061): the
	// sender allows it to be shared with users invited later.
	SharedHistory bool
}

// EventError is the reason one of the events given to ReceiveEvents was not
// used.
type EventError struct {
	// Index is the event's position in the slice given to ReceiveEvents.
	Index int
	// Err wraps ErrBadEvent, ErrNotForDevice, ErrNoSession,
	// ErrSessionIDMismatch, olm.ErrPayloadMismatch or an error of the olm
	// or megolm package.
	Err error
}

// Error returns the event's index and the reason.
func (e EventError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }

// Unwrap returns Err, so that errors.Is finds its sentinel.
func (e EventError) Unwrap() error { return e.Err }

// Received is what ReceiveEvents found in a batch of to-device events.
type Received struct {
	// RoomKeys are the room keys, in the order of their events.
	RoomKeys []RoomKey
	// Failed lists the events that could not be used.
	Failed []EventError
	// Ignored counts events that decrypted but were not room keys (or
	// were not encrypted, as m.room_key.withheld is not).
	Ignored int
}

// toDeviceEvent is a to-device event as the events endpoint returns it.
type toDeviceEvent struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

type olmContent struct {
	Algorithm  string `json:"algorithm"`
	SenderKey  string `json:"sender_key"`
	Ciphertext map[string]struct {
		Type *int   `json:"type"`
		Body string `json:"body"`
	} `json:"ciphertext"`
}

type roomKeyContent struct {
	Algorithm     string `json:"algorithm"`
	RoomID        string `json:"room_id"`
	SessionID     string `json:"session_id"`
	SessionKey    string `json:"session_key"`
	SharedHistory bool   `json:"shared_history"`
}

// ReceiveEvents decrypts the to-device events the device collected (the
// "events" array of POST Path/{deviceID}/events, one JSON object each) and
// returns the room keys they carry. Each event is handled on its own: one
// that cannot be used is listed in Failed and does not stop the others.
// Pre-key messages open Olm sessions, which later events of the same
// sender may use (the MaxSessionsPerSender newest of each sender key). An event that does not decrypt changes nothing; one that
// decrypts but whose payload is then refused opens no session and spends no
// one-time key (though an existing session it decrypted under has moved past
// that message key).
//
// Each decrypted payload is checked against its envelope (sender,
// recipient, the device's Ed25519 key) as olm.ParsePayload does, and each
// room key's session_id against its session_key.
func (r *Rehydrated) ReceiveEvents(events []json.RawMessage) *Received {
	out := &Received{}
	for i, raw := range events {
		key, ok, err := r.receive(raw)
		switch {
		case err != nil:
			out.Failed = append(out.Failed, EventError{Index: i, Err: err})
		case ok:
			key.Index = i
			out.RoomKeys = append(out.RoomKeys, *key)
		default:
			out.Ignored++
		}
	}
	return out
}

// receive handles one event: a room key, or ok false for an event that is
// not one.
func (r *Rehydrated) receive(raw []byte) (*RoomKey, bool, error) {
	if len(raw) > MaxEventSize {
		return nil, false, fmt.Errorf("dehydrated: event of %d bytes: %w", len(raw), ErrBadEvent)
	}
	var ev toDeviceEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, false, fmt.Errorf("dehydrated: event: %w: %v", ErrBadEvent, err)
	}
	if ev.Type != "m.room.encrypted" {
		return nil, false, nil
	}
	if ev.Sender == "" {
		return nil, false, fmt.Errorf("dehydrated: event: no sender: %w", ErrBadEvent)
	}
	var c olmContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return nil, false, fmt.Errorf("dehydrated: event content: %w: %v", ErrBadEvent, err)
	}
	if c.Algorithm != olm.AlgorithmOlm {
		return nil, false, fmt.Errorf("dehydrated: event algorithm %q: %w", c.Algorithm, ErrBadEvent)
	}
	senderKey, err := olm.ParseCurve25519PublicKey(c.SenderKey)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: event sender_key: %w: %v", ErrBadEvent, err)
	}
	mine, ok := c.Ciphertext[r.account.Curve25519Key().String()]
	if !ok {
		return nil, false, fmt.Errorf("dehydrated: event: %w", ErrNotForDevice)
	}
	if mine.Type == nil {
		return nil, false, fmt.Errorf("dehydrated: event: no message type: %w", ErrBadEvent)
	}
	body, err := b64.Decode(mine.Body)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: event body: %w: %v", ErrBadEvent, err)
	}
	m, err := olm.ParseMessage(olm.MessageType(*mine.Type), body)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: event: %w", err)
	}
	plaintext, commit, err := r.decrypt(senderKey, m)
	if err != nil {
		return nil, false, err
	}
	payload, err := olm.ParsePayload(plaintext, olm.PayloadCheck{
		Sender:           ev.Sender,
		SenderKey:        senderKey,
		Recipient:        r.userID,
		RecipientEd25519: r.account.Ed25519Key(),
	})
	clear(plaintext)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: event: %w", err)
	}
	// The message is authentic and meant for this device: keep the
	// session it opened, whatever its content.
	commit()
	if payload.Type != "m.room_key" {
		return nil, false, nil
	}
	claimed := payload.Keys.Ed25519
	var rk roomKeyContent
	dec := json.NewDecoder(bytes.NewReader(payload.Content))
	if err := dec.Decode(&rk); err != nil {
		return nil, false, fmt.Errorf("dehydrated: room key: %w: %v", ErrBadEvent, err)
	}
	if rk.Algorithm != olm.AlgorithmMegolm || rk.RoomID == "" || rk.SessionID == "" {
		return nil, false, fmt.Errorf("dehydrated: room key: algorithm %q, room %q, session %q: %w", rk.Algorithm, rk.RoomID, rk.SessionID, ErrBadEvent)
	}
	sk, err := megolm.ParseSessionKey(rk.SessionKey)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: room key: %w", err)
	}
	session, err := megolm.NewInboundGroupSession(sk)
	if err != nil {
		return nil, false, fmt.Errorf("dehydrated: room key: %w", err)
	}
	if session.SessionID() != rk.SessionID {
		return nil, false, fmt.Errorf("dehydrated: room key: %w", ErrSessionIDMismatch)
	}
	return &RoomKey{
		Sender:        ev.Sender,
		SenderKey:     senderKey,
		SenderEd25519: claimed,
		Algorithm:     rk.Algorithm,
		RoomID:        rk.RoomID,
		SessionID:     rk.SessionID,
		Session:       session,
		SharedHistory: rk.SharedHistory,
	}, true, nil
}

// decrypt decrypts an Olm message from senderKey with an existing session
// or, for a pre-key message no session matches, a new inbound one. commit
// keeps a new session and removes its one-time key; without it the sessions
// and the account's keys are as before.
func (r *Rehydrated) decrypt(senderKey olm.Curve25519PublicKey, m olm.Message) ([]byte, func(), error) {
	nothing := func() {}
	sessions := r.sessions[senderKey]
	if pre, ok := m.(*olm.PreKeyMessage); ok {
		for _, s := range sessions {
			if s.Matches(pre) {
				p, err := s.Decrypt(pre)
				if err != nil {
					return nil, nil, fmt.Errorf("dehydrated: event: %w", err)
				}
				return p, nothing, nil
			}
		}
		// The one-time key is removed only once the payload has passed its
		// checks, so that a refused event leaves the account as it was.
		s, p, err := r.account.NewInboundSessionKeepKey(senderKey, pre)
		if err != nil {
			return nil, nil, fmt.Errorf("dehydrated: event: %w", err)
		}
		return p, func() {
			// Newest first, at most MaxSessionsPerSender: the oldest
			// is wiped.
			ss := append([]*olm.Session{s}, r.sessions[senderKey]...)
			if len(ss) > MaxSessionsPerSender {
				for _, old := range ss[MaxSessionsPerSender:] {
					old.Close()
				}
				clear(ss[MaxSessionsPerSender:])
				ss = ss[:MaxSessionsPerSender]
			}
			r.sessions[senderKey] = ss
			r.account.RemoveOneTimeKeys(s) // a fallback key stays
		}, nil
	}
	for _, s := range sessions {
		if p, err := s.Decrypt(m); err == nil {
			return p, nothing, nil
		}
	}
	return nil, nil, fmt.Errorf("dehydrated: event: %w", ErrNoSession)
}

// Format prints the device's IDs and public identity keys, never its
// secrets, whatever the verb.
func (r Rehydrated) Format(f fmt.State, verb rune) {
	if r.account == nil {
		fmt.Fprint(f, "dehydrated.Rehydrated{}")
		return
	}
	fmt.Fprintf(f, "dehydrated.Rehydrated{%s %s, Curve25519: %s, Ed25519: %s, %d Olm sessions}",
		r.userID, r.deviceID, r.account.Curve25519Key(), r.account.Ed25519Key(), len(r.sessions))
}

// LogValue describes the device for log/slog as Format does.
func (r Rehydrated) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(r)) }
