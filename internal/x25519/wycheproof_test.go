package x25519_test

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/wycheproof"
	"github.com/souverain/e2ee/internal/x25519"
)

// x25519Overrides lists the Wycheproof vectors whose outcome here differs
// from "the shared secret the file gives", with the reason. Wycheproof marks
// low-order public keys (all-zero result) "acceptable": an implementation
// may return the zero secret or refuse. SECURITY 4 requires refusing, so
// every vector whose expected secret is all zeros expects ErrLowOrder; that
// rule is in wantLowOrder, not repeated here. No other vector is overridden:
// twist points, non-canonical u (2^255-19 and above) and a set top bit are
// all computed as RFC 7748 says (top bit ignored, u reduced modulo p), which
// is what libolm and crypto/ecdh do.
var x25519Overrides = map[int]string{}

// wantLowOrder reports whether SharedSecret must refuse the vector: its
// expected secret is all zeros.
func wantLowOrder(v wycheproof.X25519Vector) bool {
	return bytes.Equal(v.Shared, make([]byte, 32))
}

// TestWycheproof runs every vector of x25519_test.json through SharedSecret
// and, as a cross-check, crypto/ecdh: the secret must match the file's, and
// an all-zero secret must be refused with ErrLowOrder.
func TestWycheproof(t *testing.T) {
	vectors, err := wycheproof.X25519()
	if err != nil {
		t.Fatal(err)
	}
	var ran, refused int
	for _, v := range vectors {
		if reason, ok := x25519Overrides[v.ID]; ok {
			t.Fatalf("tcId %d: override %q has no rule here", v.ID, reason)
		}
		if len(v.Private) != 32 || len(v.Public) != 32 || len(v.Shared) != 32 {
			t.Fatalf("tcId %d: lengths %d, %d, %d", v.ID, len(v.Private), len(v.Public), len(v.Shared))
		}
		got, err := x25519.SharedSecret((*[32]byte)(v.Private), (*[32]byte)(v.Public))
		if wantLowOrder(v) {
			if !errors.Is(err, x25519.ErrLowOrder) || got != [32]byte{} {
				t.Errorf("tcId %d (%s %v): got %x, %v; want ErrLowOrder and a zero secret", v.ID, v.Comment, v.Flags, got, err)
			}
			refused++
		} else if err != nil || !bytes.Equal(got[:], v.Shared) {
			t.Errorf("tcId %d (%s %v): got %x, %v; want %x", v.ID, v.Comment, v.Flags, got, err, v.Shared)
		}

		// crypto/ecdh agrees, including on what it refuses.
		priv, err := ecdh.X25519().NewPrivateKey(v.Private)
		if err != nil {
			t.Fatalf("tcId %d: ecdh private key: %v", v.ID, err)
		}
		pub, err := ecdh.X25519().NewPublicKey(v.Public)
		if err != nil {
			t.Fatalf("tcId %d: ecdh public key: %v", v.ID, err)
		}
		std, err := priv.ECDH(pub)
		if (err != nil) != wantLowOrder(v) || (err == nil && !bytes.Equal(std, v.Shared)) {
			t.Errorf("tcId %d: crypto/ecdh got %x, %v", v.ID, std, err)
		}
		ran++
	}
	// Every LowOrderPublic or ZeroSharedSecret vector is one we refused.
	var flagged int
	for _, v := range vectors {
		if v.HasFlag("LowOrderPublic") || v.HasFlag("ZeroSharedSecret") {
			flagged++
			if !wantLowOrder(v) {
				t.Errorf("tcId %d: flagged %v but the secret is not zero", v.ID, v.Flags)
			}
		}
	}
	if ran != len(vectors) || flagged != refused {
		t.Errorf("ran %d of %d vectors; refused %d, flagged low-order %d", ran, len(vectors), refused, flagged)
	}
	t.Logf("x25519: %d Wycheproof vectors run, %d all-zero results refused", ran, refused)
}
