package olm

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/signedjson"
)

// ErrPayloadMismatch means the plaintext of an Olm message names another
// sender, recipient or key than the ones the message travelled with: it may
// be an unknown-key-share attack, or a homeserver spoofing the sender.
var ErrPayloadMismatch = errors.New("olm payload does not match its envelope")

// ErrUnsignedKey means a claimed one-time or fallback key does not carry a
// valid signature by the device it is supposed to belong to.
var ErrUnsignedKey = errors.New("one-time key not signed by its device")

// VerifySignedKey checks a "signed_curve25519" object from /keys/claim: that
// it is signed by the device's Ed25519 key (deviceKey, from the device keys
// the caller trusts) under userID and "ed25519:<deviceID>", and returns the
// Curve25519 key it carries and whether it is a fallback key. Open an
// outbound session only with a key that passed this check: an unsigned key
// could be the homeserver's. Errors wrap ErrUnsignedKey or ErrBadPublicKey.
func VerifySignedKey(data []byte, userID, deviceID string, deviceKey Ed25519PublicKey) (key Curve25519PublicKey, fallback bool, err error) {
	if err := signedjson.Verify(data, userID, signedjson.KeyID(deviceID), ed25519.PublicKey(deviceKey[:])); err != nil {
		return key, false, fmt.Errorf("olm: signed key: %w: %v", ErrUnsignedKey, err)
	}
	var obj struct {
		Key      string `json:"key"`
		Fallback bool   `json:"fallback"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return key, false, fmt.Errorf("olm: signed key: %w: %v", ErrBadPublicKey, err)
	}
	key, err = ParseCurve25519PublicKey(obj.Key)
	if err != nil {
		return key, false, err
	}
	return key, obj.Fallback, nil
}

// Payload is the plaintext of an Olm-encrypted to-device event. Besides the
// event it names the sender and the recipient with their Ed25519 keys, so
// that a message cannot be passed off as coming from, or meant for, another
// device (the specification's "Validation of incoming decrypted events").
type Payload struct {
	Type      string          `json:"type"`
	Content   json.RawMessage `json:"content"`
	Sender    string          `json:"sender"`
	Recipient string          `json:"recipient"`
	// RecipientKeys.Ed25519 is the recipient device's Ed25519 key.
	RecipientKeys PayloadKeys `json:"recipient_keys"`
	// Keys.Ed25519 is the sending device's Ed25519 key.
	Keys PayloadKeys `json:"keys"`
	// SenderDeviceKeys is the sender's signed device_keys object, which
	// newer clients include (Matrix 1.15); optional.
	SenderDeviceKeys json.RawMessage `json:"sender_device_keys,omitempty"`
}

// PayloadKeys holds the Ed25519 key of a payload's sender or recipient, in
// JSON as an unpadded base64 string.
type PayloadKeys struct {
	Ed25519 Ed25519PublicKey `json:"ed25519"`
}

// payloadWire is a Payload as decoded, with the keys still as text, so that
// a malformed key is reported as a mismatch of that field.
type payloadWire struct {
	Type          string          `json:"type"`
	Content       json.RawMessage `json:"content"`
	Sender        string          `json:"sender"`
	Recipient     string          `json:"recipient"`
	RecipientKeys struct {
		Ed25519 string `json:"ed25519"`
	} `json:"recipient_keys"`
	Keys struct {
		Ed25519 string `json:"ed25519"`
	} `json:"keys"`
	SenderDeviceKeys json.RawMessage `json:"sender_device_keys,omitempty"`
}

// NewPayload returns the plaintext to encrypt for an event of eventType with
// content, sent by account (of user sender) to the device of user recipient
// whose Ed25519 key is recipientKey.
//
// Errors wrap ErrNil (a nil, zero or closed account: ErrClosed then; an
// empty user ID or event type; a zero recipient key) or ErrBadMessageFormat
// (content that is not JSON).
func NewPayload(account *Account, sender, recipient string, recipientKey Ed25519PublicKey, eventType string, content json.RawMessage) ([]byte, error) {
	const op = "new payload"
	st, err := account.lock(op)
	if err != nil {
		return nil, err
	}
	ed := Ed25519PublicKey(st.signing.Public())
	st.mu.Unlock()
	switch {
	case sender == "" || recipient == "" || eventType == "":
		return nil, fmt.Errorf("olm: %s: empty sender, recipient or event type: %w", op, ErrNil)
	case recipientKey == Ed25519PublicKey{}:
		return nil, fmt.Errorf("olm: %s: zero recipient key: %w", op, ErrNil)
	case !json.Valid(content):
		return nil, fmt.Errorf("olm: %s: content is not JSON: %w", op, ErrBadMessageFormat)
	}
	return json.Marshal(Payload{
		Type:          eventType,
		Content:       content,
		Sender:        sender,
		Recipient:     recipient,
		RecipientKeys: PayloadKeys{Ed25519: recipientKey},
		Keys:          PayloadKeys{Ed25519: ed},
	})
}

// PayloadCheck is what the receiver knows about a decrypted Olm message from
// outside its plaintext.
type PayloadCheck struct {
	// Sender is the user ID in the to-device event's envelope.
	Sender string
	// SenderKey is the Curve25519 identity key the Olm session was made
	// with (the event's sender_key).
	SenderKey Curve25519PublicKey
	// SenderEd25519, if not zero, is the Ed25519 key of the sending device
	// as the receiver knows it from /keys/query; the payload must name it.
	// If zero, the payload's claim is returned unchecked unless
	// sender_device_keys proves it, and the caller must check it before
	// trusting the sender.
	SenderEd25519 Ed25519PublicKey
	// Recipient and RecipientEd25519 are the receiving user and device.
	Recipient        string
	RecipientEd25519 Ed25519PublicKey
}

// ParsePayload decodes a decrypted Olm plaintext and checks it against its
// envelope: the sender and recipient user IDs, the recipient's Ed25519 key,
// the sender's Ed25519 key when known, and, when sender_device_keys is
// present, that it belongs to the sender, names both of the device's keys as
// used here, and carries a valid self-signature. Errors wrap
// ErrPayloadMismatch or ErrBadMessageFormat.
func ParsePayload(plaintext []byte, check PayloadCheck) (*Payload, error) {
	var p payloadWire
	dec := json.NewDecoder(bytes.NewReader(plaintext))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("olm: payload: %w: %v", ErrBadMessageFormat, err)
	}
	if p.Type == "" || len(p.Content) == 0 {
		return nil, fmt.Errorf("olm: payload: %w: no type or content", ErrBadMessageFormat)
	}
	mismatch := func(what string) error {
		return fmt.Errorf("olm: payload: %s: %w", what, ErrPayloadMismatch)
	}
	if p.Sender != check.Sender {
		return nil, mismatch("sender")
	}
	if p.Recipient != check.Recipient {
		return nil, mismatch("recipient")
	}
	if p.RecipientKeys.Ed25519 != check.RecipientEd25519.String() {
		return nil, mismatch("recipient_keys.ed25519")
	}
	claimed, err := ParseEd25519PublicKey(p.Keys.Ed25519)
	if err != nil {
		return nil, mismatch("keys.ed25519")
	}
	if check.SenderEd25519 != (Ed25519PublicKey{}) && claimed != check.SenderEd25519 {
		return nil, mismatch("keys.ed25519")
	}
	if len(p.SenderDeviceKeys) > 0 && !bytes.Equal(p.SenderDeviceKeys, []byte("null")) {
		if err := checkSenderDeviceKeys(p.SenderDeviceKeys, check, claimed); err != nil {
			return nil, err
		}
	}
	return &Payload{
		Type:             p.Type,
		Content:          p.Content,
		Sender:           p.Sender,
		Recipient:        p.Recipient,
		RecipientKeys:    PayloadKeys{Ed25519: check.RecipientEd25519},
		Keys:             PayloadKeys{Ed25519: claimed},
		SenderDeviceKeys: p.SenderDeviceKeys,
	}, nil
}

// checkSenderDeviceKeys checks the sender_device_keys of a payload.
func checkSenderDeviceKeys(data []byte, check PayloadCheck, claimed Ed25519PublicKey) error {
	var dk struct {
		UserID   string            `json:"user_id"`
		DeviceID string            `json:"device_id"`
		Keys     map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &dk); err != nil || dk.DeviceID == "" || strings.ContainsAny(dk.DeviceID, ":") {
		return fmt.Errorf("olm: payload: sender_device_keys: %w", ErrPayloadMismatch)
	}
	if dk.UserID != check.Sender {
		return fmt.Errorf("olm: payload: sender_device_keys.user_id: %w", ErrPayloadMismatch)
	}
	if dk.Keys["curve25519:"+dk.DeviceID] != check.SenderKey.String() {
		return fmt.Errorf("olm: payload: sender_device_keys curve25519 key: %w", ErrPayloadMismatch)
	}
	if dk.Keys["ed25519:"+dk.DeviceID] != claimed.String() {
		return fmt.Errorf("olm: payload: sender_device_keys ed25519 key: %w", ErrPayloadMismatch)
	}
	if err := signedjson.Verify(data, dk.UserID, signedjson.KeyID(dk.DeviceID), ed25519.PublicKey(claimed[:])); err != nil {
		return fmt.Errorf("olm: payload: sender_device_keys signature: %w: %v", ErrPayloadMismatch, err)
	}
	return nil
}
