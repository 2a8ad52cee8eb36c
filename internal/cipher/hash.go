package cipher

import (
	"crypto/sha256"
	"hash"
	"sync"
)

// Keyed hashing without allocations. crypto/hmac and crypto/hkdf allocate
// fresh hash states on every call, which made up most of the allocations of
// a ratchet step. Here the SHA-256 states are pooled, every key in this
// protocol family is 32 bytes, and small inputs are copied into the pooled
// scratch buffer so that callers' stack arrays do not escape through the
// hash.Hash interface. The trade-off is a little copying of at most 128
// bytes.

type hashState struct {
	h       hash.Hash
	pad     [sha256.BlockSize]byte
	scratch [256]byte
}

var statePool = sync.Pool{New: func() any { return &hashState{h: sha256.New()} }}

func getState() *hashState { return statePool.Get().(*hashState) }

func putState(st *hashState) {
	clear(st.pad[:])
	clear(st.scratch[:])
	st.h.Reset()
	statePool.Put(st)
}

// begin starts an HMAC with key: the hash holds (key ⊕ ipad).
func (st *hashState) begin(key *[32]byte) {
	for i := range 32 {
		st.pad[i] = key[i] ^ 0x36
	}
	for i := 32; i < sha256.BlockSize; i++ {
		st.pad[i] = 0x36
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
}

// finish completes the HMAC begun with key and returns it.
func (st *hashState) finish(key *[32]byte) [32]byte {
	inner := st.h.Sum(st.scratch[:0])
	for i := range 32 {
		st.pad[i] = key[i] ^ 0x5c
	}
	for i := 32; i < sha256.BlockSize; i++ {
		st.pad[i] = 0x5c
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
	st.h.Write(inner)
	var out [32]byte
	copy(out[:], st.h.Sum(st.scratch[:0]))
	return out
}

// HMAC returns HMAC-SHA-256 of data under a 32-byte key, without
// allocating. data may be of any length.
func HMAC(key *[32]byte, data []byte) [32]byte {
	st := getState()
	defer putState(st)
	st.begin(key)
	st.h.Write(data)
	return st.finish(key)
}

// HKDF fills out (at most 255×32 bytes; in practice 64 or 80) with
// HKDF-SHA-256 of ikm under salt and info, without allocating. A nil salt
// means 32 zero bytes, as RFC 5869 and libolm have it. ikm may have any
// length (libolm's pickle keys do); info is one of this module's constants.
func HKDF(out []byte, ikm []byte, salt *[32]byte, info string) {
	if len(info) > 200 || len(out) > 255*32 {
		panic("cipher: HKDF info or output too long")
	}
	var zero [32]byte
	if salt == nil {
		salt = &zero
	}
	st := getState()
	defer putState(st)
	// Extract.
	st.begin(salt)
	if len(ikm) <= len(st.scratch) {
		// Copied so that a caller's stack array does not escape.
		n := copy(st.scratch[:], ikm)
		st.h.Write(st.scratch[:n])
	} else {
		st.h.Write(ikm)
	}
	prk := st.finish(salt)
	// Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
	var t [32]byte
	for i, pos := 1, 0; pos < len(out); i++ {
		st.begin(&prk)
		n := 0
		if i > 1 {
			n = copy(st.scratch[:], t[:])
		}
		n += copy(st.scratch[n:], info)
		st.scratch[n] = byte(i)
		st.h.Write(st.scratch[:n+1])
		t = st.finish(&prk)
		pos += copy(out[pos:], t[:])
	}
	clear(prk[:])
	clear(t[:])
}
