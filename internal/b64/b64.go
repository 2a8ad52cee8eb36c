// Package b64 is a constant-time base64 codec for secret material.
//
// It uses the standard alphabet of RFC 4648 (A–Z a–z 0–9 + /). [Encode]
// writes the Matrix "unpadded base64" form; [Decode] accepts unpadded and
// correctly padded input.
//
// Unlike encoding/base64, which maps characters through lookup tables, every
// character here is converted with branch-free arithmetic on masks, so the
// running time and memory access pattern depend only on the length of the
// input, never on its byte values. Use it for private keys, pickles and any
// other secret; see CVE-2024-45192 (libolm) and CVE-2024-40640 (vodozemac).
//
// Specification: https://spec.matrix.org/latest/appendices/#unpadded-base64
package b64

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInvalid is returned, wrapped with the offset of the problem, for any
// input that is not base64 in the standard alphabet: a character outside the
// alphabet, misplaced or superfluous padding, or a length that cannot occur.
// The error never contains the offending byte itself.
var ErrInvalid = errors.New("invalid base64")

// EncodedLen returns the length of the unpadded base64 encoding of n bytes.
func EncodedLen(n int) int {
	return n/3*4 + (n%3*8+5)/6
}

// DecodedLen returns the number of bytes encoded by n characters of unpadded
// base64. For a length that no encoding has (n%4 == 1) it returns the length
// of the longest valid prefix's decoding.
func DecodedLen(n int) int {
	return n/4*3 + n%4*6/8
}

// Encode returns the unpadded base64 encoding of src in the standard alphabet.
// It runs in time that depends only on len(src).
func Encode(src []byte) string {
	return string(AppendEncode(make([]byte, 0, EncodedLen(len(src))), src))
}

// AppendEncode appends the unpadded base64 encoding of src to dst and returns
// the extended slice. It runs in time that depends only on len(src).
func AppendEncode(dst, src []byte) []byte {
	n := EncodedLen(len(src))
	dst = slices.Grow(dst, n)
	start := len(dst)
	dst = dst[:start+n]
	out := dst[start:]

	for len(src) >= 3 {
		v := uint32(src[0])<<16 | uint32(src[1])<<8 | uint32(src[2])
		out[0] = encodeSextet(v >> 18)
		out[1] = encodeSextet(v >> 12 & 0x3f)
		out[2] = encodeSextet(v >> 6 & 0x3f)
		out[3] = encodeSextet(v & 0x3f)
		src, out = src[3:], out[4:]
	}
	switch len(src) {
	case 2:
		v := uint32(src[0])<<16 | uint32(src[1])<<8
		out[0] = encodeSextet(v >> 18)
		out[1] = encodeSextet(v >> 12 & 0x3f)
		out[2] = encodeSextet(v >> 6 & 0x3f)
	case 1:
		v := uint32(src[0]) << 16
		out[0] = encodeSextet(v >> 18)
		out[1] = encodeSextet(v >> 12 & 0x3f)
	}
	return dst
}

// encodeSextet maps a 6-bit value to its character without branches or table
// lookups. Starting from 'A'+v, it adds the distance to the next range of the
// alphabet for each range boundary that v has passed; (k - v) >> 8 is all ones
// exactly when v > k, because v < 64 and the shift is arithmetic.
func encodeSextet(u uint32) byte {
	v := int32(u)
	c := v + 'A'
	c += ((25 - v) >> 8) & ('a' - 'A' - 26)      // v > 25: a–z
	c -= ((51 - v) >> 8) & ('a' - 26 - '0' + 52) // v > 51: 0–9
	c -= ((61 - v) >> 8) & ('0' - 52 - '+' + 62) // v = 62: '+'
	c += ((62 - v) >> 8) & ('/' - 63 - '+' + 62) // v = 63: '/'
	return byte(c)
}

// decodeChar maps a character to its 6-bit value, or to -1 if it is not in the
// alphabet, without branches or table lookups. For each range [lo, hi] of the
// alphabet, ((lo-1 - x) & (x - (hi+1))) >> 8 is all ones exactly when x lies in
// the range (both differences are then negative), and selects the offset that
// turns x into its value plus one. At most one range matches, so the sum is
// the value, or -1 when none matches.
func decodeChar(c byte) int32 {
	x := int32(c)
	r := int32(-1)
	r += (((('A' - 1) - x) & (x - ('Z' + 1))) >> 8) & (x - 'A' + 1)
	r += (((('a' - 1) - x) & (x - ('z' + 1))) >> 8) & (x - 'a' + 26 + 1)
	r += (((('0' - 1) - x) & (x - ('9' + 1))) >> 8) & (x - '0' + 52 + 1)
	r += (((('+' - 1) - x) & (x - ('+' + 1))) >> 8) & (62 + 1)
	r += (((('/' - 1) - x) & (x - ('/' + 1))) >> 8) & (63 + 1)
	return r
}

// isPad returns 1 if c is '=' and 0 otherwise, without branching on c.
func isPad(c byte) int {
	x := uint32(c) ^ '='
	return int((x - 1) >> 31)
}

// Decode returns the bytes encoded by s, which is base64 in the standard
// alphabet, either unpadded or padded with '=' to a multiple of four
// characters. Non-zero bits left over in the last character are ignored, as
// in encoding/base64's non-strict mode; the Matrix specification's own test
// seed needs this.
//
// Any other input, including whitespace, line breaks, the URL-safe characters
// '-' and '_', '=' anywhere but at the end of a padded string, and lengths
// with remainder 1 modulo 4, yields an error wrapping [ErrInvalid] that gives
// the offset of the first offending character but not its value.
//
// Decode runs in time that depends only on len(s) and on whether s is padded;
// in particular, finding an invalid character takes as long as a successful
// decoding.
func Decode(s string) ([]byte, error) {
	// How much padding there is decides the output length, which is public:
	// look at it without data-dependent branches and branch only on the
	// combined result.
	pad := 0
	if len(s)%4 == 0 && len(s) >= 4 {
		p1 := isPad(s[len(s)-1])
		p2 := isPad(s[len(s)-2])
		pad = p1 + (p1 & p2)
	}
	data := s[:len(s)-pad]
	if len(data)%4 == 1 {
		return nil, fmt.Errorf("b64: decode: length %d: %w", len(s), ErrInvalid)
	}

	out := make([]byte, DecodedLen(len(data)))
	var bad int32 // all ones once an invalid character has been seen
	var at int    // offset of the first invalid character
	var v [4]int32

	di := 0
	for i := 0; i < len(data); i += 4 {
		n := min(4, len(data)-i)
		for j := range n {
			c := decodeChar(data[i+j])
			inv := c >> 31 // all ones iff invalid
			at |= (i + j) & int(inv&^bad)
			bad |= inv
			v[j] = c
		}
		w := uint32(v[0]&0x3f)<<18 | uint32(v[1]&0x3f)<<12
		out[di] = byte(w >> 16)
		if n > 2 {
			w |= uint32(v[2]&0x3f) << 6
			out[di+1] = byte(w >> 8)
		}
		if n > 3 {
			w |= uint32(v[3] & 0x3f)
			out[di+2] = byte(w)
		}
		di += n - 1
	}

	if bad != 0 {
		clear(out)
		return nil, fmt.Errorf("b64: decode: invalid character at offset %d: %w", at, ErrInvalid)
	}
	return out, nil
}
