package cipher

import "crypto/sha256"

// HMACByte returns HMAC-SHA-256 with a 32-byte key over a one-byte message:
// the step of the Olm chain ratchet and of the Megolm ratchet. It computes
// the HMAC from its definition with two SHA-256 hashes over stack buffers,
// so it does not allocate; crypto/hmac allocates a hash state per call,
// which dominated the cost of a ratchet step. The key is secret.
func HMACByte(key *[32]byte, b byte) [32]byte {
	var inner [sha256.BlockSize + 1]byte
	for i := range 32 {
		inner[i] = key[i] ^ 0x36
	}
	for i := 32; i < sha256.BlockSize; i++ {
		inner[i] = 0x36
	}
	inner[sha256.BlockSize] = b
	ih := sha256.Sum256(inner[:])

	var outer [sha256.BlockSize + sha256.Size]byte
	for i := range 32 {
		outer[i] = key[i] ^ 0x5c
	}
	for i := 32; i < sha256.BlockSize; i++ {
		outer[i] = 0x5c
	}
	copy(outer[sha256.BlockSize:], ih[:])
	out := sha256.Sum256(outer[:])
	clear(inner[:])
	clear(outer[:])
	return out
}
