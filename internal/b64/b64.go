// Package b64 is a constant-time base64 codec for secret material.
//
// It uses the standard alphabet of RFC 4648 (A–Z a–z 0–9 + /). [Encode]
// writes the Matrix "unpadded base64" form; [Decode] accepts unpadded and
// correctly padded input.
//
// Unlike encoding/base64, which maps characters through lookup tables, every
// character here is converted with branch-free arithmetic on masks, eight at
// a time, so the running time and memory access pattern depend only on the
// length of the input (and, when decoding, on whether it is valid at all),
// never on its byte values. Use it for private keys, pickles and any other
// secret; see CVE-2024-45192 (libolm) and CVE-2024-40640 (vodozemac).
//
// Specification: https://spec.matrix.org/latest/appendices/#unpadded-base64
package b64

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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

	// x + (0x80-k) has the top bit of a lane set exactly when the lane is
	// at least k, as in atLeast; the other bits are left unmasked until
	// they matter. The boundaries of the alphabet's ranges '+', '/'–'9',
	// 'A'–'Z' and 'a'–'z' ('/' and the digits are adjacent):
	gePlus := x + (0x80-'+')*lanes01
	geComma := x + (0x80-'+'-1)*lanes01
	geSlash := x + (0x80-'/')*lanes01
	geZero := x + (0x80-'0')*lanes01
	geColon := x + (0x80-'9'-1)*lanes01
	geUpper := x + (0x80-'A')*lanes01
	geBracket := x + (0x80-'Z'-1)*lanes01
	geLower := x + (0x80-'a')*lanes01
	geBrace := x + (0x80-'z'-1)*lanes01
	// The boundaries a character has reached are a prefix of the sorted
	// list, so it is in the alphabet exactly when it has reached an odd
	// number of the range starts and ends.
	valid := gePlus ^ geComma ^ geSlash ^ geColon ^ geUpper ^ geBracket ^ geLower ^ geBrace
	bad = (c | ^valid) & lanes80

	// Within each range the sextet is the character plus a constant modulo
	// 64: 62-'+' from '+' on, changing at '/', '0', 'A' and 'a'. Taken in
	// [0, 63], the constant and the four changes sum to at most 249 in a
	// lane, and the character plus the sum modulo 64 to at most 0x7f + 63
	// < 0x100, so no lane carries into the next; the low six bits are the
	// sextet.
	const (
		offPlus  = (62 - '+') & 63
		offSlash = (63 - '/') & 63
		offZero  = (52 - '0') & 63
		offUpper = (0 - 'A') & 63
		offLower = (26 - 'a') & 63
	)
	off := offPlus*lanes01 +
		reached(geSlash)*((offSlash-offPlus)&63) +
		reached(geZero)*((offZero-offSlash)&63) +
		reached(geUpper)*((offUpper-offZero)&63) +
		reached(geLower)*((offLower-offUpper)&63)
	v := (x + off&lanes3f) & lanes3f

	// Gather the sextets: with the lanes reversed, the first character is
	// on top, and each step merges neighbouring pieces h (above) and l into
	// h<<s | l by subtracting h times the gap, doubling the width of the
	// pieces: 8-bit lanes into 12 bits, 16 into 24, 32 into 48. No piece
	// borrows from the next.
	v = bits.ReverseBytes64(v)
	v -= (v >> 8 & 0x00ff00ff00ff00ff) * (1<<8 - 1<<6)
	v -= (v >> 16 & 0x0000ffff0000ffff) * (1<<16 - 1<<12)
	v -= (v >> 32) * (1<<32 - 1<<24)
	return v, bad
}

// reached returns 1 in each lane of g whose top bit is set, and 0 in the
// others.
func reached(g uint64) uint64 {
	return g >> 7 & lanes01
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
// Decode runs in time that depends only on len(s), on whether s is padded
// and on whether it is valid (which the result tells anyway): neither where
// an invalid character is nor which it is changes it, nor any valid
// character.
func Decode(s string) ([]byte, error) {
	data, err := unpad(s)
	if err != nil {
		return nil, err
	}
	out := make([]byte, DecodedLen(len(data)))
	if err := decode(out, data); err != nil {
		return nil, err
	}
	return out, nil
}

// AppendDecode appends the bytes encoded by s to dst and returns the
// extended slice. It accepts the same input as [Decode], returns the same
// errors and runs in the same time; it allocates only when dst lacks the
// capacity. On error it returns dst with its length and contents unchanged,
// and the bytes of its spare capacity that it wrote are zeroed again.
func AppendDecode(dst []byte, s string) ([]byte, error) {
	data, err := unpad(s)
	if err != nil {
		return dst, err
	}
	n := DecodedLen(len(data))
	dst = slices.Grow(dst, n)
	if err := decode(dst[len(dst):len(dst)+n], data); err != nil {
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// unpad returns s without its padding, or an error for a length that no
// encoding has. How much padding there is decides the output length, which
// is public: it is looked at without data-dependent branches, branching only
// on the combined result.
func unpad(s string) (string, error) {
	pad := 0
	if len(s)%4 == 0 && len(s) >= 4 {
		p1 := isPad(s[len(s)-1])
		p2 := isPad(s[len(s)-2])
		pad = p1 + (p1 & p2)
	}
	data := s[:len(s)-pad]
	if len(data)%4 == 1 {
		return "", fmt.Errorf("b64: decode: length %d: %w", len(s), ErrInvalid)
	}
	return data, nil
}

// decode decodes data, unpadded and of a valid length, into out, which is
// DecodedLen(len(data)) bytes long. On error out is zeroed.
func decode(out []byte, data string) error {
	var bad uint64 // 0x80 in the lanes where an invalid character was seen
	i, di := 0, 0
	for ; len(data)-i >= 8; i, di = i+8, di+6 {
		w, b := decode8(load64(data[i:]))
		bad |= b
		if len(out)-di >= 8 {
			// Eight bytes, the last two of which the next group rewrites.
			binary.BigEndian.PutUint64(out[di:], w<<16)
		} else {
			binary.BigEndian.PutUint32(out[di:], uint32(w>>16))
			binary.BigEndian.PutUint16(out[di+4:], uint16(w))
		}
	}
	// The last 0 to 7 characters: fill the group up with 'A', which is
	// valid, and keep only the bytes they encode.
	if i < len(data) {
		in := [8]byte{'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A'}
		copy(in[:], data[i:])
		w, b := decode8(binary.LittleEndian.Uint64(in[:]))
		bad |= b
		var dec [8]byte
		binary.BigEndian.PutUint64(dec[:], w<<16)
		copy(out[di:], dec[:len(out)-di])
	}

	if bad != 0 {
		clear(out)
		return fmt.Errorf("b64: decode: invalid character at offset %d: %w", firstInvalid(data), ErrInvalid)
	}
	return nil
}

// firstInvalid returns the offset of the first character of data that is
// not in the alphabet; data holds one. Like decode, it looks at every
// character in the same way, so that its time depends on neither where the
// first invalid character is nor what it is.
func firstInvalid(data string) int {
	var seen int // all ones once an invalid character has been seen
	var at int   // offset of the first invalid character
	for i := 0; i < len(data); i += 8 {
		in := [8]byte{'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A'}
		copy(in[:], data[i:])
		_, b := decode8(binary.LittleEndian.Uint64(in[:]))
		inv := int(int64(b|-b) >> 63) // all ones iff b != 0
		at |= (i + firstLane(b)) & (inv &^ seen)
		seen |= inv
	}
	return at
}

// load64 returns the first eight bytes of s with s[0] in the lowest lane.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
