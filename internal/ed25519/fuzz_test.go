package ed25519_test

import (
	"bytes"
	stded25519 "crypto/ed25519"
	"errors"
	"testing"

	"filippo.io/edwards25519"

	"github.com/souverain/e2ee/internal/ed25519"
)

// isStrictPoint is the fuzz oracle's own statement of Verify's point rule:
// b decodes, re-encodes to itself, and is none of the 8 small-order points.
func isStrictPoint(b []byte) bool {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil || !bytes.Equal(p.Bytes(), b) {
		return false
	}
	for _, s := range smallOrder {
		if s.canonical && bytes.Equal(b, hexBytes(s.hex)) {
			return false
		}
	}
	return true
}

// FuzzVerify checks that Verify never panics, that it accepts only what
// crypto/ed25519 accepts, and that it accepts all of that except keys and R
// values that are non-canonical or of small order.
func FuzzVerify(f *testing.F) {
	f.Add(hexBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), []byte{},
		hexBytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		err := ed25519.Verify(pub, msg, sig)
		if err != nil && !errors.Is(err, ed25519.ErrInvalidKey) && !errors.Is(err, ed25519.ErrBadSignature) {
			t.Fatalf("Verify error %v wraps neither sentinel", err)
		}
		if len(pub) != stded25519.PublicKeySize {
			if !errors.Is(err, ed25519.ErrInvalidKey) {
				t.Fatalf("public key of %d bytes: error = %v", len(pub), err)
			}
			return
		}
		std := stded25519.Verify(pub, msg, sig)
		if err == nil && !std {
			t.Fatalf("Verify accepted what crypto/ed25519 rejects: pub %x msg %x sig %x", pub, msg, sig)
		}
		strict := isStrictPoint(pub) && len(sig) == 64 && isStrictPoint(sig[:32])
		if std && strict && err != nil {
			t.Fatalf("Verify rejected a strict signature crypto/ed25519 accepts: %v", err)
		}
		if err == nil && !strict {
			t.Fatalf("Verify accepted a non-strict key or R: pub %x sig %x", pub, sig)
		}
		if !isStrictPoint(pub) && !errors.Is(err, ed25519.ErrInvalidKey) {
			t.Fatalf("non-strict public key %x: error = %v, want ErrInvalidKey", pub, err)
		}
	})
}
