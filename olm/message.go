package olm

import (
	"encoding/base64"
	"fmt"
	"math"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/wire"
)

// MaxMessageSize is the longest Olm message accepted, in bytes, checked
// before any other work. The Matrix specification limits a whole event to
// 65536 bytes.
const MaxMessageSize = 64 << 10

// MessageType is the type of an Olm message as it travels in the "type"
// field of an m.room.encrypted event.
type MessageType int

// Message types.
const (
	MessageTypePreKey MessageType = 0 // a PreKeyMessage
	MessageTypeNormal MessageType = 1 // a NormalMessage
)

// Message is an Olm message: a *PreKeyMessage or a *NormalMessage.
type Message interface {
	// Type returns MessageTypePreKey or MessageTypeNormal.
	Type() MessageType
	// Bytes returns the encoded message: the body of an m.room.encrypted
	// event before base64.
	Bytes() []byte
	// Body returns the message as the "body" of an m.room.encrypted event
	// carries it: unpadded base64 of Bytes. Its "type" is Type.
	Body() string
}

// ParseMessageBody decodes a message as an m.room.encrypted event carries
// it: "type" 0 (pre-key) or 1 (normal) and "body", the message in base64
// (unpadded as Matrix writes it, or padded). Errors wrap
// ErrBadMessageFormat, ErrBadMessageVersion or ErrMessageTooLarge.
func ParseMessageBody(t MessageType, body string) (Message, error) {
	if len(body) > base64.StdEncoding.EncodedLen(MaxMessageSize) {
		return nil, fmt.Errorf("olm: message body of %d characters: %w", len(body), ErrMessageTooLarge)
	}
	raw, err := decodePublic(body)
	if err != nil {
		return nil, fmt.Errorf("olm: message body: %w: %v", ErrBadMessageFormat, err)
	}
	return ParseMessage(t, raw)
}

// ParseMessage decodes an Olm message of the given type from its bytes
// (Message.Bytes). For the base64 "body" of an m.room.encrypted event, use
// ParseMessageBody.
func ParseMessage(t MessageType, body []byte) (Message, error) {
	switch t {
	case MessageTypePreKey:
		return ParsePreKeyMessage(body)
	case MessageTypeNormal:
		return ParseNormalMessage(body)
	default:
		return nil, fmt.Errorf("olm: message type %d: %w", t, ErrBadMessageFormat)
	}
}

// base64Hint returns a note for an error when b looks like base64 text
// rather than message bytes: the mistake of passing an event's "body" to
// ParseMessage, which otherwise reads as "version 65" ('A').
func base64Hint(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return ""
		}
	}
	return " (this looks like base64 text: decode an event's body with ParseMessageBody)"
}

// Message version bytes.
const (
	versionTruncatedMAC = 3 // version 1 sessions: 8-byte MAC, libolm's format
	versionFullMAC      = 4 // version 2 sessions: 32-byte MAC
)

// Field numbers of the wire format.
const (
	fieldRatchetKey  = 1
	fieldIndex       = 2
	fieldCiphertext  = 4
	fieldOneTimeKey  = 1
	fieldBaseKey     = 2
	fieldIdentityKey = 3
	fieldMessage     = 4
)

// NormalMessage is an Olm message on an established session. Its layout:
//
//	version (1 byte: 3, or 4 for version 2 sessions)
//	0x0A len ratchet key (32 bytes)
//	0x10 varint message index (chain index)
//	0x22 len ciphertext (AES-256-CBC)
//	MAC (8 bytes, or 32 for version 2) over all the bytes before it
type NormalMessage struct {
	version    byte
	ratchetKey Curve25519PublicKey
	index      uint32
	ciphertext []byte // aliases raw
	raw        []byte // the whole message, MAC included
}

// ParseNormalMessage decodes a normal message. Fields may come in any order
// and unknown fields are skipped, as in libolm (a known field number written
// with a multi-byte tag is unknown to libolm, and so here); the ratchet key,
// index and ciphertext must all be present, and the MAC must have the length
// that the version byte implies. Unlike libolm, which stops reading at a
// field of wire type 1 or 5, this decoder refuses such a message; libolm
// never writes one. The MAC is not checked here.
func ParseNormalMessage(b []byte) (*NormalMessage, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("olm: message of %d bytes: %w", len(b), ErrMessageTooLarge)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("olm: empty message: %w", ErrBadMessageFormat)
	}
	m := &NormalMessage{version: b[0]}
	var macLen int
	switch m.version {
	case versionTruncatedMAC:
		macLen = cipher.TruncatedMACSize
	case versionFullMAC:
		macLen = cipher.FullMACSize
	default:
		return nil, fmt.Errorf("olm: message version %d%s: %w", m.version, base64Hint(b), ErrBadMessageVersion)
	}
	if len(b) < 1+macLen {
		return nil, fmt.Errorf("olm: message of %d bytes: %w", len(b), ErrBadMessageFormat)
	}
	var haveKey, haveIndex, haveCiphertext bool
	rest := b[1 : len(b)-macLen]
	for len(rest) > 0 {
		f, next, err := wire.Next(rest)
		if err != nil {
			return nil, fmt.Errorf("olm: message: %w: %v", ErrBadMessageFormat, err)
		}
		rest = next
		if f.TagLen != 1 {
			continue // an unknown field to libolm, which matches one-byte tags
		}
		switch {
		case f.Number == fieldRatchetKey && f.Type == wire.TypeBytes:
			if len(f.Bytes) != Curve25519KeySize {
				return nil, fmt.Errorf("olm: message ratchet key of %d bytes: %w", len(f.Bytes), ErrBadMessageFormat)
			}
			copy(m.ratchetKey[:], f.Bytes)
			haveKey = true
		case f.Number == fieldIndex && f.Type == wire.TypeVarint:
			if f.Varint > math.MaxUint32 {
				return nil, fmt.Errorf("olm: message index %d: %w", f.Varint, ErrBadMessageFormat)
			}
			m.index = uint32(f.Varint)
			haveIndex = true
		case f.Number == fieldCiphertext && f.Type == wire.TypeBytes:
			m.ciphertext = f.Bytes
			haveCiphertext = true
		}
	}
	if !haveKey || !haveIndex || !haveCiphertext {
		return nil, fmt.Errorf("olm: message lacks a field: %w", ErrBadMessageFormat)
	}
	m.raw = b
	return m, nil
}

// Type returns MessageTypeNormal.
func (m *NormalMessage) Type() MessageType { return MessageTypeNormal }

// Bytes returns the encoded message. It aliases the message's storage:
// do not modify it.
func (m *NormalMessage) Bytes() []byte {
	if m == nil {
		return nil
	}
	return m.raw
}

// Body returns the message in unpadded base64, the "body" of an
// m.room.encrypted event.
func (m *NormalMessage) Body() string { return base64.RawStdEncoding.EncodeToString(m.Bytes()) }

// Version returns the version byte: 3 for version 1 sessions, 4 for
// version 2.
func (m *NormalMessage) Version() byte {
	if m == nil {
		return 0
	}
	return m.version
}

// RatchetKey returns the sender's current ratchet key.
func (m *NormalMessage) RatchetKey() Curve25519PublicKey {
	if m == nil {
		return Curve25519PublicKey{}
	}
	return m.ratchetKey
}

// Index returns the message's index in its chain.
func (m *NormalMessage) Index() uint32 {
	if m == nil {
		return 0
	}
	return m.index
}

// Ciphertext returns the encrypted payload. It aliases the message.
func (m *NormalMessage) Ciphertext() []byte {
	if m == nil {
		return nil
	}
	return m.ciphertext
}

func (m *NormalMessage) macLen() int {
	if m.version == versionFullMAC {
		return cipher.FullMACSize
	}
	return cipher.TruncatedMACSize
}

// authenticated returns the bytes the MAC covers, and the MAC.
func (m *NormalMessage) authenticated() (data, mac []byte) {
	n := len(m.raw) - m.macLen()
	return m.raw[:n], m.raw[n:]
}

// encryptNormal builds a message with its ciphertext and MAC. keys are the
// expanded message key.
func encryptNormal(version byte, ratchetKey Curve25519PublicKey, index uint32, keys *cipher.Keys, plaintext []byte) *NormalMessage {
	macLen := cipher.TruncatedMACSize
	if version == versionFullMAC {
		macLen = cipher.FullMACSize
	}
	ctLen := cipher.CiphertextLen(len(plaintext))
	size := 1 + wire.BytesFieldLen(Curve25519KeySize) + 1 + wire.VarintLen(uint64(index)) + wire.BytesFieldLen(ctLen) + macLen
	b := make([]byte, 0, size)
	b = append(b, version)
	b = wire.AppendBytesField(b, fieldRatchetKey, ratchetKey[:])
	b = wire.AppendVarintField(b, fieldIndex, uint64(index))
	b = append(b, fieldCiphertext<<3|wire.TypeBytes)
	b = wire.AppendVarint(b, uint64(ctLen))
	ctStart := len(b)
	b = keys.Encrypt(b, plaintext)
	mac := keys.MAC(b)
	b = append(b, mac[:macLen]...)
	return &NormalMessage{
		version:    version,
		ratchetKey: ratchetKey,
		index:      index,
		ciphertext: b[ctStart : ctStart+ctLen],
		raw:        b,
	}
}

// PreKeyMessage is the message that opens a session: it names the keys the
// session was created from and carries the first normal message. Clients
// send pre-key messages until the session has received a reply. Its layout:
//
//	version (1 byte: 3)
//	0x0A len one-time key of the receiver (32 bytes)
//	0x12 len base key of the sender (32 bytes)
//	0x1A len identity key of the sender (32 bytes)
//	0x22 len a NormalMessage
//
// The pre-key message has no MAC of its own; the normal message inside has.
type PreKeyMessage struct {
	oneTimeKey  Curve25519PublicKey
	baseKey     Curve25519PublicKey
	identityKey Curve25519PublicKey
	message     *NormalMessage
	raw         []byte
}

// ParsePreKeyMessage decodes a pre-key message and the normal message inside
// it. The version must be 3 (libolm does not check it; the libolm encoder
// always writes 3).
func ParsePreKeyMessage(b []byte) (*PreKeyMessage, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("olm: pre-key message of %d bytes: %w", len(b), ErrMessageTooLarge)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("olm: empty pre-key message: %w", ErrBadMessageFormat)
	}
	if b[0] != versionTruncatedMAC {
		return nil, fmt.Errorf("olm: pre-key message version %d%s: %w", b[0], base64Hint(b), ErrBadMessageVersion)
	}
	m := &PreKeyMessage{}
	var have [5]bool
	rest := b[1:]
	for len(rest) > 0 {
		f, next, err := wire.Next(rest)
		if err != nil {
			return nil, fmt.Errorf("olm: pre-key message: %w: %v", ErrBadMessageFormat, err)
		}
		rest = next
		if f.Type != wire.TypeBytes || f.Number > fieldMessage || f.TagLen != 1 {
			continue // unknown to libolm, which matches one-byte tags
		}
		var dst *Curve25519PublicKey
		switch f.Number {
		case fieldOneTimeKey:
			dst = &m.oneTimeKey
		case fieldBaseKey:
			dst = &m.baseKey
		case fieldIdentityKey:
			dst = &m.identityKey
		case fieldMessage:
			inner, err := ParseNormalMessage(f.Bytes)
			if err != nil {
				return nil, wrapOp("pre-key message", err)
			}
			m.message = inner
			have[fieldMessage] = true
			continue
		}
		if len(f.Bytes) != Curve25519KeySize {
			return nil, fmt.Errorf("olm: pre-key message key of %d bytes: %w", len(f.Bytes), ErrBadMessageFormat)
		}
		copy(dst[:], f.Bytes)
		have[f.Number] = true
	}
	if !have[fieldOneTimeKey] || !have[fieldBaseKey] || !have[fieldIdentityKey] || !have[fieldMessage] {
		return nil, fmt.Errorf("olm: pre-key message lacks a field: %w", ErrBadMessageFormat)
	}
	m.raw = b
	return m, nil
}

func newPreKeyMessage(oneTimeKey, baseKey, identityKey Curve25519PublicKey, inner *NormalMessage) *PreKeyMessage {
	size := 1 + 3*wire.BytesFieldLen(Curve25519KeySize) + wire.BytesFieldLen(len(inner.raw))
	b := make([]byte, 0, size)
	b = append(b, versionTruncatedMAC)
	b = wire.AppendBytesField(b, fieldOneTimeKey, oneTimeKey[:])
	b = wire.AppendBytesField(b, fieldBaseKey, baseKey[:])
	b = wire.AppendBytesField(b, fieldIdentityKey, identityKey[:])
	b = wire.AppendBytesField(b, fieldMessage, inner.raw)
	return &PreKeyMessage{oneTimeKey: oneTimeKey, baseKey: baseKey, identityKey: identityKey, message: inner, raw: b}
}

// Type returns MessageTypePreKey.
func (m *PreKeyMessage) Type() MessageType { return MessageTypePreKey }

// Bytes returns the encoded message. It aliases the message's storage:
// do not modify it.
func (m *PreKeyMessage) Bytes() []byte {
	if m == nil {
		return nil
	}
	return m.raw
}

// Body returns the message in unpadded base64, the "body" of an
// m.room.encrypted event.
func (m *PreKeyMessage) Body() string { return base64.RawStdEncoding.EncodeToString(m.Bytes()) }

// OneTimeKey returns the receiver's one-time (or fallback) key the session
// was created with.
func (m *PreKeyMessage) OneTimeKey() Curve25519PublicKey {
	if m == nil {
		return Curve25519PublicKey{}
	}
	return m.oneTimeKey
}

// BaseKey returns the sender's ephemeral base key.
func (m *PreKeyMessage) BaseKey() Curve25519PublicKey {
	if m == nil {
		return Curve25519PublicKey{}
	}
	return m.baseKey
}

// IdentityKey returns the sender's Curve25519 identity key.
func (m *PreKeyMessage) IdentityKey() Curve25519PublicKey {
	if m == nil {
		return Curve25519PublicKey{}
	}
	return m.identityKey
}

// Message returns the normal message inside.
func (m *PreKeyMessage) Message() *NormalMessage {
	if m == nil {
		return nil
	}
	return m.message
}

// SessionID returns the ID of the session this message belongs to, the same
// as Session.SessionID on both ends.
func (m *PreKeyMessage) SessionID() string {
	if m == nil {
		return ""
	}
	return sessionID(m.identityKey, m.baseKey, m.oneTimeKey)
}
