package ed25519_test

import (
	"bytes"
	stded25519 "crypto/ed25519"
	"crypto/sha512"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"

	"github.com/souverain/e2ee/internal/ed25519"
)

// checkVerifyingKey checks that a VerifyingKey made from pub accepts exactly
// what Verify accepts, with the same error class: ErrInvalidKey from
// NewVerifyingKey where Verify says ErrInvalidKey, else ErrBadSignature from
// both.
func checkVerifyingKey(t testing.TB, pub, msg, sig []byte) {
	t.Helper()
	want := ed25519.Verify(pub, msg, sig)
	k, err := ed25519.NewVerifyingKey(pub)
	if err != nil {
		if !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Fatalf("NewVerifyingKey(%x): %v wraps no sentinel", pub, err)
		}
		if !errors.Is(want, ed25519.ErrInvalidKey) {
			t.Fatalf("NewVerifyingKey(%x) refused a key Verify takes (%v): %v", pub, want, err)
		}
		return
	}
	if b := k.Bytes(); !bytes.Equal(b[:], pub) {
		t.Fatal("Bytes")
	}
	// The first use decodes only; from the second on the key's tables
	// are used: both must agree with Verify.
	for range 3 {
		checkSame(t, pub, msg, sig, want, k.Verify(msg, sig))
	}
}

func checkSame(t testing.TB, pub, msg, sig []byte, want, got error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("VerifyingKey refused what Verify accepts: pub %x msg %x sig %x: %v", pub, msg, sig, got)
	case want != nil && got == nil:
		t.Fatalf("VerifyingKey accepted what Verify refuses (%v): pub %x msg %x sig %x", want, pub, msg, sig)
	case want != nil && !(errors.Is(want, ed25519.ErrBadSignature) && errors.Is(got, ed25519.ErrBadSignature)):
		t.Fatalf("error classes differ: Verify %v, VerifyingKey %v", want, got)
	}
}

// TestVerifyingKeyMatchesVerify runs the two on valid signatures, every
// byte of them flipped, small-order and non-canonical keys and R values,
// non-canonical S, and wrong lengths.
func TestVerifyingKeyMatchesVerify(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	seed := make([]byte, 32)
	keys := 40
	if testing.Short() {
		keys = 4 // the race detector makes each verification 20 times slower
	}
	for i := range keys {
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		k, _ := ed25519.NewKeyFromSeed(seed)
		pub := k.Public()
		msg := make([]byte, i*37)
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		sig := k.Sign(msg)
		checkVerifyingKey(t, pub[:], msg, sig[:])
		for j := range sig {
			bad := sig
			bad[j] ^= byte(1 << (j % 8))
			checkVerifyingKey(t, pub[:], msg, bad[:])
		}
		if len(msg) > 0 {
			checkVerifyingKey(t, pub[:], msg[1:], sig[:])
		}
		checkVerifyingKey(t, pub[:], msg, sig[:63])
		checkVerifyingKey(t, pub[:], msg, append(sig[:], 0))
		checkVerifyingKey(t, pub[:], msg, nil)
		// Another key.
		other := pub
		other[0] ^= 1
		checkVerifyingKey(t, other[:], msg, sig[:])
	}

	k, _ := ed25519.NewKeyFromSeed(mustB64(t, matrixSeed))
	exp, pub := k.Expanded(), k.Public()
	a, _ := new(edwards25519.Scalar).SetBytesWithClamping(exp[:32])
	msg := []byte(`{"one":1,"two":"Two"}`)
	sig := k.Sign(msg)
	for _, p := range smallOrder {
		b := mustHex(t, p.hex)
		// As a key, with the identity forgery crypto/ed25519 accepts.
		forgery := make([]byte, 64)
		forgery[0] = 1
		checkVerifyingKey(t, b, msg, forgery)
		checkVerifyingKey(t, b, msg, sig[:])
		// As R, with S = k·a, which the cofactorless equation accepts
		// for the identity.
		h := sha512.New()
		h.Write(b)
		h.Write(pub[:])
		h.Write(msg)
		c, _ := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
		S := new(edwards25519.Scalar).Multiply(c, a)
		checkVerifyingKey(t, pub[:], msg, append(bytes.Clone(b), S.Bytes()...))
	}
	// Non-canonical S.
	s := leToInt(sig[32:])
	for _, bad := range []*big.Int{new(big.Int).Add(s, groupOrder), groupOrder, new(big.Int).Add(s, new(big.Int).Lsh(groupOrder, 1))} {
		forged := sig
		copy(forged[32:], intToLE(bad))
		checkVerifyingKey(t, pub[:], msg, forged[:])
	}
	// Non-canonical keys: y + p for the points with small y.
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for y := int64(0); y < 19; y++ {
		for _, sign := range []byte{0, 0x80} {
			nonCanon := intToLE(new(big.Int).Add(big.NewInt(y), p))
			nonCanon[31] |= sign
			checkVerifyingKey(t, nonCanon, msg, sig[:])
		}
	}
	// Keys that are not points, and wrong lengths.
	for _, b := range [][]byte{nil, pub[:31], append(pub[:], 0), bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{2}, 32)} {
		checkVerifyingKey(t, b, msg, sig[:])
	}
	if !stded25519.Verify(pub[:], msg, sig[:]) {
		t.Fatal("the fixture's signature does not verify")
	}
}

// FuzzVerifyingKey checks VerifyingKey against Verify on any input.
func FuzzVerifyingKey(f *testing.F) {
	f.Add(hexBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), []byte{},
		hexBytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(hexBytes("0100000000000000000000000000000000000000000000000000000000000000"), []byte("m"),
		append([]byte{1}, make([]byte, 63)...))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		checkVerifyingKey(t, pub, msg, sig)
	})
}

// BenchmarkVerifyingKey verifies with a key that keeps its tables (every
// use after the first); compare with BenchmarkVerify, same message.
func BenchmarkVerifyingKey(b *testing.B) {
	k, _ := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := k.Public()
	msg := make([]byte, 64)
	sig := k.Sign(msg)
	vk, _ := ed25519.NewVerifyingKey(pub[:])
	b.ReportAllocs()
	for b.Loop() {
		if err := vk.Verify(msg, sig[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyingKeyFirstTwo decodes a key and verifies two signatures
// with it: the first without tables, the second after building them, the
// worst case of the tables.
func BenchmarkVerifyingKeyFirstTwo(b *testing.B) {
	k, _ := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := k.Public()
	msg := make([]byte, 64)
	sig := k.Sign(msg)
	b.ReportAllocs()
	for b.Loop() {
		vk, err := ed25519.NewVerifyingKey(pub[:])
		if err != nil || vk.Verify(msg, sig[:]) != nil || vk.Verify(msg, sig[:]) != nil {
			b.Fatal("verify")
		}
	}
}
