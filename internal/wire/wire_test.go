package wire_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/souverain/e2ee/internal/wire"
)

func TestVarintKnownAnswers(t *testing.T) {
	tests := []struct {
		v   uint64
		enc []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{math.MaxUint32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{math.MaxUint64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		got := wire.AppendVarint(nil, tt.v)
		if !bytes.Equal(got, tt.enc) {
			t.Errorf("AppendVarint(%d) = %x, want %x", tt.v, got, tt.enc)
		}
		if n := wire.VarintLen(tt.v); n != len(tt.enc) {
			t.Errorf("VarintLen(%d) = %d, want %d", tt.v, n, len(tt.enc))
		}
		v, n, err := wire.ReadVarint(append(tt.enc, 0xaa))
		if err != nil || v != tt.v || n != len(tt.enc) {
			t.Errorf("ReadVarint(%x) = %d, %d, %v", tt.enc, v, n, err)
		}
	}
}

func TestReadVarintBad(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, wire.ErrTruncated},
		{"continuation", []byte{0x80}, wire.ErrTruncated},
		{"long continuation", []byte{0xff, 0xff, 0xff}, wire.ErrTruncated},
		{"eleven bytes", bytes.Repeat([]byte{0x80}, 11), wire.ErrOverflow},
		{"65 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, wire.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := wire.ReadVarint(tt.in); !errors.Is(err, tt.err) {
				t.Fatalf("ReadVarint(%x) error = %v, want %v", tt.in, err, tt.err)
			}
		})
	}
}

func TestNonMinimalVarintAccepted(t *testing.T) {
	v, n, err := wire.ReadVarint([]byte{0x80, 0x00})
	if err != nil || v != 0 || n != 2 {
		t.Fatalf("ReadVarint(80 00) = %d, %d, %v; want 0, 2, nil", v, n, err)
	}
}

func TestFields(t *testing.T) {
	var b []byte
	b = wire.AppendBytesField(b, 1, []byte("key"))
	b = wire.AppendVarintField(b, 2, 1000)
	b = wire.AppendBytesField(b, 4, nil)
	if want := []byte{0x0a, 3, 'k', 'e', 'y', 0x10, 0xe8, 0x07, 0x22, 0}; !bytes.Equal(b, want) {
		t.Fatalf("encoded %x, want %x", b, want)
	}
	if n := wire.BytesFieldLen(3); n != 5 {
		t.Fatalf("BytesFieldLen(3) = %d", n)
	}
	f, rest, err := wire.Next(b)
	if err != nil || f.Number != 1 || f.Type != wire.TypeBytes || string(f.Bytes) != "key" {
		t.Fatalf("first field %+v, %v", f, err)
	}
	f, rest, err = wire.Next(rest)
	if err != nil || f.Number != 2 || f.Type != wire.TypeVarint || f.Varint != 1000 {
		t.Fatalf("second field %+v, %v", f, err)
	}
	f, rest, err = wire.Next(rest)
	if err != nil || f.Number != 4 || len(f.Bytes) != 0 || len(rest) != 0 {
		t.Fatalf("third field %+v, rest %x, %v", f, rest, err)
	}
}

func TestNextBad(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, wire.ErrTruncated},
		{"field zero", []byte{0x02, 0x00}, wire.ErrFieldRange},
		{"fixed64", []byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8}, wire.ErrWireType},
		{"fixed32", []byte{0x0d, 1, 2, 3, 4}, wire.ErrWireType},
		{"length past end", []byte{0x0a, 0x05, 1, 2}, wire.ErrTruncated},
		{"huge length", append([]byte{0x0a}, wire.AppendVarint(nil, 1<<62)...), wire.ErrTruncated},
		{"varint missing", []byte{0x10}, wire.ErrTruncated},
		{"length missing", []byte{0x0a}, wire.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := wire.Next(tt.in); !errors.Is(err, tt.err) {
				t.Fatalf("Next(%x) error = %v, want %v", tt.in, err, tt.err)
			}
		})
	}
}

func TestHugeLengthDoesNotAllocate(t *testing.T) {
	in := append([]byte{0x0a}, wire.AppendVarint(nil, 1<<62)...)
	allocs := testing.AllocsPerRun(100, func() { _, _, _ = wire.Next(in) })
	if allocs > 8 { // the error value and its message; never the 2^62 bytes
		t.Fatalf("Next on a 2^62 length allocated %v times", allocs)
	}
}

func FuzzNext(f *testing.F) {
	f.Add([]byte{0x0a, 3, 'k', 'e', 'y', 0x10, 0xe8, 0x07})
	f.Add([]byte{0x09, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			fld, rest, err := wire.Next(b)
			if err != nil {
				return
			}
			if len(rest) >= len(b) {
				t.Fatal("Next made no progress")
			}
			var re []byte
			if fld.Type == wire.TypeVarint {
				re = wire.AppendVarintField(nil, fld.Number, fld.Varint)
			} else {
				re = wire.AppendBytesField(nil, fld.Number, fld.Bytes)
			}
			{
				g, _, err := wire.Next(re)
				if err != nil || g.Number != fld.Number || g.Varint != fld.Varint || !bytes.Equal(g.Bytes, fld.Bytes) {
					t.Fatalf("re-encoding %+v gave %+v, %v", fld, g, err)
				}
			}
			b = rest
		}
	})
}
