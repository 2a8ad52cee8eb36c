package ed25519

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"sync/atomic"

	"filippo.io/edwards25519"
)

// VerifyingKey is a public key checked and decoded once, for verifying many
// signatures by the same key (a Megolm session's signing key verifies every
// message of the session). Its Verify accepts exactly the signatures that
// [Verify] accepts with the same key, with the same error classes, and
// skips the key's checks and its decoding (a field exponentiation) each
// time. Create one with [NewVerifyingKey]; it is immutable and safe for
// concurrent use.
//
// From its second signature on, a VerifyingKey also keeps precomputed
// multiples of its point (about 5 KiB, computed in about the time of one
// verification), with which each verification takes about half the time of
// crypto/ed25519's; a key used once costs no more than Verify.
type VerifyingKey struct {
	public [PublicKeySize]byte
	minusA edwards25519.Point // −A, as the verification equation uses it
	uses   atomic.Uint32
	table  atomic.Pointer[keyTable]
}

// tableAfter is the number of verifications after which a key builds its
// tables: building them costs about one verification, and saves half of
// each one after.
const tableAfter = 1

// NewVerifyingKey checks public as [Verify] does (32 bytes, a canonical
// encoding of a point on the curve that is not of small order) and returns
// it decoded. Errors wrap [ErrInvalidKey].
func NewVerifyingKey(public []byte) (*VerifyingKey, error) {
	if len(public) != PublicKeySize {
		return nil, fmt.Errorf("ed25519: public key length %d: %w", len(public), ErrInvalidKey)
	}
	if !strictEncoding(public) {
		return nil, fmt.Errorf("ed25519: public key non-canonical or of small order: %w", ErrInvalidKey)
	}
	A, err := new(edwards25519.Point).SetBytes(public)
	if err != nil {
		return nil, fmt.Errorf("ed25519: public key not a point: %w", ErrInvalidKey)
	}
	k := &VerifyingKey{}
	copy(k.public[:], public)
	k.minusA.Negate(A)
	return k, nil
}

// Bytes returns the key's encoding.
func (k *VerifyingKey) Bytes() [PublicKeySize]byte { return k.public }

// Verify reports whether sig is a valid signature of msg by the key, with
// the rules of [Verify]: R must be a canonical encoding of a point that is
// not of small order and S less than the group order, and the cofactorless
// equation [S]B = R + [k]A must hold, computed as crypto/ed25519 does. It
// returns nil for a valid signature and an error wrapping [ErrBadSignature]
// otherwise. It never panics.
func (k *VerifyingKey) Verify(msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return fmt.Errorf("ed25519: verify: signature length %d: %w", len(sig), ErrBadSignature)
	}
	if !strictEncoding(sig[:32]) {
		return fmt.Errorf("ed25519: verify: R non-canonical or of small order: %w", ErrBadSignature)
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return fmt.Errorf("ed25519: verify: S non-canonical: %w", ErrBadSignature)
	}
	// k = SHA-512(R ‖ A ‖ msg) mod ℓ; R' = [S]B − [k]A must encode as R.
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.public[:])
	h.Write(msg)
	var digest [64]byte
	h.Sum(digest[:0])
	c, err := new(edwards25519.Scalar).SetUniformBytes(digest[:])
	if err != nil {
		panic("ed25519: internal error: SetUniformBytes: " + err.Error())
	}
	var R [32]byte
	if t := k.keyTable(); t != nil {
		R = combMult(c, t, S)
	} else {
		R = [32]byte(new(edwards25519.Point).VarTimeDoubleScalarBaseMult(c, &k.minusA, S).Bytes())
	}
	if subtle.ConstantTimeCompare(R[:], sig[:32]) != 1 {
		return fmt.Errorf("ed25519: verify: %w", ErrBadSignature)
	}
	return nil
}

// keyTable returns the key's tables, building them once the key has been
// used tableAfter times; nil before. Two goroutines may build them at once;
// the tables are the same and one is kept.
func (k *VerifyingKey) keyTable() *keyTable {
	if t := k.table.Load(); t != nil {
		return t
	}
	if k.uses.Add(1) <= tableAfter {
		return nil
	}
	t := newKeyTable(&k.minusA)
	if !k.table.CompareAndSwap(nil, t) {
		return k.table.Load()
	}
	return t
}
