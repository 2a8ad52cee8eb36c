package interop_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	xchacha "golang.org/x/crypto/chacha20poly1305"

	"github.com/souverain/e2ee/internal/chacha20poly1305"
)

// TestChaCha20Poly1305MatchesXCrypto checks souverain's ChaCha20-Poly1305
// (internal/chacha20poly1305, written from RFC 8439 for dehydrated devices,
// so that the core needs no golang.org/x/crypto) against x/crypto's on
// random keys, nonces, additional data and every plaintext length up to
// 300 bytes, both ways.
func TestChaCha20Poly1305MatchesXCrypto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for n := range 300 {
		key, nonce, aad, pt := fill(32), fill(12), fill(r.IntN(40)), fill(n)
		ours, err := chacha20poly1305.New(key)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := xchacha.New(key)
		if err != nil {
			t.Fatal(err)
		}
		ct := ours.Seal(nil, nonce, pt, aad)
		if want := theirs.Seal(nil, nonce, pt, aad); !bytes.Equal(ct, want) {
			t.Fatalf("length %d: sealed\n%x\nx/crypto\n%x", n, ct, want)
		}
		got, err := ours.Open(nil, nonce, ct, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("length %d: open: %v", n, err)
		}
		if n > 0 {
			ct[r.IntN(len(ct))] ^= 1 << r.IntN(8)
			_, errOurs := ours.Open(nil, nonce, ct, aad)
			_, errTheirs := theirs.Open(nil, nonce, ct, aad)
			if (errOurs == nil) != (errTheirs == nil) || errOurs == nil {
				t.Fatalf("length %d: tampered: ours %v, x/crypto %v", n, errOurs, errTheirs)
			}
		}
	}
}
