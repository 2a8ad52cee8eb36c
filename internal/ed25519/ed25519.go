// Package ed25519 implements Ed25519 signatures with libolm's key
// representation and strict verification.
//
// libolm keeps an Ed25519 private key in expanded form, 64 bytes:
//
//	a (32 bytes, little-endian scalar) ‖ prefix (32 bytes)
//
// where a ‖ prefix = SHA-512(seed) with a clamped (a[0] &= 248, a[31] &= 127,
// a[31] |= 64), and it does not keep the seed. Accounts and Megolm sessions
// pickled by libolm therefore carry only the expanded key, from which
// crypto/ed25519 cannot sign. [PrivateKey] holds the expanded key and signs
// from it; its signatures are the RFC 8032 signatures that crypto/ed25519
// makes from the seed.
//
// [Verify] is stricter than RFC 8032 and crypto/ed25519: it also refuses
// non-canonical and small-order public keys and signatures whose R is
// non-canonical or of small order (see CVE-2024-45193).
package ed25519

import (
	stded25519 "crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"

	"filippo.io/edwards25519"

	"github.com/souverain/e2ee/internal/b64"
)

const (
	// SeedSize is the size in bytes of a seed, the RFC 8032 private key.
	SeedSize = 32
	// ExpandedSize is the size in bytes of an expanded private key, libolm's
	// form: the clamped scalar followed by the nonce prefix.
	ExpandedSize = 64
	// PublicKeySize is the size in bytes of a public key.
	PublicKeySize = 32
	// SignatureSize is the size in bytes of a signature.
	SignatureSize = 64
)

var (
	// ErrInvalidKey is returned for a private or public key of the wrong
	// length, for an expanded key that does not match its public key, and
	// for a public key that is non-canonical, not on the curve or of small
	// order.
	ErrInvalidKey = errors.New("invalid key")
	// ErrBadSignature is returned for every signature that does not verify,
	// including one of the wrong length.
	ErrBadSignature = errors.New("bad signature")
)

// PrivateKey is an Ed25519 private key in libolm's expanded form, together
// with its public key. The expanded key is secret. Create one with
// [NewKeyFromSeed] or [NewKeyFromExpanded]; the zero value is not a key.
//
// Formatting a PrivateKey with the fmt package prints only the public key.
type PrivateKey struct {
	expanded [ExpandedSize]byte
	a        edwards25519.Scalar // expanded[:32] reduced modulo the group order
	public   [PublicKeySize]byte
	ok       bool
	seed     [SeedSize]byte // the RFC 8032 seed, if hasSeed
	hasSeed  bool
}

// NewKeyFromSeed returns the key for an RFC 8032 seed, as libolm creates one
// from 32 random bytes. It returns an error wrapping [ErrInvalidKey] if seed
// is not [SeedSize] bytes long. The seed is kept (see [PrivateKey.Seed]):
// vodozemac's formats for dehydrated devices and pickles store it.
func NewKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("ed25519: seed length %d: %w", len(seed), ErrInvalidKey)
	}
	k := new(PrivateKey)
	copy(k.seed[:], seed)
	k.hasSeed = true
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	k.expanded = h
	clear(h[:])
	k.init()
	return k, nil
}

// initScalar sets a from the expanded key. SetUniformBytes reduces a
// 64-byte little-endian integer modulo the group order; padding a with zeros
// gives a mod ℓ with no clamping, the same value libolm's sc_muladd uses.
func (k *PrivateKey) initScalar() {
	var wide [64]byte
	copy(wide[:32], k.expanded[:32])
	if _, err := k.a.SetUniformBytes(wide[:]); err != nil {
		panic("ed25519: internal error: SetUniformBytes: " + err.Error())
	}
	clear(wide[:])
}

// NewKeyFromStored returns the key that this library stored as Expanded and
// Public in storage it authenticated itself (souverain's AES-GCM pickles).
// Unlike NewKeyFromExpanded it does not recompute the public key to check
// the pair, which costs a scalar multiplication: a trade-off for speed that
// is only sound when the storage's authentication rules out a pair this
// library did not write. Keys from any other source go through
// NewKeyFromExpanded.
func NewKeyFromStored(expanded, public []byte) (*PrivateKey, error) {
	if len(expanded) != ExpandedSize || len(public) != PublicKeySize {
		return nil, fmt.Errorf("ed25519: stored key lengths %d, %d: %w", len(expanded), len(public), ErrInvalidKey)
	}
	k := new(PrivateKey)
	copy(k.expanded[:], expanded)
	copy(k.public[:], public)
	k.initScalar()
	if k.a.Equal(edwards25519.NewScalar()) == 1 {
		k.zero()
		return nil, fmt.Errorf("ed25519: stored key has a zero scalar: %w", ErrInvalidKey)
	}
	k.ok = true
	return k, nil
}

// NewKeyFromStoredSeed is NewKeyFromStored for a key stored with its RFC
// 8032 seed: the expanded key is derived from the seed (SHA-512, clamped,
// with no scalar multiplication) and must equal expanded, and the public
// key is taken as stored, unchecked, for the reason NewKeyFromStored gives.
// The key keeps its seed (see [PrivateKey.Seed]). The error wraps
// [ErrInvalidKey].
func NewKeyFromStoredSeed(seed, expanded, public []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("ed25519: stored seed length %d: %w", len(seed), ErrInvalidKey)
	}
	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	same := len(expanded) == ExpandedSize && subtle.ConstantTimeCompare(h[:], expanded) == 1
	clear(h[:])
	if !same {
		return nil, fmt.Errorf("ed25519: stored seed is not the expanded key's: %w", ErrInvalidKey)
	}
	k, err := NewKeyFromStored(expanded, public)
	if err != nil {
		return nil, err
	}
	copy(k.seed[:], seed)
	k.hasSeed = true
	return k, nil
}

// NewKeyFromExpanded returns the key for an expanded private key and its
// public key, as stored in a libolm pickle. The scalar is used as stored,
// reduced modulo the group order, exactly as libolm signs with it.
//
// It returns an error wrapping [ErrInvalidKey] if expanded is not
// [ExpandedSize] bytes, public is not [PublicKeySize] bytes, the scalar is
// zero modulo the group order, or public is not the scalar times the base
// point, so that a corrupted or mismatched pickle never yields a signer for a
// key other than the one it names. The nonce prefix cannot be checked: a
// corrupted prefix still gives valid signatures, with different nonces. The
// inputs are copied.
func NewKeyFromExpanded(expanded, public []byte) (*PrivateKey, error) {
	if len(expanded) != ExpandedSize {
		return nil, fmt.Errorf("ed25519: expanded key length %d: %w", len(expanded), ErrInvalidKey)
	}
	if len(public) != PublicKeySize {
		return nil, fmt.Errorf("ed25519: public key length %d: %w", len(public), ErrInvalidKey)
	}
	k := new(PrivateKey)
	copy(k.expanded[:], expanded)
	k.init()
	// A scalar that is 0 modulo the group order would sign for the identity
	// point, which Verify refuses as a public key; refuse it here too.
	if k.a.Equal(edwards25519.NewScalar()) == 1 {
		k.zero()
		return nil, fmt.Errorf("ed25519: expanded key has a zero scalar: %w", ErrInvalidKey)
	}
	if subtle.ConstantTimeCompare(k.public[:], public) != 1 {
		k.zero()
		return nil, fmt.Errorf("ed25519: expanded key does not match public key: %w", ErrInvalidKey)
	}
	return k, nil
}

// init derives the scalar and the public key from k.expanded.
func (k *PrivateKey) init() {
	k.initScalar()
	A := new(edwards25519.Point).ScalarBaseMult(&k.a)
	copy(k.public[:], A.Bytes())
	k.ok = true
}

func (k *PrivateKey) zero() {
	clear(k.expanded[:])
	clear(k.seed[:])
	k.hasSeed = false
	k.a = edwards25519.Scalar{}
	k.ok = false
}

func (k *PrivateKey) check() {
	if k == nil || !k.ok {
		panic("ed25519: use of a PrivateKey not made by NewKeyFromSeed or NewKeyFromExpanded")
	}
}

// Public returns the public key.
func (k *PrivateKey) Public() [PublicKeySize]byte {
	k.check()
	return k.public
}

// Expanded returns the expanded private key, the scalar followed by the nonce
// prefix, as libolm stores it in pickles. The result is secret.
func (k *PrivateKey) Expanded() [ExpandedSize]byte {
	k.check()
	return k.expanded
}

// Seed returns the RFC 8032 seed the key was made from, and ok is true, for
// a key made by [NewKeyFromSeed]. Keys made from an expanded key (libolm's
// pickles) have no seed: ok is false and seed is zero. The result is secret.
func (k *PrivateKey) Seed() (seed [SeedSize]byte, ok bool) {
	k.check()
	return k.seed, k.hasSeed
}

// Sign returns the RFC 8032 Ed25519 signature of msg. For a key made from a
// seed it equals crypto/ed25519.Sign with that seed.
func (k *PrivateKey) Sign(msg []byte) [SignatureSize]byte {
	k.check()

	h := sha512.New()
	h.Write(k.expanded[32:])
	h.Write(msg)
	var digest [64]byte
	h.Sum(digest[:0])
	r, err := new(edwards25519.Scalar).SetUniformBytes(digest[:])
	if err != nil {
		panic("ed25519: internal error: SetUniformBytes: " + err.Error())
	}
	R := new(edwards25519.Point).ScalarBaseMult(r)

	var sig [SignatureSize]byte
	copy(sig[:32], R.Bytes())

	h.Reset()
	h.Write(sig[:32])
	h.Write(k.public[:])
	h.Write(msg)
	h.Sum(digest[:0])
	c, err := new(edwards25519.Scalar).SetUniformBytes(digest[:])
	if err != nil {
		panic("ed25519: internal error: SetUniformBytes: " + err.Error())
	}

	S := new(edwards25519.Scalar).MultiplyAdd(c, &k.a, r)
	copy(sig[32:], S.Bytes())
	*r = edwards25519.Scalar{}
	clear(digest[:])
	return sig
}

// String returns a description of k that names its public key and never
// contains secret material.
func (k PrivateKey) String() string {
	if !k.ok {
		return "ed25519.PrivateKey(invalid)"
	}
	return "ed25519.PrivateKey(public: " + b64.Encode(k.public[:]) + ")"
}

// GoString is like [PrivateKey.String]; it keeps %#v from printing the secret.
func (k PrivateKey) GoString() string {
	return k.String()
}

// Format writes [PrivateKey.String] for every verb and flag, so that no fmt
// verb (%v, %+v, %#v, %s, %x, ...) prints the secret.
func (k PrivateKey) Format(f fmt.State, verb rune) {
	f.Write([]byte(k.String()))
}

// Verify reports whether sig is a valid signature of msg by public, with
// stricter rules than RFC 8032: public must be a canonical encoding of a point
// that is not of small order, and the signature's R must be a canonical
// encoding of a point that is not of small order and its S must be less than
// the group order. The check itself is the cofactorless equation
// [S]B = R + [k]A of crypto/ed25519.
//
// Verify returns nil for a valid signature, an error wrapping [ErrInvalidKey]
// if public is unusable, and an error wrapping [ErrBadSignature] otherwise.
// It never panics.
func Verify(public, msg, sig []byte) error {
	if len(public) != PublicKeySize {
		return fmt.Errorf("ed25519: verify: public key length %d: %w", len(public), ErrInvalidKey)
	}
	if !strictEncoding(public) {
		return fmt.Errorf("ed25519: verify: public key non-canonical or of small order: %w", ErrInvalidKey)
	}
	if len(sig) != SignatureSize {
		return badSignature(public, "signature length %d", len(sig))
	}
	if !strictEncoding(sig[:32]) {
		return badSignature(public, "R non-canonical or of small order")
	}
	if _, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:]); err != nil {
		return badSignature(public, "S non-canonical")
	}
	if !stded25519.Verify(public, msg, sig) {
		return badSignature(public, "")
	}
	return nil
}

// badSignature returns the error for a signature that Verify refuses. A
// public key that is not a point at all is reported as such first, as when
// every check decoded it: [strictEncoding] looks at bytes only, and the
// decoding that tells a point from a non-point is left to crypto/ed25519,
// which does it anyway.
func badSignature(public []byte, format string, args ...any) error {
	if _, err := new(edwards25519.Point).SetBytes(public); err != nil {
		return fmt.Errorf("ed25519: verify: public key not a point: %w", ErrInvalidKey)
	}
	if format == "" {
		return fmt.Errorf("ed25519: verify: %w", ErrBadSignature)
	}
	return fmt.Errorf("ed25519: verify: "+format+": %w", append(args, ErrBadSignature)...)
}

// strictEncoding reports whether b, 32 bytes, could be the canonical
// encoding of a point that is not of small order: y < p, the sign bit clear
// when x = 0, and not one of the eight points of small order. Whether b is a
// point at all is not checked.
//
// For a b that decodes, this is exactly "b decodes, re-encodes to itself,
// and [8]P is not the identity", computed from the bytes alone: decoding
// and encoding cost a field exponentiation each, four per Verify, which
// made it a third slower than the verification equation alone. The inputs
// are public, so the comparisons need not be constant time.
func strictEncoding(b []byte) bool {
	if yAtLeastP(b) {
		return false
	}
	if b[31]&0x80 != 0 && (isYOne(b) || isYMinusOne(b)) {
		return false // x = 0, whose sign bit must be clear
	}
	for i := range smallOrderEncodings {
		if [32]byte(b) == smallOrderEncodings[i] {
			return false
		}
	}
	return true
}

// yAtLeastP reports whether the 255-bit y of b is at least p = 2^255 − 19,
// that is, in [2^255 − 19, 2^255 − 1].
func yAtLeastP(b []byte) bool {
	if b[31]&0x7f != 0x7f || b[0] < 0xed {
		return false
	}
	for _, c := range b[1:31] {
		if c != 0xff {
			return false
		}
	}
	return true
}

// isYOne reports whether y = 1.
func isYOne(b []byte) bool {
	if b[0] != 1 || b[31]&0x7f != 0 {
		return false
	}
	for _, c := range b[1:31] {
		if c != 0 {
			return false
		}
	}
	return true
}

// isYMinusOne reports whether y = p − 1.
func isYMinusOne(b []byte) bool {
	if b[0] != 0xec || b[31]&0x7f != 0x7f {
		return false
	}
	for _, c := range b[1:31] {
		if c != 0xff {
			return false
		}
	}
	return true
}

// smallOrderEncodings are the canonical encodings of the eight points of
// small order (the torsion subgroup), computed from a point of order 8.
var smallOrderEncodings = torsionEncodings()

func torsionEncodings() [8][32]byte {
	// A point of order 8 (the encoding libsodium's blocklist starts with).
	t, err := new(edwards25519.Point).SetBytes([]byte{
		0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a})
	if err != nil {
		panic("ed25519: internal error: torsion point: " + err.Error())
	}
	var out [8][32]byte
	p := edwards25519.NewIdentityPoint()
	for i := range out {
		copy(out[i][:], p.Bytes())
		p.Add(p, t)
		if i < 7 && p.Equal(edwards25519.NewIdentityPoint()) == 1 {
			panic("ed25519: internal error: torsion point not of order 8")
		}
	}
	if p.Equal(edwards25519.NewIdentityPoint()) != 1 {
		panic("ed25519: internal error: torsion point not of order 8")
	}
	return out
}

// Clear overwrites the private key with zeros. The key can no longer sign
// (its methods then panic, as for a key not made by this package's
// constructors); the public key stays. Clear may be called more than once.
func (k *PrivateKey) Clear() {
	if k != nil {
		k.zero()
	}
}

// Cleared reports whether Clear has wiped the key (or it was never made by
// this package's constructors).
func (k *PrivateKey) Cleared() bool {
	if k == nil {
		return true
	}
	var acc byte
	for _, b := range k.expanded {
		acc |= b
	}
	return !k.ok && acc == 0 && k.a.Equal(edwards25519.NewScalar()) == 1
}
