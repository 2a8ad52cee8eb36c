package cipher_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/cipher"
)

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	for n := 0; n < 300; n += 7 {
		var key [32]byte
		rand.Read(key[:])
		data := make([]byte, n)
		rand.Read(data)
		h := hmac.New(sha256.New, key[:])
		h.Write(data)
		if got := cipher.HMAC(&key, data); !bytes.Equal(got[:], h.Sum(nil)) {
			t.Fatalf("HMAC of %d bytes differs", n)
		}
	}
}

func TestHKDFMatchesCryptoHKDF(t *testing.T) {
	for _, outLen := range []int{32, 64, 80, 100} {
		for _, ikmLen := range []int{0, 32, 96, 128, 255, 256, 257, 1000} {
			for _, withSalt := range []bool{false, true} {
				ikm := make([]byte, ikmLen)
				rand.Read(ikm)
				var salt [32]byte
				rand.Read(salt[:])
				var saltArg *[32]byte
				var saltBytes []byte
				if withSalt {
					saltArg, saltBytes = &salt, salt[:]
				}
				for _, info := range []string{"", "OLM_RATCHET", strings.Repeat("i", 190), strings.Repeat("j", 223), strings.Repeat("k", 224), strings.Repeat("l", 600)} {
					want, _ := hkdf.Key(sha256.New, ikm, saltBytes, info, outLen)
					got := make([]byte, outLen)
					cipher.HKDF(got, ikm, saltArg, info)
					if !bytes.Equal(got, want) {
						t.Fatalf("HKDF out=%d ikm=%d salt=%v info=%d differs", outLen, ikmLen, withSalt, len(info))
					}
				}
			}
		}
	}
}

func TestHashingDoesNotAllocate(t *testing.T) {
	var key [32]byte
	data := make([]byte, 1000)
	var ikm [128]byte
	var out [80]byte
	if n := testing.AllocsPerRun(100, func() { cipher.HMAC(&key, data) }); n != 0 {
		t.Errorf("HMAC allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { cipher.HKDF(out[:], ikm[:], nil, "MEGOLM_KEYS") }); n != 0 {
		t.Errorf("HKDF allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { cipher.Derive(ikm[:], cipher.InfoMegolm) }); n != 0 {
		t.Errorf("Derive allocates %v times", n)
	}
}
