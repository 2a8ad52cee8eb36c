package keybackup

import (
	stdcipher "crypto/cipher"
	"encoding/binary"
)

// xorCTR64 encrypts or decrypts src into dst with AES-CTR whose counter is
// the low 64 bits of the IV, big-endian, wrapping modulo 2^64 without
// carrying into the high 64 bits. This is WebCrypto's AES-CTR with
// length 64, which Element uses for key export files and secret storage.
//
// New IVs have bit 63 cleared (iv[8] &= 0x7f), so the low half never wraps
// within any message and the stream equals that of a 128-bit counter
// (crypto/cipher.NewCTR). Older or hostile files may carry any IV; the
// stream is then split at the wrap, as WebCrypto does it.
func xorCTR64(block stdcipher.Block, iv [16]byte, dst, src []byte) {
	low := binary.BigEndian.Uint64(iv[8:])
	blocks := uint64(len(src)+15) / 16
	// -low is the number of blocks before the low half wraps (2^64 - low);
	// low == 0 never wraps within a slice.
	if low == 0 || blocks <= -low {
		stdcipher.NewCTR(block, iv[:]).XORKeyStream(dst, src)
		return
	}
	first := int(-low) * 16 // < len(src), so it fits in an int
	stdcipher.NewCTR(block, iv[:]).XORKeyStream(dst[:first], src[:first])
	binary.BigEndian.PutUint64(iv[8:], 0)
	stdcipher.NewCTR(block, iv[:]).XORKeyStream(dst[first:], src[first:])
}
