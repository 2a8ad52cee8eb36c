// Package chacha20poly1305 implements the ChaCha20-Poly1305 AEAD of RFC 8439
// (12-byte nonce, 16-byte tag), which vodozemac uses for dehydrated devices.
// The standard library has it only inside crypto/tls and crypto/hpke, not as
// a package the core may import, so it is written here from the RFC and
// checked against the RFC's test vectors.
//
// The implementation is portable Go without assembly: ChaCha20 with 32-bit
// words and Poly1305 with 64-bit limbs and math/bits, both free of
// secret-dependent branches and table lookups. The tag is compared in
// constant time before anything is decrypted.
package chacha20poly1305

import (
	stdcipher "crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math/bits"
)

// Sizes of the key, nonce and tag.
const (
	KeySize   = 32
	NonceSize = 12
	Overhead  = 16
)

// maxPlaintext is the longest plaintext one nonce can encrypt: the 32-bit
// block counter starts at 1 and covers 64-byte blocks.
const maxPlaintext = (1<<32 - 1) * 64

// ErrOpen means a ciphertext did not authenticate.
var ErrOpen = errors.New("chacha20poly1305: message authentication failed")

// ErrKeySize means a key is not KeySize bytes.
var ErrKeySize = errors.New("chacha20poly1305: key must be 32 bytes")

type aead struct {
	key [KeySize]byte
}

// New returns the AEAD for a 32-byte key, as a crypto/cipher.AEAD. The key
// is copied.
func New(key []byte) (stdcipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	a := new(aead)
	copy(a.key[:], key)
	return a, nil
}

func (a *aead) NonceSize() int { return NonceSize }
func (a *aead) Overhead() int  { return Overhead }

// Seal appends the ciphertext and tag of plaintext to dst. It panics on a
// nonce of the wrong size or a plaintext longer than 256 GiB, as the
// crypto/cipher.AEAD contract says.
func (a *aead) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != NonceSize {
		panic("chacha20poly1305: bad nonce length")
	}
	if uint64(len(plaintext)) > maxPlaintext {
		panic("chacha20poly1305: plaintext too large")
	}
	var st state
	st.init(&a.key, nonce)
	var polyKey [64]byte
	st.block(&polyKey, 0)
	ret, out := grow(dst, len(plaintext)+Overhead)
	st.xor(out[:len(plaintext)], plaintext, 1)
	tag := mac((*[32]byte)(polyKey[:32]), additionalData, out[:len(plaintext)])
	copy(out[len(plaintext):], tag[:])
	clear(polyKey[:])
	st.clear()
	return ret
}

// Open authenticates and decrypts ciphertext (with its tag at the end) and
// appends the plaintext to dst. Nothing is decrypted unless the tag
// verifies; a failure gives ErrOpen.
func (a *aead) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("chacha20poly1305: bad nonce length")
	}
	if len(ciphertext) < Overhead || uint64(len(ciphertext)-Overhead) > maxPlaintext {
		return nil, ErrOpen
	}
	ct, tag := ciphertext[:len(ciphertext)-Overhead], ciphertext[len(ciphertext)-Overhead:]
	var st state
	st.init(&a.key, nonce)
	defer st.clear()
	var polyKey [64]byte
	st.block(&polyKey, 0)
	want := mac((*[32]byte)(polyKey[:32]), additionalData, ct)
	clear(polyKey[:])
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		return nil, ErrOpen
	}
	ret, out := grow(dst, len(ct))
	st.xor(out, ct, 1)
	return ret, nil
}

// grow extends dst by n bytes and returns the whole slice and the new part.
func grow(dst []byte, n int) (whole, tail []byte) {
	total := len(dst) + n
	if cap(dst) >= total {
		whole = dst[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, dst)
	}
	return whole, whole[len(dst):]
}

// state is a ChaCha20 input block without its counter word.
type state [16]uint32

func (s *state) init(key *[KeySize]byte, nonce []byte) {
	s[0], s[1], s[2], s[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	for i := range 8 {
		s[4+i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	s[12] = 0
	s[13] = binary.LittleEndian.Uint32(nonce[0:])
	s[14] = binary.LittleEndian.Uint32(nonce[4:])
	s[15] = binary.LittleEndian.Uint32(nonce[8:])
}

func (s *state) clear() { clear(s[:]) }

func quarter(a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	a += b
	d = bits.RotateLeft32(d^a, 16)
	c += d
	b = bits.RotateLeft32(b^c, 12)
	a += b
	d = bits.RotateLeft32(d^a, 8)
	c += d
	b = bits.RotateLeft32(b^c, 7)
	return a, b, c, d
}

// block writes the keystream block for counter into out.
func (s *state) block(out *[64]byte, counter uint32) {
	x := *s
	x[12] = counter
	in := x
	for range 10 {
		x[0], x[4], x[8], x[12] = quarter(x[0], x[4], x[8], x[12])
		x[1], x[5], x[9], x[13] = quarter(x[1], x[5], x[9], x[13])
		x[2], x[6], x[10], x[14] = quarter(x[2], x[6], x[10], x[14])
		x[3], x[7], x[11], x[15] = quarter(x[3], x[7], x[11], x[15])
		x[0], x[5], x[10], x[15] = quarter(x[0], x[5], x[10], x[15])
		x[1], x[6], x[11], x[12] = quarter(x[1], x[6], x[11], x[12])
		x[2], x[7], x[8], x[13] = quarter(x[2], x[7], x[8], x[13])
		x[3], x[4], x[9], x[14] = quarter(x[3], x[4], x[9], x[14])
	}
	for i := range 16 {
		binary.LittleEndian.PutUint32(out[4*i:], x[i]+in[i])
	}
	clear(x[:])
	clear(in[:])
}

// xor writes src XOR the keystream starting at block counter into dst
// (len(dst) == len(src); they may be the same slice).
func (s *state) xor(dst, src []byte, counter uint32) {
	var ks [64]byte
	for len(src) > 0 {
		s.block(&ks, counter)
		counter++
		n := subtle.XORBytes(dst, src, ks[:])
		dst, src = dst[n:], src[n:]
	}
	clear(ks[:])
}

// mac computes the AEAD tag: Poly1305 under key over aad, padding, the
// ciphertext, padding and both lengths (RFC 8439 section 2.8).
func mac(key *[32]byte, aad, ct []byte) [16]byte {
	var p poly
	p.init(key)
	p.writePadded(aad)
	p.writePadded(ct)
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[0:], uint64(len(aad)))
	binary.LittleEndian.PutUint64(lens[8:], uint64(len(ct)))
	p.blocks(lens[:])
	return p.sum()
}

// poly is a Poly1305 state: the accumulator h (130 bits in three limbs),
// the clamped r, and s.
type poly struct {
	h0, h1, h2 uint64
	r0, r1     uint64
	s0, s1     uint64
}

func (p *poly) init(key *[32]byte) {
	p.r0 = binary.LittleEndian.Uint64(key[0:]) & 0x0ffffffc0fffffff
	p.r1 = binary.LittleEndian.Uint64(key[8:]) & 0x0ffffffc0ffffffc
	p.s0 = binary.LittleEndian.Uint64(key[16:])
	p.s1 = binary.LittleEndian.Uint64(key[24:])
}

// writePadded absorbs b zero-padded to a multiple of 16 bytes.
func (p *poly) writePadded(b []byte) {
	full := len(b) &^ 15
	p.blocks(b[:full])
	if rest := b[full:]; len(rest) > 0 {
		var last [16]byte
		copy(last[:], rest)
		p.blocks(last[:])
	}
}

// blocks absorbs whole 16-byte blocks, each with the 2^128 bit set.
func (p *poly) blocks(b []byte) {
	h0, h1, h2 := p.h0, p.h1, p.h2
	r0, r1 := p.r0, p.r1
	for len(b) >= 16 {
		var c uint64
		h0, c = bits.Add64(h0, binary.LittleEndian.Uint64(b[0:]), 0)
		h1, c = bits.Add64(h1, binary.LittleEndian.Uint64(b[8:]), c)
		h2 += c + 1
		b = b[16:]

		// h * r, with h2 small (at most a few bits) and r clamped, so
		// that no column overflows.
		h0r0hi, h0r0lo := bits.Mul64(h0, r0)
		h1r0hi, h1r0lo := bits.Mul64(h1, r0)
		h0r1hi, h0r1lo := bits.Mul64(h0, r1)
		h1r1hi, h1r1lo := bits.Mul64(h1, r1)
		h2r0 := h2 * r0
		h2r1 := h2 * r1

		t0 := h0r0lo
		t1, c1 := bits.Add64(h0r0hi, h1r0lo, 0)
		t1, c2 := bits.Add64(t1, h0r1lo, 0)
		t2, c3 := bits.Add64(h1r0hi, h0r1hi, c1)
		t2, c4 := bits.Add64(t2, h1r1lo, c2)
		t2, c5 := bits.Add64(t2, h2r0, 0)
		t3 := h1r1hi + h2r1 + c3 + c4 + c5

		// Reduce modulo 2^130 - 5: the bits above 130, times 5, go back
		// in at the bottom (4c + c).
		h0, h1, h2 = t0, t1, t2&3
		cc0, cc1 := t2&^3, t3
		h0, c = bits.Add64(h0, cc0, 0)
		h1, c = bits.Add64(h1, cc1, c)
		h2 += c
		cc0 = cc0>>2 | cc1<<62
		cc1 >>= 2
		h0, c = bits.Add64(h0, cc0, 0)
		h1, c = bits.Add64(h1, cc1, c)
		h2 += c
	}
	p.h0, p.h1, p.h2 = h0, h1, h2
}

// sum finishes the tag: h fully reduced modulo 2^130 - 5, plus s, modulo
// 2^128.
func (p *poly) sum() [16]byte {
	h0, h1, h2 := p.h0, p.h1, p.h2
	g0, b := bits.Sub64(h0, 0xfffffffffffffffb, 0)
	g1, b := bits.Sub64(h1, 0xffffffffffffffff, b)
	_, b = bits.Sub64(h2, 3, b)
	// b == 0 means h >= p: take h - p. Select without branching.
	mask := b - 1
	h0 = h0&^mask | g0&mask
	h1 = h1&^mask | g1&mask
	var c uint64
	h0, c = bits.Add64(h0, p.s0, 0)
	h1, _ = bits.Add64(h1, p.s1, c)
	var tag [16]byte
	binary.LittleEndian.PutUint64(tag[0:], h0)
	binary.LittleEndian.PutUint64(tag[8:], h1)
	*p = poly{}
	return tag
}
