package megolm

import (
	"fmt"
	"math"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wire"
)

// MaxMessageSize is the longest Megolm message accepted, in bytes, checked
// before any other work. The Matrix specification limits a whole event to
// 65536 bytes.
const MaxMessageSize = 64 << 10

// Message version bytes.
const (
	versionTruncatedMAC = 3 // version 1 sessions: 8-byte MAC, libolm's format
	versionFullMAC      = 4 // version 2 sessions: 32-byte MAC
)

const (
	fieldIndex      = 1
	fieldCiphertext = 2
	signatureSize   = ed25519.SignatureSize
)

// Message is a decoded Megolm message. Its layout:
//
//	version (1 byte: 3, or 4 for version 2 sessions)
//	0x08 varint message index
//	0x12 len ciphertext (AES-256-CBC)
//	MAC (8 bytes, or 32 for version 2) over the bytes before it
//	Ed25519 signature (64 bytes) by the session's signing key over all the
//	bytes before it, MAC included
type Message struct {
	version    byte
	index      uint32
	ciphertext []byte // aliases raw
	raw        []byte
}

// ParseMessage decodes a Megolm message. Fields may come in any order and
// unknown fields are skipped, as in libolm (a known field number written with
// a multi-byte tag is unknown to libolm, and so here). Unlike libolm, which
// stops reading at a field of wire type 1 or 5, this decoder refuses such a
// message; libolm never writes one. Neither the MAC nor the signature is
// checked here.
func ParseMessage(b []byte) (*Message, error) {
	m := &Message{}
	if err := parseMessage(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// parseMessage decodes b into m, which callers keep on the stack.
func parseMessage(b []byte, m *Message) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("megolm: message of %d bytes: %w", len(b), ErrMessageTooLarge)
	}
	if len(b) == 0 {
		return fmt.Errorf("megolm: empty message: %w", ErrBadMessageFormat)
	}
	*m = Message{version: b[0]}
	if m.version != versionTruncatedMAC && m.version != versionFullMAC {
		return fmt.Errorf("megolm: message version %d: %w", m.version, ErrBadMessageVersion)
	}
	suffix := m.macLen() + signatureSize
	if len(b) < 1+suffix {
		return fmt.Errorf("megolm: message of %d bytes: %w", len(b), ErrBadMessageFormat)
	}
	var haveIndex, haveCiphertext bool
	rest := b[1 : len(b)-suffix]
	for len(rest) > 0 {
		f, next, err := wire.Next(rest)
		if err != nil {
			return fmt.Errorf("megolm: message: %w: %v", ErrBadMessageFormat, err)
		}
		rest = next
		if f.TagLen != 1 {
			continue // an unknown field to libolm, which matches one-byte tags
		}
		switch {
		case f.Number == fieldIndex && f.Type == wire.TypeVarint:
			if f.Varint > math.MaxUint32 {
				return fmt.Errorf("megolm: message index %d: %w", f.Varint, ErrBadMessageFormat)
			}
			m.index = uint32(f.Varint)
			haveIndex = true
		case f.Number == fieldCiphertext && f.Type == wire.TypeBytes:
			m.ciphertext = f.Bytes
			haveCiphertext = true
		}
	}
	if !haveIndex || !haveCiphertext {
		return fmt.Errorf("megolm: message lacks a field: %w", ErrBadMessageFormat)
	}
	m.raw = b
	return nil
}

// Bytes returns the encoded message. It aliases the message's storage.
func (m *Message) Bytes() []byte { return m.raw }

// Version returns the version byte: 3, or 4 for version 2 sessions.
func (m *Message) Version() byte { return m.version }

// Index returns the message index.
func (m *Message) Index() uint32 { return m.index }

// Ciphertext returns the encrypted payload. It aliases the message.
func (m *Message) Ciphertext() []byte { return m.ciphertext }

func (m *Message) macLen() int {
	if m.version == versionFullMAC {
		return cipher.FullMACSize
	}
	return cipher.TruncatedMACSize
}

// signed returns the bytes the signature covers, and the signature.
func (m *Message) signed() (data, sig []byte) {
	n := len(m.raw) - signatureSize
	return m.raw[:n], m.raw[n:]
}

// authenticated returns the bytes the MAC covers, and the MAC.
func (m *Message) authenticated() (data, mac []byte) {
	n := len(m.raw) - signatureSize - m.macLen()
	return m.raw[:n], m.raw[n : n+m.macLen()]
}

// messageLen returns the length of the message carrying a plaintext of n
// bytes at index.
func messageLen(config SessionConfig, index uint32, n int) int {
	ctLen := cipher.CiphertextLen(n)
	return 1 + 1 + wire.VarintLen(uint64(index)) + wire.BytesFieldLen(ctLen) + config.macLen() + signatureSize
}

// encryptMessage builds a signed message at the ratchet's index.
func encryptMessage(version byte, r *ratchet, signer *ed25519.PrivateKey, plaintext []byte) []byte {
	macLen := cipher.TruncatedMACSize
	if version == versionFullMAC {
		macLen = cipher.FullMACSize
	}
	ctLen := cipher.CiphertextLen(len(plaintext))
	size := 1 + 1 + wire.VarintLen(uint64(r.counter)) + wire.BytesFieldLen(ctLen) + macLen + signatureSize
	b := make([]byte, 0, size)
	b = append(b, version)
	b = wire.AppendVarintField(b, fieldIndex, uint64(r.counter))
	b = append(b, fieldCiphertext<<3|wire.TypeBytes)
	b = wire.AppendVarint(b, uint64(ctLen))
	keys := r.keys()
	b = keys.Encrypt(b, plaintext)
	mac := keys.MAC(b)
	keys.Clear()
	b = append(b, mac[:macLen]...)
	sig := signer.Sign(b)
	return append(b, sig[:]...)
}
