package keybackup

// Base58 with the Bitcoin alphabet, as Matrix uses for recovery keys:
//
//	123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz
//
// Recovery keys are secret, so the conversion avoids branches and table
// lookups on the data: characters are mapped with arithmetic on masks (as
// internal/b64 does), and the base conversion runs over every digit of a
// buffer whose size depends only on the input length. Only the number of
// leading zeros (the output length) depends on the value, and that is
// visible in the output anyway.

// base58Char maps a value in [0, 58) to its character. Starting from
// '1'+v, it adds the size of each gap in the alphabet that v has passed;
// (k - v) >> 8 is all ones exactly when v > k.
func base58Char(u byte) byte {
	v := int32(u)
	c := v + '1'
	c += ((8 - v) >> 8) & ('A' - '9' - 1)  // v > 8: skip ':'..'@'
	c += ((16 - v) >> 8) & ('J' - 'H' - 1) // v > 16: skip 'I'
	c += ((21 - v) >> 8) & ('P' - 'N' - 1) // v > 21: skip 'O'
	c += ((32 - v) >> 8) & ('a' - 'Z' - 1) // v > 32: skip '['..'`'
	c += ((43 - v) >> 8) & ('m' - 'k' - 1) // v > 43: skip 'l'
	return byte(c)
}

// base58Value maps a character to its value, or to -1 if it is not in the
// alphabet. For each range [lo, hi], ((lo-1 - x) & (x - (hi+1))) >> 8 is all
// ones exactly when x is in the range and selects the value plus one; at
// most one range matches.
func base58Value(c byte) int32 {
	x := int32(c)
	r := int32(-1)
	r += ((('1' - 1 - x) & (x - ('9' + 1))) >> 8) & (x - '1' + 0 + 1)
	r += ((('A' - 1 - x) & (x - ('H' + 1))) >> 8) & (x - 'A' + 9 + 1)
	r += ((('J' - 1 - x) & (x - ('N' + 1))) >> 8) & (x - 'J' + 17 + 1)
	r += ((('P' - 1 - x) & (x - ('Z' + 1))) >> 8) & (x - 'P' + 22 + 1)
	r += ((('a' - 1 - x) & (x - ('k' + 1))) >> 8) & (x - 'a' + 33 + 1)
	r += ((('m' - 1 - x) & (x - ('z' + 1))) >> 8) & (x - 'm' + 44 + 1)
	return r
}

// base58Encode returns the base58 encoding of src: one '1' for each leading
// zero byte, then the digits of the rest as a big-endian number.
func base58Encode(src []byte) string {
	zeros := 0
	for zeros < len(src) && src[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.38: enough digits for any value of len(src)
	// bytes.
	size := len(src)*138/100 + 1
	digits := make([]byte, size)
	for _, b := range src {
		carry := uint32(b)
		for j := size - 1; j >= 0; j-- {
			carry += uint32(digits[j]) << 8
			digits[j] = byte(carry % 58)
			carry /= 58
		}
	}
	i := 0
	for i < size && digits[i] == 0 {
		i++
	}
	out := make([]byte, zeros+size-i)
	for k := range zeros {
		out[k] = '1'
	}
	for k, d := range digits[i:] {
		out[zeros+k] = base58Char(d)
	}
	clear(digits)
	return string(out)
}

// base58Decode returns the bytes encoded by s. If s contains a character
// outside the alphabet, it returns ok == false and the offset of the first
// one. The work is quadratic in len(s): callers bound the length first.
func base58Decode(s []byte) (out []byte, badAt int, ok bool) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// log(58)/log(256) < 0.733.
	size := len(s)*733/1000 + 1
	buf := make([]byte, size)
	var bad int32
	at := 0
	for i := 0; i < len(s); i++ {
		v := base58Value(s[i])
		inv := v >> 31 // all ones iff invalid
		at |= i & int(inv&^bad)
		bad |= inv
		carry := uint32(v & 0x3f)
		for j := size - 1; j >= 0; j-- {
			carry += uint32(buf[j]) * 58
			buf[j] = byte(carry)
			carry >>= 8
		}
	}
	if bad != 0 {
		clear(buf)
		return nil, at, false
	}
	i := 0
	for i < size && buf[i] == 0 {
		i++
	}
	out = make([]byte, zeros+size-i)
	copy(out[zeros:], buf[i:])
	clear(buf)
	return out, 0, true
}
