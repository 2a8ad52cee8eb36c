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
	codec   stateCodec // h, to save and restore its state
	pad     [sha256.BlockSize]byte
	scratch [256]byte
	// ipad and opad are h's saved states after absorbing the current key's
	// pads, so that several HMACs under one key (HKDF's expansion) hash
	// each pad block once. They are secret.
	ipad, opad [stateSize]byte
}

// stateCodec saves and restores a SHA-256 state without allocating:
// crypto/sha256's digest implements it.
type stateCodec interface {
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(b []byte) error
}

// stateSize is the length of a saved SHA-256 state: a 4-byte magic, the 8
// chaining words, a block of buffered input, the length.
const stateSize = 4 + 32 + sha256.BlockSize + 8

func newHashState() *hashState {
	h := sha256.New()
	return &hashState{h: h, codec: h.(stateCodec)}
}

var statePool = sync.Pool{New: func() any { return newHashState() }}

func getState() *hashState { return statePool.Get().(*hashState) }

func putState(st *hashState) {
	clear(st.pad[:])
	clear(st.scratch[:])
	clear(st.ipad[:])
	clear(st.opad[:])
	st.h.Reset()
	statePool.Put(st)
}

// zeroIpad and zeroOpad are the saved states of an HMAC under the all-zero
// key, HKDF's default salt, which Derive uses for every message key: its
// extraction then hashes no pad block. They are public.
var zeroIpad, zeroOpad = zeroKeyPads()

func zeroKeyPads() (ipad, opad [stateSize]byte) {
	st := newHashState()
	st.keyPads(new([32]byte))
	return st.ipad, st.opad
}

// Pad bytes of HMAC.
const (
	ipad = 0x36
	opad = 0x5c
)

// startPad resets the hash and feeds it the block key ⊕ pad.
func (st *hashState) startPad(key *[32]byte, pad byte) {
	for i := range 32 {
		st.pad[i] = key[i] ^ pad
	}
	for i := 32; i < sha256.BlockSize; i++ {
		st.pad[i] = pad
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
}

// begin starts an HMAC with key: the hash holds (key ⊕ ipad).
func (st *hashState) begin(key *[32]byte) { st.startPad(key, ipad) }

// finish completes the HMAC begun with key and returns it.
func (st *hashState) finish(key *[32]byte) [32]byte {
	inner := st.h.Sum(st.scratch[:0])
	st.startPad(key, opad)
	st.h.Write(inner)
	var out [32]byte
	copy(out[:], st.h.Sum(st.scratch[:0]))
	return out
}

// keyPads saves in st.ipad and st.opad the states after key's inner and
// outer pads.
func (st *hashState) keyPads(key *[32]byte) {
	st.startPad(key, ipad)
	st.save(&st.ipad)
	st.startPad(key, opad)
	st.save(&st.opad)
}

func (st *hashState) save(dst *[stateSize]byte) {
	if _, err := st.codec.AppendBinary(dst[:0]); err != nil {
		panic("cipher: saving a SHA-256 state: " + err.Error())
	}
}

func (st *hashState) restore(src *[stateSize]byte) {
	if err := st.codec.UnmarshalBinary(src[:]); err != nil {
		panic("cipher: restoring a SHA-256 state: " + err.Error())
	}
}

// finishFrom completes an HMAC whose inner hash is in st.h, with the outer
// hash restored from opad.
func (st *hashState) finishFrom(opad *[stateSize]byte) [32]byte {
	inner := st.h.Sum(st.scratch[:0])
	st.restore(opad)
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
// means 32 zero bytes, as RFC 5869 and libolm have it. ikm and info may have
// any length (libolm's pickle keys, SAS info strings); short ones cost no
// allocation.
func HKDF(out []byte, ikm []byte, salt *[32]byte, info string) {
	if len(out) > 255*32 {
		panic("cipher: HKDF output too long")
	}
	st := getState()
	defer putState(st)
	// Extract. The pads of the default salt are hashed once for all.
	if salt == nil {
		st.restore(&zeroIpad)
	} else {
		st.begin(salt)
	}
	if len(ikm) <= len(st.scratch) {
		// Copied so that a caller's stack array does not escape.
		n := copy(st.scratch[:], ikm)
		st.h.Write(st.scratch[:n])
	} else {
		st.h.Write(ikm)
	}
	var prk [32]byte
	if salt == nil {
		prk = st.finishFrom(&zeroOpad)
	} else {
		prk = st.finish(salt)
	}
	// Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i), each from the saved
	// pad states of PRK: two compressions per block instead of four,
	// against two state copies of about 100 bytes.
	if saveStates {
		st.keyPads(&prk)
	}
	var t [32]byte
	for i, pos := 1, 0; pos < len(out); i++ {
		if saveStates {
			st.restore(&st.ipad)
		} else {
			st.begin(&prk)
		}
		n := 0
		if i > 1 {
			n = copy(st.scratch[:], t[:])
		}
		if n+len(info)+1 <= len(st.scratch) {
			n += copy(st.scratch[n:], info)
		} else {
			// A long info (SAS info strings hold user and device IDs):
			// written directly, at the cost of one allocation.
			st.h.Write(st.scratch[:n])
			st.h.Write([]byte(info))
			n = 0
		}
		st.scratch[n] = byte(i)
		st.h.Write(st.scratch[:n+1])
		if saveStates {
			t = st.finishFrom(&st.opad)
		} else {
			t = st.finish(&prk)
		}
		pos += copy(out[pos:], t[:])
	}
	clear(prk[:])
	clear(t[:])
}
