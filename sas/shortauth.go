package sas

import "strconv"

// ShortAuthString is the short authentication string of a verification:
// the first 6 bytes of HKDF output for the SAS info. Emojis uses all 6,
// Decimals the first 5. Both users compare what their devices show; it is
// not secret once shown, but it must never be reused.
type ShortAuthString [6]byte

// Emoji is one entry of the specification's SAS emoji table.
type Emoji struct {
	// Index is the 6-bit value, 0 to 63.
	Index int
	// Symbol is the emoji itself, as the specification writes it
	// (including the variation selector U+FE0F where it has one).
	Symbol string
	// Description is the English name from the specification, such as
	// "Dog"; clients show it beside the emoji or translate it.
	Description string
}

// String returns the emoji followed by its description, e.g. "🐶 Dog".
func (e Emoji) String() string { return e.Symbol + " " + e.Description }

// EmojiTable returns a copy of the specification's 64-entry SAS emoji
// table, indexed by the 6-bit value.
func EmojiTable() [64]Emoji { return emojiTable }

// EmojiIndices returns the 7 emoji indices: the first 42 bits of the string
// in 6-bit groups, most significant first. The last 6 bits are unused.
func (s ShortAuthString) EmojiIndices() [7]int {
	var n uint64
	for _, b := range s {
		n = n<<8 | uint64(b)
	}
	var idx [7]int
	for k := range idx {
		idx[k] = int(n >> (42 - 6*k) & 63)
	}
	return idx
}

// Emojis returns the 7 emojis to show, from the specification's table.
func (s ShortAuthString) Emojis() [7]Emoji {
	var out [7]Emoji
	for k, i := range s.EmojiIndices() {
		out[k] = emojiTable[i]
	}
	return out
}

// Decimals returns the three numbers to show, each between 1000 and 9191:
// 13-bit groups of the first 5 bytes, plus 1000.
func (s ShortAuthString) Decimals() [3]int {
	b0, b1, b2, b3, b4 := int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4])
	return [3]int{
		(b0<<5 | b1>>3) + 1000,
		((b1&0x7)<<10 | b2<<2 | b3>>6) + 1000,
		((b3&0x3f)<<7 | b4>>1) + 1000,
	}
}

// String returns the decimals joined by dashes, e.g. "4791-2104-8813",
// a form both users can read out.
func (s ShortAuthString) String() string {
	d := s.Decimals()
	return strconv.Itoa(d[0]) + "-" + strconv.Itoa(d[1]) + "-" + strconv.Itoa(d[2])
}
