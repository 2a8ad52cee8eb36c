package megolm

import (
	"encoding/binary"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
)

// Session key formats.
const (
	sessionKeyVersion  = 2
	exportVersion      = 1
	exportedKeySize    = 1 + 4 + RatchetSize + ed25519.PublicKeySize // 165
	sessionKeySize     = exportedKeySize + ed25519.SignatureSize     // 229
	maxSessionKeyText  = 4 * (sessionKeySize + 2) / 3
	maxExportedKeyText = 4 * (exportedKeySize + 2) / 3
)

// SessionKey is the form in which an outbound session is shared in an
// m.room_key event: version 2 ‖ message index (4 bytes, big-endian) ‖
// ratchet R0‖R1‖R2‖R3 (128) ‖ Ed25519 public signing key (32) ‖ signature
// by that key over the 165 bytes before it (64). It is secret: whoever holds
// it reads the room from its index on.
//
// The zero SessionKey is not a key: use ParseSessionKey, NewSessionKey or
// GroupSession.SessionKey. Close wipes it.
type SessionKey struct {
	raw   [sessionKeySize]byte
	state keyState
}

// keyState tells a key made by this package from a zero or closed one.
type keyState uint8

const (
	keyZero keyState = iota // the zero value: not a key
	keyValid
	keyClosed
)

// keyErr returns the error for using a key in state st, or nil if it is
// valid: ErrNil for a nil or zero key, ErrClosed after Close. Both also wrap
// ErrBadSessionKey.
func keyErr(op string, isNil bool, st keyState) error {
	switch {
	case isNil || st == keyZero:
		return fmt.Errorf("megolm: %s: %w: %w", op, ErrNil, ErrBadSessionKey)
	case st == keyClosed:
		return fmt.Errorf("megolm: %s: %w: %w", op, ErrClosed, ErrBadSessionKey)
	}
	return nil
}

func (k *SessionKey) usable(op string) error {
	if k == nil {
		return keyErr(op, true, keyZero)
	}
	return keyErr(op, false, k.state)
}

// Close wipes the key. It is idempotent and always returns nil; afterwards
// the key encodes as "" and creates no session (ErrClosed). Close must not
// run at the same time as another method of the key.
func (k *SessionKey) Close() error {
	if k == nil || k.state == keyZero {
		return nil
	}
	wipe.Bytes(k.raw[:])
	k.state = keyClosed
	return nil
}

// ParseSessionKey decodes a session key from base64 (unpadded or padded)
// and checks its signature. Errors wrap ErrBadSessionKey or ErrBadSignature.
func ParseSessionKey(s string) (*SessionKey, error) {
	if len(s) > maxSessionKeyText+2 {
		return nil, fmt.Errorf("megolm: session key: %w: too long", ErrBadSessionKey)
	}
	b, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("megolm: session key: %w: %v", ErrBadSessionKey, err)
	}
	defer clear(b)
	return NewSessionKey(b)
}

// NewSessionKey checks and copies a session key in binary form.
func NewSessionKey(b []byte) (*SessionKey, error) {
	if len(b) != sessionKeySize {
		return nil, fmt.Errorf("megolm: session key of %d bytes: %w", len(b), ErrBadSessionKey)
	}
	if b[0] != sessionKeyVersion {
		return nil, fmt.Errorf("megolm: session key version %d: %w", b[0], ErrBadSessionKey)
	}
	pub := b[exportedKeySize-ed25519.PublicKeySize : exportedKeySize]
	if err := ed25519.Verify(pub, b[:exportedKeySize], b[exportedKeySize:]); err != nil {
		return nil, fmt.Errorf("megolm: session key: %w", ErrBadSignature)
	}
	k := &SessionKey{state: keyValid}
	copy(k.raw[:], b)
	return k, nil
}

// Encode returns the key in unpadded base64, as m.room_key carries it; ""
// for a nil, zero or closed key.
func (k *SessionKey) Encode() string {
	if k.usable("") != nil {
		return ""
	}
	return b64.Encode(k.raw[:])
}

// Bytes returns a copy of the 229 key bytes; nil for a nil, zero or closed
// key.
func (k *SessionKey) Bytes() []byte {
	if k.usable("") != nil {
		return nil
	}
	return append([]byte(nil), k.raw[:]...)
}

// Index returns the message index the key starts at (0 for a nil, zero or
// closed key).
func (k *SessionKey) Index() uint32 {
	if k.usable("") != nil {
		return 0
	}
	return binary.BigEndian.Uint32(k.raw[1:5])
}

// SessionID returns the ID of the session: its signing key in unpadded
// base64 ("" for a nil, zero or closed key).
func (k *SessionKey) SessionID() string {
	if k.usable("") != nil {
		return ""
	}
	return sessionID(k.raw[exportedKeySize-ed25519.PublicKeySize : exportedKeySize])
}

// Format prints the session ID and index, never the key.
func (k SessionKey) Format(f fmt.State, verb rune) {
	if k.state != keyValid {
		fmt.Fprint(f, "megolm.SessionKey{}")
		return
	}
	fmt.Fprintf(f, "megolm.SessionKey{SessionID: %s, Index: %d}", k.SessionID(), k.Index())
}

// ExportedSessionKey is the unsigned form of a session at some index, as
// m.forwarded_room_key events, key backups and key export files carry it:
// version 1 ‖ message index (4, big-endian) ‖ ratchet (128) ‖ Ed25519
// public signing key (32). It is secret.
//
// The zero ExportedSessionKey is not a key: use ParseExportedSessionKey,
// NewExportedSessionKey or InboundGroupSession.ExportAt. Close wipes it.
type ExportedSessionKey struct {
	raw   [exportedKeySize]byte
	state keyState
}

func (k *ExportedSessionKey) usable(op string) error {
	if k == nil {
		return keyErr(op, true, keyZero)
	}
	return keyErr(op, false, k.state)
}

// Close wipes the key. It is idempotent and always returns nil; afterwards
// the key encodes as "" and imports as no session (ErrClosed). Close must
// not run at the same time as another method of the key.
func (k *ExportedSessionKey) Close() error {
	if k == nil || k.state == keyZero {
		return nil
	}
	wipe.Bytes(k.raw[:])
	k.state = keyClosed
	return nil
}

// ParseExportedSessionKey decodes an exported session key from base64
// (unpadded or padded). Errors wrap ErrBadSessionKey.
func ParseExportedSessionKey(s string) (*ExportedSessionKey, error) {
	if len(s) > maxExportedKeyText+2 {
		return nil, fmt.Errorf("megolm: exported session key: %w: too long", ErrBadSessionKey)
	}
	b, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("megolm: exported session key: %w: %v", ErrBadSessionKey, err)
	}
	defer clear(b)
	return NewExportedSessionKey(b)
}

// NewExportedSessionKey checks and copies an exported session key in binary
// form.
func NewExportedSessionKey(b []byte) (*ExportedSessionKey, error) {
	if len(b) != exportedKeySize {
		return nil, fmt.Errorf("megolm: exported session key of %d bytes: %w", len(b), ErrBadSessionKey)
	}
	if b[0] != exportVersion {
		return nil, fmt.Errorf("megolm: exported session key version %d: %w", b[0], ErrBadSessionKey)
	}
	k := &ExportedSessionKey{state: keyValid}
	copy(k.raw[:], b)
	return k, nil
}

// Encode returns the key in unpadded base64; "" for a nil, zero or closed
// key.
func (k *ExportedSessionKey) Encode() string {
	if k.usable("") != nil {
		return ""
	}
	return b64.Encode(k.raw[:])
}

// Bytes returns a copy of the 165 key bytes; nil for a nil, zero or closed
// key.
func (k *ExportedSessionKey) Bytes() []byte {
	if k.usable("") != nil {
		return nil
	}
	return append([]byte(nil), k.raw[:]...)
}

// Index returns the message index the key starts at (0 for a nil, zero or
// closed key).
func (k *ExportedSessionKey) Index() uint32 {
	if k.usable("") != nil {
		return 0
	}
	return binary.BigEndian.Uint32(k.raw[1:5])
}

// SessionID returns the ID of the session: its signing key in unpadded
// base64 ("" for a nil, zero or closed key).
func (k *ExportedSessionKey) SessionID() string {
	if k.usable("") != nil {
		return ""
	}
	return sessionID(k.raw[exportedKeySize-ed25519.PublicKeySize:])
}

// Format prints the session ID and index, never the key.
func (k ExportedSessionKey) Format(f fmt.State, verb rune) {
	if k.state != keyValid {
		fmt.Fprint(f, "megolm.ExportedSessionKey{}")
		return
	}
	fmt.Fprintf(f, "megolm.ExportedSessionKey{SessionID: %s, Index: %d}", k.SessionID(), k.Index())
}

// Ed25519PublicKey is the Ed25519 public key that signs a session's
// messages; its unpadded base64 is the session ID. It has the layout of
// olm.Ed25519PublicKey, which this package cannot name (olm is built on top
// of it): convert with olm.Ed25519PublicKey(k).
type Ed25519PublicKey [ed25519.PublicKeySize]byte

// String returns the key in unpadded base64, the session ID.
func (k Ed25519PublicKey) String() string { return sessionID(k[:]) }

// Bytes returns a copy of the 32 key bytes.
func (k Ed25519PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// encodeKey writes version ‖ index ‖ ratchet ‖ public key.
func encodeKey(dst []byte, version byte, r *ratchet, pub [32]byte) {
	dst[0] = version
	binary.BigEndian.PutUint32(dst[1:5], r.counter)
	var rb [RatchetSize]byte
	r.putBytes(&rb)
	copy(dst[5:5+RatchetSize], rb[:])
	clear(rb[:])
	copy(dst[5+RatchetSize:], pub[:])
}

// decodeKey reads the ratchet of either form into r, which the caller
// provides so that no copy of it is left in a stack frame, and returns the
// public key.
func decodeKey(raw []byte, r *ratchet) (pub [32]byte) {
	r.counter = binary.BigEndian.Uint32(raw[1:5])
	r.setBytes(raw[5 : 5+RatchetSize])
	copy(pub[:], raw[5+RatchetSize:exportedKeySize])
	return pub
}
