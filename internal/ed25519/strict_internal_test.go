package ed25519

import (
	"bytes"
	"crypto/rand"
	"testing"

	"filippo.io/edwards25519"
)

// strictPointReference is the definition strictEncoding implements without
// decoding: b decodes to a point, re-encodes to itself, and the point is not
// of small order.
func strictPointReference(b []byte) bool {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return false
	}
	if !bytes.Equal(p.Bytes(), b) {
		return false
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1
}

// TestStrictEncodingMatchesReference compares strictEncoding with the
// decoding definition on every encoding that decodes, at the edges (y near
// 0, 1, p − 1, p and 2^255 − 1, both signs, the torsion points) and at random.
func TestStrictEncodingMatchesReference(t *testing.T) {
	var cases [][]byte
	add := func(b []byte) {
		for _, sign := range []byte{0, 0x80} {
			c := bytes.Clone(b)
			c[31] = c[31]&0x7f | sign
			cases = append(cases, c)
		}
	}
	for y := range 40 {
		b := make([]byte, 32)
		b[0] = byte(y)
		add(b)
	}
	for d := range 40 { // 2^255 − 1 − d: covers p − 1, p, p + 1, ...
		b := bytes.Repeat([]byte{0xff}, 32)
		b[31] = 0x7f
		b[0] = byte(0xff - d)
		add(b)
	}
	for i := range smallOrderEncodings {
		add(smallOrderEncodings[i][:])
	}
	for range 20000 {
		b := make([]byte, 32)
		rand.Read(b)
		cases = append(cases, b)
	}
	// Random points, which random bytes are only half the time.
	for range 2000 {
		var s [64]byte
		rand.Read(s[:])
		x, _ := edwards25519.NewScalar().SetUniformBytes(s[:])
		cases = append(cases, new(edwards25519.Point).ScalarBaseMult(x).Bytes())
	}
	decoded := 0
	for _, b := range cases {
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil {
			continue // Verify reports non-points through crypto/ed25519
		}
		decoded++
		if got, want := strictEncoding(b), strictPointReference(b); got != want {
			t.Errorf("%x: strictEncoding = %v, reference %v", b, got, want)
		}
	}
	if decoded < 10000 {
		t.Fatalf("only %d cases decode", decoded)
	}
}
