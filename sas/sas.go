package sas

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/internal/x25519"
)

// Sizes in bytes.
const (
	// PublicKeySize is the size of an ephemeral Curve25519 public key.
	PublicKeySize = 32
	// MACSize is the size of a MAC before base64 encoding.
	MACSize = sha256.Size
	// MaxBytes is the most Bytes can return: HKDF-SHA-256 gives at most
	// 255 blocks of 32 bytes.
	MaxBytes = 255 * sha256.Size
)

// The MAC methods of m.sas.v1, as named in message_authentication_code.
const (
	// MACHKDFHMACSHA256V2 is hkdf-hmac-sha256.v2, the current method:
	// HMAC-SHA-256 under an HKDF key, in unpadded base64.
	MACHKDFHMACSHA256V2 = "hkdf-hmac-sha256.v2"
	// MACHKDFHMACSHA256 is the deprecated hkdf-hmac-sha256: the same MAC
	// in libolm's faulty base64. Use it only with a peer that offers
	// nothing newer.
	MACHKDFHMACSHA256 = "hkdf-hmac-sha256"
)

// PublicKey is an ephemeral Curve25519 public key of a SAS verification,
// as carried in m.key.verification.key. It is public.
type PublicKey [PublicKeySize]byte

// NewPublicKey returns the key held in b, which must be 32 bytes, or an
// error wrapping ErrBadPublicKey.
func NewPublicKey(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) != PublicKeySize {
		return k, fmt.Errorf("sas: public key of %d bytes: %w", len(b), ErrBadPublicKey)
	}
	copy(k[:], b)
	return k, nil
}

// ParsePublicKey decodes a key from base64, unpadded as Matrix sends it or
// padded, and returns an error wrapping ErrBadPublicKey if it is not 32
// bytes of base64.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := b64.Decode(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("sas: public key: %w: %v", ErrBadPublicKey, err)
	}
	return NewPublicKey(b)
}

// Bytes returns a copy of the 32 key bytes.
func (k PublicKey) Bytes() []byte { return append([]byte(nil), k[:]...) }

// String returns the key in unpadded base64, the form the SAS info string
// and the commitment use.
func (k PublicKey) String() string { return base64.RawStdEncoding.EncodeToString(k[:]) }

// SAS is one side of a short authentication string key agreement before
// the other side's key is known: an ephemeral X25519 key pair. Send
// PublicKey to the other device, then call Establish with its key.
//
// The private key is secret; formatting a SAS with fmt prints only the
// public key. Close wipes it. A SAS is not safe for concurrent use. The
// zero value is not a key: Establish fails with ErrNil.
type SAS struct {
	priv   *[32]byte // nil once Establish or Close has run, and in the zero value
	pub    PublicKey
	used   bool // Establish has run
	closed bool // Close has run
}

// New returns a SAS with a fresh ephemeral key from crypto/rand.
func New() (*SAS, error) {
	random := make([]byte, 32)
	rand.Read(random) // never fails (Go 1.24+)
	defer clear(random)
	return newFromRandom(random)
}

// newFromRandom builds a SAS from 32 private key bytes, clamped as X25519
// (and libolm's olm_create_sas) clamps them.
func newFromRandom(random []byte) (*SAS, error) {
	if len(random) != 32 {
		return nil, fmt.Errorf("sas: new: %d random bytes, want 32", len(random))
	}
	priv := new([32]byte)
	copy(priv[:], random)
	return &SAS{priv: priv, pub: x25519.PublicKey(priv)}, nil
}

// PublicKey returns the ephemeral public key to send to the other device
// (the zero key for a nil SAS).
func (s *SAS) PublicKey() PublicKey {
	if s == nil {
		return PublicKey{}
	}
	return s.pub
}

// Close wipes the ephemeral private key if Establish has not consumed it.
// It is idempotent; afterwards Establish fails with ErrClosed.
func (s *SAS) Close() {
	if s == nil {
		return
	}
	if s.priv != nil {
		wipe.Array32(s.priv)
		s.priv = nil
	}
	s.closed = true
}

// Establish performs X25519 with their ephemeral public key and returns the
// established SAS. It refuses, with an error wrapping ErrBadPublicKey, a key
// that gives the all-zero shared secret. The ephemeral private key is
// discarded whether or not Establish succeeds, so a SAS is established at
// most once; a second call returns an error wrapping ErrKeyUsed. After
// Close the error wraps ErrClosed, for a nil or zero SAS ErrNil.
func (s *SAS) Establish(their PublicKey) (*EstablishedSAS, error) {
	switch {
	case s == nil:
		return nil, fmt.Errorf("sas: establish: %w", ErrNil)
	case s.closed:
		return nil, fmt.Errorf("sas: establish: %w", ErrClosed)
	case s.used:
		return nil, fmt.Errorf("sas: establish: %w", ErrKeyUsed)
	case s.priv == nil:
		return nil, fmt.Errorf("sas: establish: %w", ErrNil)
	}
	priv := s.priv
	s.priv = nil
	s.used = true
	defer clear(priv[:])
	secret, err := x25519.SharedSecret(priv, (*[32]byte)(&their))
	if err != nil { // the all-zero result of a low-order key
		return nil, fmt.Errorf("sas: establish: %w: low-order point", ErrBadPublicKey)
	}
	return &EstablishedSAS{mu: new(sync.RWMutex), secret: secret, ours: s.pub, theirs: their}, nil
}

// Format prints the public key only.
func (s SAS) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "sas.SAS{PublicKey: %s}", s.pub)
}

// LogValue describes the SAS for log/slog by its public key.
func (s SAS) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(s)) }

// EstablishedSAS is a SAS after key agreement: it holds the X25519 shared
// secret, from which it derives the short authentication string and the
// MAC keys.
//
// The shared secret is secret; formatting an EstablishedSAS with fmt prints
// only the two public keys. Close wipes the secret. An EstablishedSAS is
// safe for concurrent use, Close included: Close waits for the calls in
// progress, and afterwards the methods fail with ErrClosed. Only Establish
// makes one: on the zero value they fail with ErrNil.
type EstablishedSAS struct {
	mu     *sync.RWMutex // nil in the zero value
	secret [32]byte
	ours   PublicKey
	theirs PublicKey
	closed bool // set by Close, under mu
}

// rlock read-locks e, or returns an error wrapping ErrNil or ErrClosed
// with nothing locked.
func (e *EstablishedSAS) rlock() error {
	if e == nil || e.mu == nil {
		return ErrNil
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// OurPublicKey returns this side's ephemeral public key.
func (e *EstablishedSAS) OurPublicKey() PublicKey {
	if e == nil {
		return PublicKey{}
	}
	return e.ours
}

// TheirPublicKey returns the other side's ephemeral public key.
func (e *EstablishedSAS) TheirPublicKey() PublicKey {
	if e == nil {
		return PublicKey{}
	}
	return e.theirs
}

// Bytes returns n bytes of HKDF-SHA-256 output from the shared secret with
// no salt and the given info, as libolm's olm_sas_generate_bytes does. n
// must be between 1 and MaxBytes, else the error wraps ErrInvalidCount.
// After Close it wraps ErrClosed, for a zero EstablishedSAS ErrNil.
func (e *EstablishedSAS) Bytes(info string, n int) ([]byte, error) {
	if err := e.rlock(); err != nil {
		return nil, fmt.Errorf("sas: bytes: %w", err)
	}
	defer e.mu.RUnlock()
	if n < 1 || n > MaxBytes {
		return nil, fmt.Errorf("sas: bytes: %d: %w", n, ErrInvalidCount)
	}
	out := make([]byte, n)
	cipher.HKDF(out, e.secret[:], nil, info)
	return out, nil
}

// ShortAuthString returns the short authentication string for info (built
// with SASInfo): the 6 HKDF bytes that give both the emojis and the
// decimals. After Close, or for a zero EstablishedSAS, it returns the zero
// ShortAuthString, which Bytes reports as an error: do not show it.
func (e *EstablishedSAS) ShortAuthString(info string) ShortAuthString {
	b, _ := e.Bytes(info, len(ShortAuthString{})) // fails only if closed or zero
	var s ShortAuthString
	copy(s[:], b)
	return s
}

// mac returns HMAC-SHA-256 of input under the 32-byte HKDF key for info.
func (e *EstablishedSAS) mac(input, info string) [MACSize]byte {
	var key [32]byte
	cipher.HKDF(key[:], e.secret[:], nil, info)
	out := cipher.HMAC(&key, []byte(input))
	clear(key[:])
	return out
}

// MAC returns the MAC of input (a public key in its Matrix encoding, or a
// key ID list built with KeyIDList) under the key derived from info (built
// with MACInfo), encoded as method requires: MACHKDFHMACSHA256V2 gives
// unpadded base64 (libolm's olm_sas_calculate_mac_fixed_base64),
// MACHKDFHMACSHA256 gives libolm's faulty base64 (olm_sas_calculate_mac).
// Any other method gives an error wrapping ErrUnknownMACMethod; after
// Close, one wrapping ErrClosed (ErrNil for a zero EstablishedSAS).
func (e *EstablishedSAS) MAC(method, input, info string) (string, error) {
	if err := e.rlock(); err != nil {
		return "", fmt.Errorf("sas: mac: %w", err)
	}
	defer e.mu.RUnlock()
	m := e.mac(input, info)
	switch method {
	case MACHKDFHMACSHA256V2:
		return base64.RawStdEncoding.EncodeToString(m[:]), nil
	case MACHKDFHMACSHA256:
		return libolmInPlaceBase64(m), nil
	}
	return "", fmt.Errorf("sas: mac: %q: %w", method, ErrUnknownMACMethod)
}

// VerifyMAC checks mac, as received in m.key.verification.mac, against the
// MAC of input under info with method. It compares in constant time and
// returns nil on a match, an error wrapping ErrMACMismatch otherwise, or
// one wrapping ErrUnknownMACMethod. For MACHKDFHMACSHA256V2 the MAC may be
// padded or unpadded base64; for MACHKDFHMACSHA256 it must be libolm's
// exact string. After Close the error wraps ErrClosed (ErrNil for a zero
// EstablishedSAS).
func (e *EstablishedSAS) VerifyMAC(method, input, info, mac string) error {
	if err := e.rlock(); err != nil {
		return fmt.Errorf("sas: verify mac: %w", err)
	}
	defer e.mu.RUnlock()
	want := e.mac(input, info)
	switch method {
	case MACHKDFHMACSHA256V2:
		got, err := b64.Decode(mac)
		if err != nil || subtle.ConstantTimeCompare(got, want[:]) != 1 {
			return fmt.Errorf("sas: verify mac: %w", ErrMACMismatch)
		}
		return nil
	case MACHKDFHMACSHA256:
		if subtle.ConstantTimeCompare([]byte(mac), []byte(libolmInPlaceBase64(want))) != 1 {
			return fmt.Errorf("sas: verify mac: %w", ErrMACMismatch)
		}
		return nil
	}
	return fmt.Errorf("sas: verify mac: %q: %w", method, ErrUnknownMACMethod)
}

// Close wipes the shared secret, once the calls in progress are done. It
// is idempotent; afterwards the methods fail with ErrClosed.
func (e *EstablishedSAS) Close() {
	if e == nil || e.mu == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	wipe.Array32(&e.secret)
	e.closed = true
}

// Format prints the public keys only.
func (e EstablishedSAS) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "sas.EstablishedSAS{Ours: %s, Theirs: %s}", e.ours, e.theirs)
}

// LogValue describes the EstablishedSAS for log/slog by its public keys.
func (e EstablishedSAS) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(e)) }

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// libolmInPlaceBase64 reproduces the MAC string of libolm's
// olm_sas_calculate_mac, which runs its base64 encoder with the output
// buffer on top of the 32 input bytes. The encoder handles 3 input bytes at
// a time and writes 4 characters ahead of what it reads, so from the third
// group on it reads characters it wrote itself; the 2-byte tail reads
// bytes 30 and 31 after they were overwritten. The result is 43 characters
// that are valid base64 of other bytes. The published example is in
// libolm merge request 16; the interop tests compare with libolm itself.
func libolmInPlaceBase64(mac [MACSize]byte) string {
	var buf [44]byte
	copy(buf[:], mac[:])
	for k := range 10 {
		in, out := 3*k, 4*k
		v := uint32(buf[in])<<16 | uint32(buf[in+1])<<8 | uint32(buf[in+2])
		buf[out+3] = base64Alphabet[v&0x3f]
		buf[out+2] = base64Alphabet[v>>6&0x3f]
		buf[out+1] = base64Alphabet[v>>12&0x3f]
		buf[out] = base64Alphabet[v>>18]
	}
	v := (uint32(buf[30])<<8 | uint32(buf[31])) << 2
	buf[42] = base64Alphabet[v&0x3f]
	buf[41] = base64Alphabet[v>>6&0x3f]
	buf[40] = base64Alphabet[v>>12]
	return string(buf[:43])
}
