package keybackup

import (
	"bytes"
	"testing"
)

// TestUnpad checks the constant-time PKCS#7 check against every padding
// value and every position of a wrong byte.
func TestUnpad(t *testing.T) {
	for _, n := range []int{16, 32} {
		for pad := 0; pad < 256; pad++ {
			b := bytes.Repeat([]byte{0xAA}, n)
			for i := 0; i < min(pad, n); i++ {
				b[n-1-i] = byte(pad)
			}
			b[n-1] = byte(pad)
			got, ok := unpad(b)
			want := pad >= 1 && pad <= 16
			if ok != want || (ok && got != n-pad) {
				t.Fatalf("n=%d pad=%d: unpad = %d, %v", n, pad, got, ok)
			}
			if !want {
				continue
			}
			for i := 1; i < pad; i++ {
				c := bytes.Clone(b)
				c[n-1-i] ^= 1
				if _, ok := unpad(c); ok {
					t.Fatalf("n=%d pad=%d: byte %d wrong but accepted", n, pad, i)
				}
			}
		}
	}
}

func TestCanonicalU(t *testing.T) {
	p := [32]byte{0: 0xed, 31: 0x7f}
	for i := 1; i < 31; i++ {
		p[i] = 0xff
	}
	below := p
	below[0] = 0xec
	top := [32]byte{31: 0x80}
	for name, c := range map[string]struct {
		u    [32]byte
		want bool
	}{
		"zero": {[32]byte{}, true}, "p-1": {below, true}, "p": {p, false},
		"p+1": {func() [32]byte { q := p; q[0]++; return q }(), false}, "top bit": {top, false},
		"nine": {[32]byte{9}, true},
	} {
		if got := canonicalU(&c.u); got != c.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}
