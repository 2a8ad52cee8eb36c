package b64_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/souverain/e2ee/internal/b64"
)

// specVectors are the "unpadded-base64" examples of the Matrix specification
// (appendices, "Unpadded Base64"), copied from the shared vectors file
// (ids spec-unpadded-base64-*).
var specVectors = []struct {
	id, plain, encoded string
}{
	{"spec-unpadded-base64-empty", "", ""},
	{"spec-unpadded-base64-f", "f", "Zg"},
	{"spec-unpadded-base64-fo", "fo", "Zm8"},
	{"spec-unpadded-base64-foo", "foo", "Zm9v"},
	{"spec-unpadded-base64-foob", "foob", "Zm9vYg"},
	{"spec-unpadded-base64-fooba", "fooba", "Zm9vYmE"},
	{"spec-unpadded-base64-foobar", "foobar", "Zm9vYmFy"},
}

func TestSpecVectors(t *testing.T) {
	for _, v := range specVectors {
		t.Run(v.id, func(t *testing.T) {
			if got := b64.Encode([]byte(v.plain)); got != v.encoded {
				t.Errorf("Encode(%q) = %q, want %q", v.plain, got, v.encoded)
			}
			got, err := b64.Decode(v.encoded)
			if err != nil {
				t.Fatalf("Decode(%q): %v", v.encoded, err)
			}
			if diff := cmp.Diff([]byte(v.plain), got, cmpBytes); diff != "" {
				t.Errorf("Decode(%q) mismatch (-want +got):\n%s", v.encoded, diff)
			}
			padded := base64.StdEncoding.EncodeToString([]byte(v.plain))
			got, err = b64.Decode(padded)
			if err != nil {
				t.Fatalf("Decode(%q): %v", padded, err)
			}
			if !bytes.Equal(got, []byte(v.plain)) {
				t.Errorf("Decode(%q) = %q, want %q", padded, got, v.plain)
			}
		})
	}
}

// cmpBytes treats nil and empty byte slices as equal.
var cmpBytes = cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })

// TestMatrixSeed checks the Matrix specification's Ed25519 seed, whose last
// character carries non-zero trailing bits and must still decode.
func TestMatrixSeed(t *testing.T) {
	const seed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
	want, err := base64.RawStdEncoding.DecodeString(seed)
	require.NoError(t, err)
	_, err = base64.RawStdEncoding.Strict().DecodeString(seed)
	require.Error(t, err, "the vector is supposed to have non-zero trailing bits")

	got, err := b64.Decode(seed)
	if err != nil {
		t.Fatalf("Decode(%q): %v", seed, err)
	}
	if len(got) != 32 || !bytes.Equal(got, want) {
		t.Errorf("Decode(%q) = %x, want %x", seed, got, want)
	}
	if enc := b64.Encode(got); enc != "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0" {
		t.Errorf("re-encoding = %q, want canonical ...XA0", enc)
	}
}

func TestLen(t *testing.T) {
	for n := range 300 {
		if got, want := b64.EncodedLen(n), base64.RawStdEncoding.EncodedLen(n); got != want {
			t.Errorf("EncodedLen(%d) = %d, want %d", n, got, want)
		}
		if n%4 == 1 {
			continue
		}
		if got, want := b64.DecodedLen(n), base64.RawStdEncoding.DecodedLen(n); got != want {
			t.Errorf("DecodedLen(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestDifferential compares against encoding/base64 for every length from 0
// to 256 with random data and with all-zero and all-one data.
func TestDifferential(t *testing.T) {
	for n := 0; n <= 256; n++ {
		inputs := map[string][]byte{
			"zero":   make([]byte, n),
			"ones":   bytes.Repeat([]byte{0xff}, n),
			"random": randBytes(n),
			"ramp":   ramp(n),
		}
		for name, src := range inputs {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				checkRoundTrip(t, src)
			})
		}
	}
}

func checkRoundTrip(t *testing.T, src []byte) {
	t.Helper()
	raw := base64.RawStdEncoding.EncodeToString(src)
	std := base64.StdEncoding.EncodeToString(src)
	if got := b64.Encode(src); got != raw {
		t.Fatalf("Encode(%x) = %q, want %q", src, got, raw)
	}
	prefix := []byte("prefix:")
	if got := b64.AppendEncode(bytes.Clone(prefix), src); string(got) != string(prefix)+raw {
		t.Fatalf("AppendEncode(%q, %x) = %q, want %q", prefix, src, got, string(prefix)+raw)
	}
	for _, s := range []string{raw, std} {
		got, err := b64.Decode(s)
		if err != nil {
			t.Fatalf("Decode(%q): %v", s, err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("Decode(%q) = %x, want %x", s, got, src)
		}
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func ramp(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestAllSextets encodes and decodes every 6-bit value in each of the four
// positions of a quantum.
func TestAllSextets(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for pos := range 4 {
		for v := range 64 {
			q := []byte("AAAA")
			q[pos] = alphabet[v]
			want, err := base64.StdEncoding.DecodeString(string(q))
			require.NoError(t, err)
			got, err := b64.Decode(string(q))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Decode(%q) = %x, %v; want %x", q, got, err, want)
			}
			if enc := b64.Encode(want); enc != string(q) {
				t.Fatalf("Encode(%x) = %q, want %q", want, enc, q)
			}
		}
	}
}

// TestEveryByte feeds every byte value in every position of a quantum and in
// the short tails, and expects acceptance exactly for the alphabet.
func TestEveryByte(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for _, base := range []string{"AAAA", "AAA", "AA", "AAAAAA"} {
		for pos := range len(base) {
			for c := range 256 {
				s := []byte(base)
				s[pos] = byte(c)
				_, err := b64.Decode(string(s))
				// A trailing '=' in a quantum of four is padding.
				valid := strings.IndexByte(alphabet, byte(c)) >= 0 ||
					c == '=' && len(s) == 4 && pos == 3
				if valid && err != nil {
					t.Errorf("Decode(%q): %v", s, err)
				}
				if !valid {
					if !errors.Is(err, b64.ErrInvalid) {
						t.Errorf("Decode(%q) error = %v, want ErrInvalid", s, err)
					}
					if want := fmt.Sprintf("offset %d:", pos); err != nil && !strings.Contains(err.Error(), want) {
						t.Errorf("Decode(%q) error = %q, want it to contain %q", s, err, want)
					}
				}
			}
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		category, in string
		offset       int // -1: a length error
	}{
		{"length", "A", -1},
		{"length", "AAAAA", -1},
		{"length", "Zm9vY", -1},
		{"length", "Zm9vYmFyZ", -1},
		{"whitespace", " Zm9vYg", 0},
		{"whitespace", "Zm9vYg ", 6},
		{"whitespace", "Zm 9vYg", 2},
		{"whitespace", "Zm9vYg\n", 6},
		{"whitespace", "Zm9v\r\nYmFy", 4},
		{"whitespace", "Zm9\tvY", 3},
		{"url-safe", "Zm9-", 3},
		{"url-safe", "_m9v", 0},
		{"url-safe", "-_-_", 0},
		{"padding", "Zg=", 2},
		{"padding", "Zg=A", 2},
		{"padding", "Z===", 1},
		{"padding", "====", 0},
		{"padding", "=", -1},
		{"padding", "==", 0},
		{"padding", "Zm9v=", -1},
		{"padding", "Zm9v====", 4},
		{"padding", "Zg==Zm9v", 2},
		{"padding", "Zm8=Zm9v", 3},
		{"padding", "Zg===", -1},
		{"padding", "Zm9vYg=", 6},
		{"padding", "Zm=v", 2},
		{"other", "Zm9v\x00A", 4},
		{"other", "Zm9v\x80A", 4},
		{"other", "Zm9v\xffA", 4},
		{"other", "Zm9v.A", 4},
		{"other", "Zm9vYmFy*AAA", 8},
		{"other", "Zm9vYmFyé", 8},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.category, tt.in), func(t *testing.T) {
			got, err := b64.Decode(tt.in)
			if !errors.Is(err, b64.ErrInvalid) {
				t.Fatalf("Decode(%q) = %x, %v; want ErrInvalid", tt.in, got, err)
			}
			if got != nil {
				t.Errorf("Decode(%q) returned %x with an error", tt.in, got)
			}
			// The message is fixed apart from the offset, so it cannot
			// reveal the offending byte.
			want := fmt.Sprintf("b64: decode: invalid character at offset %d: invalid base64", tt.offset)
			if tt.offset < 0 {
				want = fmt.Sprintf("b64: decode: length %d: invalid base64", len(tt.in))
			}
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
		})
	}
}

func TestDecodeValidEdgeCases(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", []byte{}},
		{"AA", []byte{0}},
		{"AA==", []byte{0}},
		{"AAA", []byte{0, 0}},
		{"AAA=", []byte{0, 0}},
		{"AAAA", []byte{0, 0, 0}},
		{"//", []byte{0xff}},
		{"//==", []byte{0xff}},
		{"///", []byte{0xff, 0xff}},
		{"////", []byte{0xff, 0xff, 0xff}},
		{"++++", []byte{0xfb, 0xef, 0xbe}},
		// Non-zero trailing bits are ignored.
		{"Zh", []byte{'f'}},
		{"Zh==", []byte{'f'}},
		{"Zm9", []byte{'f', 'o'}},
		{"Zm9=", []byte{'f', 'o'}},
		{"//8", []byte{0xff, 0xff}},
		{"/w", []byte{0xff}},
		{"/x", []byte{0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := b64.Decode(tt.in)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpBytes); diff != "" {
				t.Errorf("Decode(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestAppendEncodeAliasing(t *testing.T) {
	buf := make([]byte, 3, 64)
	copy(buf, "abc")
	got := b64.AppendEncode(buf, []byte("foobar"))
	if string(got) != "abcZm9vYmFy" {
		t.Errorf("AppendEncode = %q", got)
	}
	if got := b64.AppendEncode(nil, nil); len(got) != 0 {
		t.Errorf("AppendEncode(nil, nil) = %q", got)
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{32, 1024, 3600} {
		src := ramp(n)
		dst := make([]byte, 0, b64.EncodedLen(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				dst = b64.AppendEncode(dst[:0], src)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{32, 1024, 3600} {
		s := b64.Encode(ramp(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := b64.Decode(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The encoding/base64 benchmarks give a baseline for the cost of constant time.
func BenchmarkStdlibEncode(b *testing.B) {
	for _, n := range []int{32, 1024, 3600} {
		src := ramp(n)
		dst := make([]byte, 0, b64.EncodedLen(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				dst = base64.RawStdEncoding.AppendEncode(dst[:0], src)
			}
		})
	}
}

func BenchmarkStdlibDecode(b *testing.B) {
	for _, n := range []int{32, 1024, 3600} {
		s := b64.Encode(ramp(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := base64.RawStdEncoding.DecodeString(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
