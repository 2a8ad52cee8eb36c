package b64_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/b64"
)

// The tests in this file reach the eight-character groups of the codec and
// the partial group after them; the quanta of TestEveryByte and
// TestDecodeInvalid are all shorter than one group.

const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// refDecode is a plain model of Decode's contract, with its exact errors:
// strip one or two trailing '=' from a string whose length is a multiple of
// four, reject a remaining length of 1 modulo 4, then report the first byte
// outside the alphabet.
func refDecode(s string) ([]byte, error) {
	data := s
	if len(s)%4 == 0 && len(s) >= 4 {
		switch {
		case strings.HasSuffix(s, "=="):
			data = s[:len(s)-2]
		case strings.HasSuffix(s, "="):
			data = s[:len(s)-1]
		}
	}
	if len(data)%4 == 1 {
		return nil, fmt.Errorf("b64: decode: length %d: %w", len(s), b64.ErrInvalid)
	}
	for i := range len(data) {
		if strings.IndexByte(stdAlphabet, data[i]) < 0 {
			return nil, fmt.Errorf("b64: decode: invalid character at offset %d: %w", i, b64.ErrInvalid)
		}
	}
	return base64.RawStdEncoding.DecodeString(data)
}

func checkAgainstRef(t *testing.T, s string) {
	t.Helper()
	got, err := b64.Decode(s)
	want, wantErr := refDecode(s)
	switch {
	case wantErr != nil && (err == nil || err.Error() != wantErr.Error()):
		t.Fatalf("Decode(%q) = %x, %v; want error %q", s, got, err, wantErr)
	case wantErr != nil && got != nil:
		t.Fatalf("Decode(%q) returned %x with an error", s, got)
	case wantErr == nil && (err != nil || !bytes.Equal(got, want)):
		t.Fatalf("Decode(%q) = %x, %v; want %x", s, got, err, want)
	}
	checkAppendDecode(t, s, want, wantErr)
}

// checkAppendDecode checks that AppendDecode gives what Decode gives, after
// a prefix and into spare capacity that it must leave zeroed on error.
func checkAppendDecode(t *testing.T, s string, want []byte, wantErr error) {
	t.Helper()
	prefix := []byte("prefix")
	for _, extra := range []int{0, len(want) + 3} {
		dst := make([]byte, len(prefix), len(prefix)+extra)
		copy(dst, prefix)
		got, err := b64.AppendDecode(dst, s)
		switch {
		case wantErr != nil && (err == nil || err.Error() != wantErr.Error()):
			t.Fatalf("AppendDecode(%q) = %x, %v; want error %q", s, got, err, wantErr)
		case wantErr != nil && (!bytes.Equal(got, prefix) || !bytes.Equal(got[len(got):cap(got)], make([]byte, cap(got)-len(got)))):
			t.Fatalf("AppendDecode(%q) failed but left %x, spare %x", s, got, got[len(got):cap(got)])
		case wantErr == nil && (err != nil || !bytes.Equal(got, append(prefix, want...))):
			t.Fatalf("AppendDecode(%q) = %x, %v; want prefix and %x", s, got, err, want)
		}
	}
}

// TestDecodeEveryByteLong puts every byte value in every position of strings
// that span one or more full groups and partial ones, padded and unpadded.
func TestDecodeEveryByteLong(t *testing.T) {
	var bases []string
	for n := 7; n <= 26; n++ {
		if n%4 != 1 {
			bases = append(bases, strings.Repeat("A", n))
		}
	}
	bases = append(bases, "AAAAAAAAAA==", "AAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAA=")
	for _, base := range bases {
		for pos := range len(base) {
			for c := range 256 {
				s := []byte(base)
				s[pos] = byte(c)
				checkAgainstRef(t, string(s))
			}
		}
	}
}

// TestDecodeRandomCorruption compares Decode with refDecode on random
// strings with zero to three arbitrary bytes and random padding, so that
// several groups can be invalid at once and the first offset must win.
func TestDecodeRandomCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 100 {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				b[i] = stdAlphabet[r.IntN(64)]
			}
			for range r.IntN(4) * min(n, 1) {
				b[r.IntN(n)] = byte(r.IntN(256))
			}
			if n%4 == 0 && n > 0 && r.IntN(3) == 0 {
				b[n-1] = '='
				if r.IntN(2) == 0 {
					b[n-2] = '='
				}
			}
			checkAgainstRef(t, string(b))
		}
	}
}

// TestEncodeEveryByte puts every byte value in every position of inputs that
// span full groups and a partial one.
func TestEncodeEveryByte(t *testing.T) {
	for _, n := range []int{6, 7, 8, 12, 13, 14, 15, 16} {
		for pos := range n {
			for c := range 256 {
				src := bytes.Repeat([]byte{0x5a}, n)
				src[pos] = byte(c)
				if got, want := b64.Encode(src), base64.RawStdEncoding.EncodeToString(src); got != want {
					t.Fatalf("Encode(%x) = %q, want %q", src, got, want)
				}
			}
		}
	}
}

// FuzzDecodeRef checks Decode and AppendDecode against refDecode, error
// messages included.
func FuzzDecodeRef(f *testing.F) {
	for _, s := range []string{
		"", "Zm9vYmFy", "Zm9vYmFyZg==", "Zm9vYmFyZm8=", "Zm9vYmFyZm9vYmFy", "Zm9vYmF\x80",
		"Zm9vYmFyZm9vYmF=", "Zm9v YmFyZm9v", "AAAAAAAA-AAAAAA_", "AAAAAAAAAA===",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgainstRef(t, s)
	})
}
