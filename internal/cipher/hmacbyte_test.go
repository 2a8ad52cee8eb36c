package cipher_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/souverain/e2ee/internal/cipher"
)

func TestHMACByteMatchesCryptoHMAC(t *testing.T) {
	for i := range 1000 {
		var key [32]byte
		rand.Read(key[:])
		b := byte(i)
		h := hmac.New(sha256.New, key[:])
		h.Write([]byte{b})
		want := h.Sum(nil)
		if got := cipher.HMACByte(&key, b); string(got[:]) != string(want) {
			t.Fatalf("HMACByte(%x, %d) = %x, want %x", key, b, got, want)
		}
	}
}

func TestHMACByteDoesNotAllocate(t *testing.T) {
	var key [32]byte
	if n := testing.AllocsPerRun(100, func() { key = cipher.HMACByte(&key, 3) }); n != 0 {
		t.Fatalf("HMACByte allocates %v times", n)
	}
}

func BenchmarkHMACByte(b *testing.B) {
	var key [32]byte
	for b.Loop() {
		key = cipher.HMACByte(&key, 3)
	}
}

func BenchmarkCryptoHMACByte(b *testing.B) {
	var key [32]byte
	for b.Loop() {
		h := hmac.New(sha256.New, key[:])
		h.Write([]byte{3})
		h.Sum(key[:0])
	}
}
