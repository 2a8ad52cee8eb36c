// Package x25519 implements the X25519 function of RFC 7748 for the ratchets,
// without the overhead of crypto/ecdh on the hot path: a public key is
// computed with the Edwards fixed-base table of filippo.io/edwards25519 (about
// three times faster than a Montgomery ladder from the base point), and a
// shared secret with the Montgomery ladder alone, where crypto/ecdh's
// NewPrivateKey would first compute, and throw away, the public key. Nothing
// allocates. All-zero shared secrets (low-order peer keys) are refused.
package x25519

import (
	"crypto/subtle"
	"errors"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Size is the size of keys and shared secrets.
const Size = 32

// ErrLowOrder means the peer's public key gave an all-zero shared secret: it
// is a point of small order, and the secret would be known to everyone.
var ErrLowOrder = errors.New("x25519: low-order public key")

// PublicKey returns the public key of the private key priv (any 32 bytes;
// clamped as RFC 7748 says).
func PublicKey(priv *[Size]byte) [Size]byte {
	s, err := edwards25519.NewScalar().SetBytesWithClamping(priv[:])
	if err != nil {
		panic("x25519: " + err.Error()) // cannot happen for 32 bytes
	}
	var p edwards25519.Point
	p.ScalarBaseMult(s)
	var out [Size]byte
	copy(out[:], p.BytesMontgomery())
	return out
}

// SharedSecret returns X25519(priv, pub). It returns ErrLowOrder, and a zero
// secret, when the result is all zeros.
func SharedSecret(priv, pub *[Size]byte) ([Size]byte, error) {
	out := ladder(priv, pub)
	var zero [Size]byte
	if subtle.ConstantTimeCompare(out[:], zero[:]) == 1 {
		return zero, ErrLowOrder
	}
	return out, nil
}

// ladder is the Montgomery ladder of RFC 7748, section 5, in constant time.
func ladder(scalar, point *[Size]byte) [Size]byte {
	e := *scalar
	e[0] &= 248
	e[31] &= 127
	e[31] |= 64

	var x1, x2, z2, x3, z3, tmp0, tmp1 field.Element
	if _, err := x1.SetBytes(point[:]); err != nil {
		panic("x25519: " + err.Error()) // cannot happen for 32 bytes
	}
	x2.One()
	x3.Set(&x1)
	z3.One()

	swap := 0
	for pos := 254; pos >= 0; pos-- {
		b := int(e[pos/8]>>uint(pos&7)) & 1
		swap ^= b
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = b

		tmp0.Subtract(&x3, &z3)
		tmp1.Subtract(&x2, &z2)
		x2.Add(&x2, &z2)
		z2.Add(&x3, &z3)
		z3.Multiply(&tmp0, &x2)
		z2.Multiply(&z2, &tmp1)
		tmp0.Square(&tmp1)
		tmp1.Square(&x2)
		x3.Add(&z3, &z2)
		z2.Subtract(&z3, &z2)
		x2.Multiply(&tmp1, &tmp0)
		tmp1.Subtract(&tmp1, &tmp0)
		z2.Square(&z2)
		z3.Mult32(&tmp1, 121666)
		x3.Square(&x3)
		tmp0.Add(&tmp0, &z3)
		z3.Multiply(&x1, &z2)
		z2.Multiply(&tmp1, &tmp0)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	var out [Size]byte
	copy(out[:], x2.Bytes())
	clear(e[:])
	return out
}
