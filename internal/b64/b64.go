// Package b64 is a constant-time base64 codec for secret material.
//
// It uses the standard alphabet of RFC 4648 (A–Z a–z 0–9 + /). [Encode]
// writes the Matrix "unpadded base64" form; [Decode] accepts unpadded and
// correctly padded input.
//
// Unlike encoding/base64, which maps characters through lookup tables, every
// character here is converted with branch-free arithmetic on masks, eight at
// a time, so the running time and memory access pattern depend only on the
// length of the input, never on its byte values. Use it for private keys,
// pickles and any other secret; see CVE-2024-45192 (libolm) and
// CVE-2024-40640 (vodozemac).
//
// Specification: https://spec.matrix.org/latest/appendices/#unpadded-base64
package b64

import (
	"encoding/binary"
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

// The codec works on eight characters at once, held in the eight byte lanes
// of a uint64 ("SIMD within a register", SWAR): character i of a group is
// lane i, bits 8i to 8i+7. Six bytes of data are exactly eight characters.
//
// Every lane is kept below 0x80 before it is compared, so that one 64-bit
// addition acts as eight independent 8-bit ones: x + (0x80-k) stays below
// 0x100 in each lane, no carry crosses into the next lane, and the lane's top
// bit ends up set exactly when x >= k. Comparisons thus yield masks with 0x80
// in the lanes where they hold, which select per-lane constants by
// multiplication ((m>>7)*k puts k in those lanes). Nothing branches on or
// indexes memory with a character or a data byte.
const (
	lanes01 = 0x0101010101010101 // 0x01 in every lane
	lanes3f = 0x3f3f3f3f3f3f3f3f // 0x3f in every lane
	lanes80 = 0x8080808080808080 // 0x80 in every lane
)

// atLeast returns 0x80 in each lane of x that is at least k, and 0 in the
// others. Every lane of x must be below 0x80, and 1 <= k <= 0x80.
func atLeast(x uint64, k byte) uint64 {
	return (x + (0x80-uint64(k))*lanes01) & lanes80
}

// between returns 0x80 in each lane of x that lies in [lo, hi], and 0 in the
// others. Every lane of x must be below 0x80, and 1 <= lo <= hi < 0x80.
func between(x uint64, lo, hi byte) uint64 {
	return atLeast(x, lo) &^ atLeast(x, hi+1)
}

// select8 returns k in the lanes where m has 0x80 and 0 in the others.
func select8(m uint64, k byte) uint64 {
	return (m >> 7) * uint64(k)
}

// encode8 encodes the 48 bits x (the first byte in bits 40 to 47) as eight
// characters, the first one in the lowest lane.
func encode8(x uint64) uint64 {
	// Spread the eight sextets into the lanes, halving the width of the
	// pieces at each step: 24-bit halves into 32-bit lanes, then 12-bit
	// quarters into 16-bit lanes, then sextets into bytes. The earlier piece
	// always goes to the lower lane.
	x = x>>24 | x&0xffffff<<32
	x = x>>12&0x00000fff00000fff | x&0x00000fff00000fff<<16
	v := x>>6&0x003f003f003f003f | x&0x003f003f003f003f<<8

	// Start from 'A'+v and add the distance to the next range of the
	// alphabet for each range boundary that v has reached. No lane ever
	// leaves [0, 0xff], so there are no carries between lanes.
	c := v + 'A'*lanes01
	c += select8(atLeast(v, 26), 'a'-'A'-26)    // a–z
	c -= select8(atLeast(v, 52), 'a'-26-'0'+52) // 0–9
	c -= select8(atLeast(v, 62), '0'-52-'+'+62) // +
	c += select8(atLeast(v, 63), '/'-63-'+'+62) // /
	return c
}

// decode8 decodes the eight characters in the lanes of c (the first one in
// the lowest lane) into 48 bits w (the first character's sextet in bits 42 to
// 47). It returns 0x80 in bad's lanes whose character is not in the alphabet,
// and 0 in the others; w is meaningless in those lanes.
func decode8(c uint64) (w, bad uint64) {
	x := c &^ lanes80 // characters with the top bit set are flagged below
	upper := between(x, 'A', 'Z')
	lower := between(x, 'a', 'z')
	digit := between(x, '0', '9')
	plus := between(x, '+', '+')
	slash := between(x, '/', '/')
	bad = (c | ^(upper | lower | digit | plus | slash)) & lanes80

	// Within each range the value is the character plus a constant modulo
	// 64. Take those constants in [0, 63]: a lane then holds at most
	// 0x7f + 63 < 0x100, and its low six bits are the sextet.
	off := select8(upper, (0-'A')&63) | select8(lower, (26-'a')&63) |
		select8(digit, (52-'0')&63) | select8(plus, (62-'+')&63) |
		select8(slash, (63-'/')&63)
	v := (x + off) & lanes3f

	// Gather the sextets, doubling the width of the pieces at each step,
	// the piece from the lower lane going on top.
	v = v&0x00ff00ff00ff00ff<<6 | v>>8&0x00ff00ff00ff00ff
	v = v&0x0000ffff0000ffff<<12 | v>>16&0x0000ffff0000ffff
	return v&0xffffffff<<24 | v>>32, bad
}

// firstLane returns the index of the lowest lane of m (0x80 or 0 in each lane)
// that is set, or 0 if none is. It isolates the lowest set bit, 0x80 in lane
// i, and multiplies its lane's 0x01 by a constant whose lane 7-i holds i, so
// that i lands in the top lane; unlike math/bits.TrailingZeros64, this has no
// lookup table on any architecture.
func firstLane(m uint64) int {
	return int(((m & -m) >> 7) * 0x0001020304050607 >> 56)
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

	// Read eight bytes at a time while there are so many, and use six.
	for len(src) >= 8 && len(out) >= 8 {
		binary.LittleEndian.PutUint64(out, encode8(binary.BigEndian.Uint64(src)>>16))
		src, out = src[6:], out[8:]
	}
	// The last 0 to 7 bytes: at most two more groups, through buffers.
	for len(src) > 0 {
		var in, enc [8]byte
		k := copy(in[2:], src) // at most six
		binary.LittleEndian.PutUint64(enc[:], encode8(binary.BigEndian.Uint64(in[:])))
		m := copy(out, enc[:EncodedLen(k)])
		src, out = src[k:], out[m:]
	}
	return dst
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
	var bad int // all ones once an invalid character has been seen
	var at int  // offset of the first invalid character

	// note records the invalid lanes b of the group at offset i.
	note := func(i int, b uint64) {
		inv := int(int64(b|-b) >> 63) // all ones iff b != 0
		at |= (i + firstLane(b)) & (inv &^ bad)
		bad |= inv
	}

	i, di := 0, 0
	for ; len(data)-i >= 8; i, di = i+8, di+6 {
		w, b := decode8(load64(data[i:]))
		note(i, b)
		binary.BigEndian.PutUint32(out[di:], uint32(w>>16))
		binary.BigEndian.PutUint16(out[di+4:], uint16(w))
	}
	// The last 0 to 7 characters: fill the group up with 'A', which is
	// valid, and keep only the bytes they encode.
	if i < len(data) {
		in := [8]byte{'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A'}
		copy(in[:], data[i:])
		w, b := decode8(binary.LittleEndian.Uint64(in[:]))
		note(i, b)
		var dec [8]byte
		binary.BigEndian.PutUint64(dec[:], w<<16)
		copy(out[di:], dec[:len(out)-di])
	}

	if bad != 0 {
		clear(out)
		return nil, fmt.Errorf("b64: decode: invalid character at offset %d: %w", at, ErrInvalid)
	}
	return out, nil
}

// load64 returns the first eight bytes of s with s[0] in the lowest lane.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
