// Package cipher implements the authenticated encryption that Olm, Megolm and
// libolm's pickles share: a secret is expanded with HKDF-SHA-256 into an
// AES-256 key, an HMAC-SHA-256 key and an IV; the plaintext is encrypted with
// AES-256-CBC and PKCS#7 padding; and a MAC of HMAC-SHA-256 over the
// authenticated bytes is appended, truncated to 8 bytes in version 1 of the
// protocols and kept whole in version 2.
//
// See the Olm specification, "Olm Authenticated Encryption".
package cipher

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// HKDF info strings.
const (
	InfoOlm    = "OLM_KEYS"    // Olm message keys
	InfoMegolm = "MEGOLM_KEYS" // Megolm message keys
	InfoPickle = "Pickle"      // libolm pickles
	InfoPK     = ""            // PK (backup) encryption: the empty string
)

// MAC sizes.
const (
	TruncatedMACSize = 8  // version 1 of Olm and Megolm, libolm pickles
	FullMACSize      = 32 // version 2
)

// Errors returned by Decrypt.
var (
	ErrLength  = errors.New("cipher: ciphertext is not a positive multiple of the block size")
	ErrPadding = errors.New("cipher: bad padding")
)

// Keys holds the AES key, HMAC key and IV expanded from one secret. All three
// are secret. The zero value is not usable; call Derive.
type Keys struct {
	aesKey [32]byte
	macKey [32]byte
	iv     [16]byte
}

// Derive expands secret with HKDF-SHA-256 (no salt, that is 32 zero bytes)
// under info into 80 bytes: AES key ‖ HMAC key ‖ IV.
func Derive(secret []byte, info string) Keys {
	var out [80]byte
	HKDF(out[:], secret, nil, info)
	var k Keys
	copy(k.aesKey[:], out[:32])
	copy(k.macKey[:], out[32:64])
	copy(k.iv[:], out[64:80])
	clear(out[:])
	return k
}

// CiphertextLen returns the length of the AES-CBC ciphertext of a plaintext
// of n bytes: the next multiple of 16 above n.
func CiphertextLen(n int) int {
	return n + aes.BlockSize - n%aes.BlockSize
}

// Encrypt appends to dst the AES-256-CBC encryption of plaintext with PKCS#7
// padding and returns the extended slice.
func (k *Keys) Encrypt(dst, plaintext []byte) []byte {
	block, err := aes.NewCipher(k.aesKey[:])
	if err != nil {
		panic("cipher: " + err.Error()) // the key is always 32 bytes
	}
	n := CiphertextLen(len(plaintext))
	dst = grow(dst, n)
	out := dst[len(dst)-n:]
	copy(out, plaintext)
	pad := byte(n - len(plaintext))
	for i := len(plaintext); i < n; i++ {
		out[i] = pad
	}
	// CBC by hand over the block cipher: crypto/cipher's CBC modes
	// allocate their state on every call.
	prev := k.iv[:]
	for i := 0; i < n; i += aes.BlockSize {
		b := out[i : i+aes.BlockSize]
		subtle.XORBytes(b, b, prev)
		block.Encrypt(b, b)
		prev = b
	}
	return dst
}

// grow extends b by n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, len(b)+n)
	copy(nb, b)
	return nb
}

// Decrypt returns the AES-256-CBC decryption of ciphertext with the PKCS#7
// padding removed. Callers must check the MAC first: Decrypt does not
// authenticate. It returns ErrLength or ErrPadding on malformed input and
// never panics. The padding must be exact PKCS#7: libolm also accepts a
// padding byte of 0, padding bytes that disagree, and more than a block of
// padding, but only a holder of the message key can produce those, and its
// encoder never does.
func (k *Keys) Decrypt(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, ErrLength
	}
	block, err := aes.NewCipher(k.aesKey[:])
	if err != nil {
		panic("cipher: " + err.Error())
	}
	// The blocks are decrypted first and chained after, with one XOR over
	// the whole message: unlike encryption, CBC decryption has no
	// dependency between blocks, so the processor overlaps the AES rounds
	// of consecutive blocks, and the chaining is one call instead of one
	// per block.
	out := make([]byte, len(ciphertext))
	for i := 0; i < len(out); i += aes.BlockSize {
		block.Decrypt(out[i:i+aes.BlockSize], ciphertext[i:i+aes.BlockSize])
	}
	subtle.XORBytes(out[:aes.BlockSize], out[:aes.BlockSize], k.iv[:])
	subtle.XORBytes(out[aes.BlockSize:], out[aes.BlockSize:], ciphertext[:len(ciphertext)-aes.BlockSize])
	plain, err := unpad(out)
	if err != nil {
		clear(out)
	}
	return plain, err
}

// DecryptInPlace is Decrypt decrypting buf in place: it returns the
// plaintext as a prefix of buf and allocates nothing but the block cipher's
// key schedule. On error it returns nil and buf is zeroed, since it may hold
// part of the plaintext.
func (k *Keys) DecryptInPlace(buf []byte) ([]byte, error) {
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, ErrLength
	}
	block, err := aes.NewCipher(k.aesKey[:])
	if err != nil {
		panic("cipher: " + err.Error())
	}
	// From the last block back to the first, so that each block is chained
	// with the ciphertext block before it, not yet overwritten. The blocks
	// still do not depend on each other, and their AES rounds overlap.
	for i := len(buf) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		b := buf[i : i+aes.BlockSize]
		block.Decrypt(b, b)
		prev := k.iv[:]
		if i > 0 {
			prev = buf[i-aes.BlockSize : i]
		}
		xorBlock(b, prev)
	}
	out, err := unpad(buf)
	if err != nil {
		clear(buf)
	}
	return out, err
}

// xorBlock sets the 16 bytes of dst to dst ⊕ src: inline, where a call to
// subtle.XORBytes per block costs as much as the block's decryption.
func xorBlock(dst, src []byte) {
	_, _ = dst[15], src[15]
	binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(dst)^binary.LittleEndian.Uint64(src))
	binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(dst[8:])^binary.LittleEndian.Uint64(src[8:]))
}

// unpad removes the PKCS#7 padding of a decrypted message.
func unpad(out []byte) ([]byte, error) {
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, ErrPadding
	}
	// The MAC has been checked, so the padding is not secret-dependent
	// input from an attacker; still, check it without early exit.
	bad := 0
	for _, c := range out[len(out)-pad:] {
		bad |= int(c) ^ pad
	}
	if bad != 0 {
		return nil, ErrPadding
	}
	return out[:len(out)-pad], nil
}

// MAC returns the full HMAC-SHA-256 of data under the HMAC key.
func (k *Keys) MAC(data []byte) [32]byte {
	return HMAC(&k.macKey, data)
}

// VerifyMAC reports, in constant time, whether mac equals the first len(mac)
// bytes of the HMAC-SHA-256 of data. A mac of any length other than
// TruncatedMACSize or FullMACSize is refused.
func (k *Keys) VerifyMAC(data, mac []byte) bool {
	if len(mac) != TruncatedMACSize && len(mac) != FullMACSize {
		return false
	}
	sum := k.MAC(data)
	return subtle.ConstantTimeCompare(sum[:len(mac)], mac) == 1
}

// Clear overwrites the keys with zeros.
func (k *Keys) Clear() {
	clear(k.aesKey[:])
	clear(k.macKey[:])
	clear(k.iv[:])
}
