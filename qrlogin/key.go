package qrlogin

import (
	"crypto/subtle"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
)

// KeySize is the length in bytes of a Curve25519 public key.
const KeySize = 32

// PublicKey is a Curve25519 public key: the key in a QR code, or the
// ephemeral key a channel's first message carries. The zero value is not a
// valid key.
type PublicKey struct {
	b   [KeySize]byte
	set bool
}

// NewPublicKey returns the public key with the given 32 bytes. It returns an
// error wrapping ErrBadPublicKey if b is not 32 bytes long. Low-order keys
// are accepted here and refused when a channel is established with them.
func NewPublicKey(b []byte) (PublicKey, error) {
	if len(b) != KeySize {
		return PublicKey{}, fmt.Errorf("qrlogin: public key is %d bytes, want %d: %w", len(b), KeySize, ErrBadPublicKey)
	}
	return PublicKey{b: [KeySize]byte(b), set: true}, nil
}

// ParsePublicKey decodes a public key from unpadded base64, as Matrix and
// vodozemac write it. It returns an error wrapping ErrBadPublicKey if s is
// not the canonical unpadded base64 of 32 bytes.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("qrlogin: public key: %w", ErrBadPublicKey)
	}
	return NewPublicKey(b)
}

// Bytes returns the key's 32 bytes (nil for the zero value).
func (k PublicKey) Bytes() []byte {
	if !k.set {
		return nil
	}
	return append([]byte(nil), k.b[:]...)
}

// String returns the key in unpadded base64 ("" for the zero value).
func (k PublicKey) String() string {
	if !k.set {
		return ""
	}
	return b64.Encode(k.b[:])
}

// Equal reports whether k and o are the same key.
func (k PublicKey) Equal(o PublicKey) bool {
	return k.set == o.set && subtle.ConstantTimeCompare(k.b[:], o.b[:]) == 1
}

// IsZero reports whether k is the zero value, not a key.
func (k PublicKey) IsZero() bool { return !k.set }

// CheckCode is the short code both devices derive from a channel's shared
// secret (MSC4108, MSC4388). The recipient of the channel (the device that
// showed the QR code) shows it as two digits; the user types it on the other
// device, which accepts the channel only if it matches ([CheckCode.Verify]).
// Without that step the recipient cannot tell a man in the middle from the
// genuine device.
//
// The digits carry almost no entropy (one bit of "secure or not"); they
// exist to make the user look. They are not secret once shown.
type CheckCode struct {
	b [2]byte
}

// DigitMode selects how a CheckCode is turned into two digits.
type DigitMode int

const (
	// AllowLeadingZero gives 00–99: (b0 mod 10)·10 + b1 mod 10. This is
	// the first version of MSC4108; Element's to_digit.
	AllowLeadingZero DigitMode = iota
	// NoLeadingZero gives 10–99: ((b0 mod 9) + 1)·10 + b1 mod 10. This is
	// MSC4388; Element's toDigitNoLeadingZero.
	NoLeadingZero
)

// NewCheckCode returns the check code with the given two bytes, for a code
// computed elsewhere (test vectors, another implementation's output).
func NewCheckCode(b [2]byte) CheckCode { return CheckCode{b: b} }

// Bytes returns the two bytes the digits are computed from.
func (c CheckCode) Bytes() [2]byte { return c.b }

// Digits returns the two-digit number to show, in the given mode. Show it
// with two digits ("%02d"): in AllowLeadingZero mode it may be below 10.
// An unknown mode panics: it is a programming error.
func (c CheckCode) Digits(mode DigitMode) int {
	second := int(c.b[1] % 10)
	switch mode {
	case AllowLeadingZero:
		return int(c.b[0]%10)*10 + second
	case NoLeadingZero:
		return (int(c.b[0]%9)+1)*10 + second
	}
	panic("qrlogin: unknown DigitMode")
}

// Verify checks the number the user entered against the check code, in
// constant time. It returns an error wrapping ErrCheckCodeMismatch if they
// differ (including any number outside 0–99).
func (c CheckCode) Verify(entered int, mode DigitMode) error {
	want := c.Digits(mode)
	if entered < 0 || entered > 99 || subtle.ConstantTimeEq(int32(want), int32(entered)) != 1 {
		return fmt.Errorf("qrlogin: %w", ErrCheckCodeMismatch)
	}
	return nil
}

// Equal reports whether c and o are the same check code, in constant time.
func (c CheckCode) Equal(o CheckCode) bool {
	return subtle.ConstantTimeCompare(c.b[:], o.b[:]) == 1
}

// decodeBase64 decodes canonical unpadded base64, so that decoding then
// encoding gives back the same text.
func decodeBase64(s string) ([]byte, error) {
	b, err := b64.Decode(s)
	if err != nil {
		return nil, err
	}
	// Canonical only: no padding, and unused low bits of the last
	// character zero (the library's decoder accepts both).
	if subtle.ConstantTimeCompare([]byte(b64.Encode(b)), []byte(s)) != 1 {
		return nil, b64.ErrInvalid
	}
	return b, nil
}
