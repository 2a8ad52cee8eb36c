// Package wire implements the protobuf-style encoding that Olm and Megolm
// messages use: varints of 7 bits per byte, least significant group first,
// and fields introduced by a tag byte (field number << 3 | wire type).
//
// Only the two wire types that libolm writes are understood: 0 (varint) and
// 2 (length-delimited bytes).
package wire

import (
	"errors"
	"fmt"
)

// Wire types.
const (
	TypeVarint = 0
	TypeBytes  = 2
)

// MaxVarintLen is the longest varint this package reads: ten bytes hold a
// 64-bit value.
const MaxVarintLen = 10

// Errors returned by the decoder.
var (
	ErrTruncated  = errors.New("wire: truncated input")
	ErrOverflow   = errors.New("wire: varint overflows 64 bits")
	ErrWireType   = errors.New("wire: unsupported wire type")
	ErrFieldRange = errors.New("wire: field number out of range")
)

// AppendVarint appends the varint encoding of v to b.
func AppendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// VarintLen returns the number of bytes AppendVarint writes for v.
func VarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// ReadVarint decodes a varint from the start of b and returns its value and
// the number of bytes read. Non-minimal encodings (such as 0x80 0x00 for
// zero) are accepted, as libolm accepts them.
func ReadVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b); i++ {
		if i == MaxVarintLen {
			return 0, 0, ErrOverflow
		}
		c := b[i]
		if i == MaxVarintLen-1 && c > 1 {
			return 0, 0, ErrOverflow
		}
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrTruncated
}

// AppendVarintField appends a varint field: its tag, then v.
func AppendVarintField(b []byte, field int, v uint64) []byte {
	b = AppendVarint(b, uint64(field)<<3|TypeVarint)
	return AppendVarint(b, v)
}

// AppendBytesField appends a length-delimited field: its tag, the length of
// data as a varint, then data.
func AppendBytesField(b []byte, field int, data []byte) []byte {
	b = AppendVarint(b, uint64(field)<<3|TypeBytes)
	b = AppendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// BytesFieldLen returns the encoded length of a length-delimited field
// carrying n bytes (field numbers below 16 only).
func BytesFieldLen(n int) int {
	return 1 + VarintLen(uint64(n)) + n
}

// Field is one decoded field. Bytes aliases the input.
type Field struct {
	Number int
	Type   int
	Varint uint64
	Bytes  []byte
	// TagLen is the length of the encoded tag. libolm matches its known
	// fields by a one-byte tag, so a field written with a longer
	// (non-minimal) tag is an unknown field to it.
	TagLen int
}

// Next decodes the field at the start of b and returns it with the rest of
// the input. Every length is checked against the bytes that remain before it
// is used, so hostile lengths cost nothing.
func Next(b []byte) (Field, []byte, error) {
	tag, n, err := ReadVarint(b)
	if err != nil {
		return Field{}, nil, fmt.Errorf("tag: %w", err)
	}
	b = b[n:]
	if tag>>3 == 0 || tag>>3 > 1<<29 {
		return Field{}, nil, ErrFieldRange
	}
	f := Field{Number: int(tag >> 3), Type: int(tag & 7), TagLen: n}
	switch f.Type {
	case TypeVarint:
		v, n, err := ReadVarint(b)
		if err != nil {
			return Field{}, nil, fmt.Errorf("field %d: %w", f.Number, err)
		}
		f.Varint = v
		return f, b[n:], nil
	case TypeBytes:
		l, n, err := ReadVarint(b)
		if err != nil {
			return Field{}, nil, fmt.Errorf("field %d length: %w", f.Number, err)
		}
		b = b[n:]
		if l > uint64(len(b)) {
			return Field{}, nil, fmt.Errorf("field %d: %w", f.Number, ErrTruncated)
		}
		f.Bytes = b[:l:l]
		return f, b[l:], nil
	default:
		return Field{}, nil, fmt.Errorf("field %d: %w %d", f.Number, ErrWireType, f.Type)
	}
}
