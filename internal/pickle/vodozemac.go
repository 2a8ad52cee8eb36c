package pickle

import (
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/cipher"
)

// MaxVodozemacLen is the longest vodozemac pickle accepted, in bytes of
// text: vodozemac writes keys as JSON arrays of numbers, so an account
// holding 5000 one-time keys takes about 2 MiB.
const MaxVodozemacLen = 4 << 20

// DecryptVodozemac opens a pickle in vodozemac's own format: libolm's pickle
// cipher (see DecryptLibolm) under a 32-byte key, around a JSON document.
// It returns the JSON. A wrong key gives ErrBadKey; malformed text
// ErrCorrupted.
func DecryptVodozemac(key *[32]byte, text string) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrKeySize)
	}
	if len(text) > MaxVodozemacLen {
		return nil, fmt.Errorf("%w: %d bytes is longer than %d", ErrCorrupted, len(text), MaxVodozemacLen)
	}
	raw, err := b64.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	if len(raw) < cipher.TruncatedMACSize+16 || (len(raw)-cipher.TruncatedMACSize)%16 != 0 {
		return nil, fmt.Errorf("%w: bad length %d", ErrCorrupted, len(raw))
	}
	ct, mac := raw[:len(raw)-cipher.TruncatedMACSize], raw[len(raw)-cipher.TruncatedMACSize:]
	k := cipher.Derive(key[:], cipher.InfoPickle)
	defer k.Clear()
	if !k.VerifyMAC(ct, mac) {
		return nil, ErrBadKey
	}
	plain, err := k.Decrypt(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	return plain, nil
}

// EncryptVodozemac seals a JSON document as vodozemac pickles it.
func EncryptVodozemac(key *[32]byte, plain []byte) string {
	return EncryptLibolm(key[:], plain)
}
