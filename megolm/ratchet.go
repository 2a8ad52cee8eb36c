package megolm

import (
	"crypto/subtle"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/wipe"
)

// RatchetSize is the size of the Megolm ratchet state R0‖R1‖R2‖R3.
const RatchetSize = 4 * 32

// ratchet is the Megolm ratchet: four 32-byte parts and a counter. It is
// secret. Part j is rehashed with H_j(A) = HMAC-SHA-256(A, byte j); R3 moves
// on every step, R2 every 2^8, R1 every 2^16 and R0 every 2^24, each time
// reseeding the parts below it.
type ratchet struct {
	parts   [4][32]byte
	counter uint32
}

// rehash sets part to of the ratchet to H_to(part from).
func (r *ratchet) rehash(from, to int) {
	r.parts[to] = cipher.HMACByte(&r.parts[from], byte(to))
}

// advance moves the ratchet one step, as libolm's megolm_advance.
func (r *ratchet) advance() {
	r.counter++
	// Find the most significant part that must change; at h = 3 the mask
	// is zero, so the loop always ends there.
	h := 0
	mask := uint32(0x00ffffff)
	for h < 4 && r.counter&mask != 0 {
		h++
		mask >>= 8
	}
	// Parts h+1..3 derive from the old R_h, which is rewritten last.
	for i := 3; i >= h; i-- {
		r.rehash(h, i)
	}
}

// advanceTo moves the ratchet forward to index target in at most
// 4×255 + 10 = 1030 hash steps, whatever the distance (libolm's
// megolm_advance_to): each part is rehashed by the difference of its byte of
// the counter, and the parts below it reseeded once. A target below the
// counter wraps around 2^32; callers never ask for that.
func (r *ratchet) advanceTo(target uint32) {
	for j := range 4 {
		shift := uint(8 * (3 - j))
		mask := ^uint32(0) << shift
		steps := ((target >> shift) - (r.counter >> shift)) & 0xff
		if steps == 0 {
			if target < r.counter {
				steps = 0x100
			} else {
				continue
			}
		}
		for ; steps > 1; steps-- {
			r.rehash(j, j)
		}
		for k := 3; k >= j; k-- {
			r.rehash(j, k)
		}
		r.counter = target & mask
	}
}

// putBytes writes R0‖R1‖R2‖R3 into b, which the caller provides (and
// clears) so that no copy is left in a stack frame.
func (r *ratchet) putBytes(b *[RatchetSize]byte) {
	for j := range 4 {
		copy(b[32*j:], r.parts[j][:])
	}
}

// bytes returns R0‖R1‖R2‖R3 (tests only).
func (r *ratchet) bytes() [RatchetSize]byte {
	var b [RatchetSize]byte
	r.putBytes(&b)
	return b
}

func (r *ratchet) setBytes(b []byte) {
	for j := range 4 {
		copy(r.parts[j][:], b[32*j:32*j+32])
	}
}

// keys returns the message keys at the current index: HKDF of the whole
// ratchet under "MEGOLM_KEYS".
func (r *ratchet) keys() cipher.Keys {
	var b [RatchetSize]byte
	r.putBytes(&b)
	k := cipher.Derive(b[:], cipher.InfoMegolm)
	clear(b[:])
	return k
}

// equal compares two ratchets' state in constant time.
func (r *ratchet) equal(o *ratchet) bool {
	var a, b [RatchetSize]byte
	r.putBytes(&a)
	o.putBytes(&b)
	eq := subtle.ConstantTimeCompare(a[:], b[:]) == 1 && r.counter == o.counter
	clear(a[:])
	clear(b[:])
	return eq
}

func (r *ratchet) clear() {
	for j := range r.parts {
		wipe.Array32(&r.parts[j])
	}
}
