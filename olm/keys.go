package olm

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/x25519"
)

// Key and signature sizes in bytes.
const (
	Curve25519KeySize    = 32
	Ed25519KeySize       = 32
	Ed25519SignatureSize = 64
)

// Curve25519PublicKey is an X25519 public key: an identity key, one-time key,
// fallback key, base key or ratchet key. It is public.
type Curve25519PublicKey [Curve25519KeySize]byte

// NewCurve25519PublicKey returns the key held in b, which must be 32 bytes.
func NewCurve25519PublicKey(b []byte) (Curve25519PublicKey, error) {
	var k Curve25519PublicKey
	if len(b) != Curve25519KeySize {
		return k, fmt.Errorf("olm: curve25519 key of %d bytes: %w", len(b), ErrBadPublicKey)
	}
	copy(k[:], b)
	return k, nil
}

// ParseCurve25519PublicKey decodes a key from base64, unpadded as in Matrix
// or padded.
func ParseCurve25519PublicKey(s string) (Curve25519PublicKey, error) {
	b, err := decodePublic(s)
	if err != nil {
		return Curve25519PublicKey{}, fmt.Errorf("olm: curve25519 key: %w: %v", ErrBadPublicKey, err)
	}
	return NewCurve25519PublicKey(b)
}

// Bytes returns a copy of the 32 key bytes.
func (k Curve25519PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// String returns the key in unpadded base64, as Matrix writes it.
func (k Curve25519PublicKey) String() string { return base64.RawStdEncoding.EncodeToString(k[:]) }

// MarshalText returns the key in unpadded base64, so that the key is a JSON
// string as in Matrix events.
func (k Curve25519PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a key as ParseCurve25519PublicKey does.
func (k *Curve25519PublicKey) UnmarshalText(b []byte) error {
	key, err := ParseCurve25519PublicKey(string(b))
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// Ed25519PublicKey is an Ed25519 public key, such as a device's fingerprint
// key. It is public.
type Ed25519PublicKey [Ed25519KeySize]byte

// NewEd25519PublicKey returns the key held in b, which must be 32 bytes.
func NewEd25519PublicKey(b []byte) (Ed25519PublicKey, error) {
	var k Ed25519PublicKey
	if len(b) != Ed25519KeySize {
		return k, fmt.Errorf("olm: ed25519 key of %d bytes: %w", len(b), ErrBadPublicKey)
	}
	copy(k[:], b)
	return k, nil
}

// ParseEd25519PublicKey decodes a key from base64, unpadded or padded.
func ParseEd25519PublicKey(s string) (Ed25519PublicKey, error) {
	b, err := decodePublic(s)
	if err != nil {
		return Ed25519PublicKey{}, fmt.Errorf("olm: ed25519 key: %w: %v", ErrBadPublicKey, err)
	}
	return NewEd25519PublicKey(b)
}

// Bytes returns a copy of the 32 key bytes.
func (k Ed25519PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// String returns the key in unpadded base64.
func (k Ed25519PublicKey) String() string { return base64.RawStdEncoding.EncodeToString(k[:]) }

// MarshalText returns the key in unpadded base64, so that the key is a JSON
// string as in Matrix events.
func (k Ed25519PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a key as ParseEd25519PublicKey does.
func (k *Ed25519PublicKey) UnmarshalText(b []byte) error {
	key, err := ParseEd25519PublicKey(string(b))
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// Verify checks sig over message strictly: non-canonical or small-order
// public keys and R values and non-canonical S values are refused, so
// signatures are not malleable. It returns an error wrapping ErrBadSignature
// or ErrBadPublicKey.
func (k Ed25519PublicKey) Verify(message []byte, sig Ed25519Signature) error {
	if err := ed25519.Verify(k[:], message, sig[:]); err != nil {
		if errors.Is(err, ed25519.ErrInvalidKey) {
			return fmt.Errorf("olm: verify: %w", ErrBadPublicKey)
		}
		return fmt.Errorf("olm: verify: %w", ErrBadSignature)
	}
	return nil
}

// Ed25519Signature is an Ed25519 signature.
type Ed25519Signature [Ed25519SignatureSize]byte

// NewEd25519Signature returns the signature held in b, which must be 64
// bytes.
func NewEd25519Signature(b []byte) (Ed25519Signature, error) {
	var s Ed25519Signature
	if len(b) != Ed25519SignatureSize {
		return s, fmt.Errorf("olm: signature of %d bytes: %w", len(b), ErrBadSignature)
	}
	copy(s[:], b)
	return s, nil
}

// ParseEd25519Signature decodes a signature from base64, unpadded or padded.
func ParseEd25519Signature(s string) (Ed25519Signature, error) {
	b, err := decodePublic(s)
	if err != nil {
		return Ed25519Signature{}, fmt.Errorf("olm: signature: %w: %v", ErrBadSignature, err)
	}
	return NewEd25519Signature(b)
}

// Bytes returns a copy of the 64 signature bytes.
func (s Ed25519Signature) Bytes() []byte { return append([]byte(nil), s[:]...) }

// String returns the signature in unpadded base64.
func (s Ed25519Signature) String() string { return base64.RawStdEncoding.EncodeToString(s[:]) }

// KeyID identifies a one-time or fallback key within an account. libolm
// numbers keys from 1 and never reuses a number.
type KeyID uint32

// String returns the key ID as Matrix clients see it: the unpadded base64 of
// the ID as 4 bytes big-endian, so 1 is "AAAAAQ", as libolm writes it.
func (id KeyID) String() string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(id))
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// ParseKeyID decodes a key ID written by String.
func ParseKeyID(s string) (KeyID, error) {
	b, err := decodePublic(s)
	if err != nil || len(b) != 4 {
		return 0, fmt.Errorf("olm: key ID %q: %w", s, ErrBadKeyID)
	}
	return KeyID(binary.BigEndian.Uint32(b)), nil
}

// decodePublic decodes base64 of public values: unpadded or padded, with
// trailing bits tolerated as libolm tolerates them. Public values need no
// constant-time codec, but one decoder keeps the accepted forms identical.
func decodePublic(s string) ([]byte, error) {
	return b64.Decode(s)
}

// curveKey is an X25519 key pair. The private half is secret.
type curveKey struct {
	priv [32]byte // raw private bytes as generated (libolm stores them unclamped)
	pub  Curve25519PublicKey
}

// set makes k the key pair of 32 private bytes, clamped by X25519 as libolm
// clamps them. It writes in place, so that no copy of the private key is
// left in a returned value or a dead stack frame.
func (k *curveKey) set(priv []byte) error {
	if len(priv) != 32 {
		return fmt.Errorf("%w: private key of %d bytes", ErrBadPublicKey, len(priv))
	}
	copy(k.priv[:], priv)
	k.pub = x25519.PublicKey(&k.priv)
	return nil
}

// dh computes X25519 with their public key and refuses an all-zero result,
// which only a low-order public key gives: such a key would make the shared
// secret public.
func (k *curveKey) dh(their Curve25519PublicKey) ([32]byte, error) {
	s, err := x25519.SharedSecret(&k.priv, (*[32]byte)(&their))
	if err != nil {
		return s, fmt.Errorf("%w: low-order point", ErrBadPublicKey)
	}
	return s, nil
}

func (k *curveKey) clear() {
	clear(k.priv[:])
}
