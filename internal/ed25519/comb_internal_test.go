package ed25519

import (
	"bytes"
	"encoding/binary"
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
)

// TestCombMultMatches compares [s]B + [k]P by the quarter tables with
// edwards25519's VarTimeDoubleScalarBaseMult, on random scalars and points
// and on scalars at the edges of the quarters and of the group order.
func TestCombMultMatches(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	scalar := func() *edwards25519.Scalar {
		var b [64]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s, _ := new(edwards25519.Scalar).SetUniformBytes(b[:])
		return s
	}
	fromUint := func(words ...uint64) *edwards25519.Scalar {
		var b [32]byte
		for i, w := range words {
			binary.LittleEndian.PutUint64(b[8*i:], w)
		}
		s, err := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	minusOne := new(edwards25519.Scalar).Subtract(edwards25519.NewScalar(), fromUint(1))
	edges := []*edwards25519.Scalar{
		edwards25519.NewScalar(), fromUint(1), fromUint(2), fromUint(0x7f), fromUint(^uint64(0)),
		fromUint(0, 1), fromUint(^uint64(0), ^uint64(0)), fromUint(0, 0, 1), fromUint(0, 0, 0, 1),
		fromUint(0, 0, 0, 1<<59), fromUint(0x5555555555555555, 0xaaaaaaaaaaaaaaaa, 0x5555555555555555, 0x0aaaaaaaaaaaaaaa),
		minusOne,
	}
	for i := range 30 {
		P := new(edwards25519.Point).ScalarBaseMult(scalar())
		if i%5 == 0 {
			// A point with a torsion component too.
			tor, _ := new(edwards25519.Point).SetBytes(smallOrderEncodings[1][:])
			P.Add(P, tor)
		}
		tab := newKeyTable(P)
		pairs := [][2]*edwards25519.Scalar{{scalar(), scalar()}}
		if i < len(edges) {
			pairs = append(pairs, [2]*edwards25519.Scalar{edges[i], scalar()}, [2]*edwards25519.Scalar{scalar(), edges[i]},
				[2]*edwards25519.Scalar{edges[i], edges[len(edges)-1-i]})
		}
		for _, p := range pairs {
			k, s := p[0], p[1]
			want := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, P, s).Bytes()
			got := combMult(k, tab, s)
			if !bytes.Equal(got[:], want) {
				t.Fatalf("point %d: [s]B + [k]P = %x, want %x", i, got, want)
			}
		}
	}
}

// TestSignedDigits checks the signed digits against the scalar's value.
func TestSignedDigits(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 8))
	for range 200 {
		var b [64]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s, _ := new(edwards25519.Scalar).SetUniformBytes(b[:])
		sb := [32]byte(s.Bytes())
		for _, w := range []uint{keyWidth, baseWidth} {
			digits := signedDigits(&sb, w)
			acc := edwards25519.NewScalar()
			pow := new(edwards25519.Scalar)
			var one [32]byte
			one[0] = 1
			pow.SetCanonicalBytes(one[:])
			two := new(edwards25519.Scalar).Add(pow, pow)
			last := -int(w)
			for i, d := range digits {
				if d != 0 {
					if d%2 == 0 || d >= 1<<(w-1) || d <= -(1<<(w-1)) || i-last < int(w) {
						t.Fatalf("width %d: digit %d at %d", w, d, i)
					}
					last = i
					var db [32]byte
					v := int(d)
					if v < 0 {
						v = -v
					}
					db[0] = byte(v)
					ds, _ := new(edwards25519.Scalar).SetCanonicalBytes(db[:])
					term := new(edwards25519.Scalar).Multiply(ds, pow)
					if d < 0 {
						acc.Subtract(acc, term)
					} else {
						acc.Add(acc, term)
					}
				}
				pow.Multiply(pow, two)
			}
			if acc.Equal(s) != 1 {
				t.Fatalf("width %d: digits do not add up", w)
			}
		}
	}
}
