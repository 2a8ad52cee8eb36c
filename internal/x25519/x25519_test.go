package x25519_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/x25519"
)

func h32(t *testing.T, s string) *[32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatal("bad hex")
	}
	return (*[32]byte)(b)
}

// RFC 7748, section 6.1.
func TestRFC7748(t *testing.T) {
	alicePriv := h32(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	alicePub := h32(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPriv := h32(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	bobPub := h32(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := h32(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	if got := x25519.PublicKey(alicePriv); got != *alicePub {
		t.Fatalf("alice public %x", got)
	}
	if got := x25519.PublicKey(bobPriv); got != *bobPub {
		t.Fatalf("bob public %x", got)
	}
	s1, err1 := x25519.SharedSecret(alicePriv, bobPub)
	s2, err2 := x25519.SharedSecret(bobPriv, alicePub)
	if err1 != nil || err2 != nil || s1 != *shared || s2 != *shared {
		t.Fatalf("shared secrets %x %x, want %x", s1, s2, *shared)
	}
}

func TestMatchesCryptoECDH(t *testing.T) {
	for range 500 {
		var a, b [32]byte
		rand.Read(a[:])
		rand.Read(b[:])
		ka, _ := ecdh.X25519().NewPrivateKey(a[:])
		kb, _ := ecdh.X25519().NewPrivateKey(b[:])
		pa := x25519.PublicKey(&a)
		if !bytes.Equal(pa[:], ka.PublicKey().Bytes()) {
			t.Fatalf("public key of %x differs", a)
		}
		pb := x25519.PublicKey(&b)
		want, _ := ka.ECDH(kb.PublicKey())
		got, err := x25519.SharedSecret(&a, &pb)
		if err != nil || !bytes.Equal(got[:], want) {
			t.Fatalf("shared secret differs")
		}
		// Arbitrary 32-byte strings as peer keys, including high bit set.
		var u [32]byte
		rand.Read(u[:])
		pu, err := ecdh.X25519().NewPublicKey(u[:])
		if err != nil {
			t.Fatal(err)
		}
		want, werr := ka.ECDH(pu)
		got, gerr := x25519.SharedSecret(&a, &u)
		if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(got[:], want)) {
			t.Fatalf("arbitrary point %x: %v %v", u, werr, gerr)
		}
	}
}

func TestLowOrderRefused(t *testing.T) {
	points := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
		"4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
		"d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	}
	var priv [32]byte
	rand.Read(priv[:])
	k, _ := ecdh.X25519().NewPrivateKey(priv[:])
	for i, p := range points {
		_, err := x25519.SharedSecret(&priv, h32(t, p))
		pub, _ := ecdh.X25519().NewPublicKey(h32(t, p)[:])
		_, werr := k.ECDH(pub)
		if (err == nil) != (werr == nil) {
			t.Errorf("point %s: ours %v, crypto/ecdh %v", p, err, werr)
		}
		// The seven canonical small-order points are always refused.
		if i < 7 && !errors.Is(err, x25519.ErrLowOrder) {
			t.Errorf("low-order point %s: %v", p, err)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	var a, b [32]byte
	rand.Read(a[:])
	pb := x25519.PublicKey(&b)
	if n := testing.AllocsPerRun(10, func() { x25519.PublicKey(&a) }); n != 0 {
		t.Errorf("PublicKey allocates %v times", n)
	}
	if n := testing.AllocsPerRun(10, func() { x25519.SharedSecret(&a, &pb) }); n != 0 {
		t.Errorf("SharedSecret allocates %v times", n)
	}
}

func BenchmarkPublicKey(b *testing.B) {
	var a [32]byte
	rand.Read(a[:])
	for b.Loop() {
		x25519.PublicKey(&a)
	}
}

func BenchmarkSharedSecret(b *testing.B) {
	var a, c [32]byte
	rand.Read(a[:])
	rand.Read(c[:])
	pc := x25519.PublicKey(&c)
	for b.Loop() {
		x25519.SharedSecret(&a, &pc)
	}
}

func BenchmarkCryptoECDHNewPrivateKeyAndECDH(b *testing.B) {
	var a, c [32]byte
	rand.Read(a[:])
	rand.Read(c[:])
	kc, _ := ecdh.X25519().NewPrivateKey(c[:])
	for b.Loop() {
		ka, _ := ecdh.X25519().NewPrivateKey(a[:])
		ka.ECDH(kc.PublicKey())
	}
}
