package b64_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/b64"
)

// FuzzDecode checks Decode against encoding/base64: Decode accepts exactly
// what RawStdEncoding or StdEncoding (both non-strict) accept, except that
// encoding/base64 skips '\r' and '\n' and Decode does not, and it then returns
// the same bytes. It also checks Encode against RawStdEncoding on the input's
// bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "Zg", "Zg==", "Zm8", "Zm8=", "Zm9v", "Zm9vYmFy", "Zh", "Zh==",
		"YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", "A", "=", "Zg=", "Zg===",
		"Zm9v\n", "Zm9v\r\nYmFy", "-_", "Zm=v", "++//", "\xff\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := b64.Decode(s)
		raw, errRaw := base64.RawStdEncoding.DecodeString(s)
		std, errStd := base64.StdEncoding.DecodeString(s)
		if errRaw == nil && errStd == nil && !bytes.Equal(raw, std) {
			t.Fatalf("encoding/base64 disagrees with itself on %q", s)
		}
		hasNewline := strings.ContainsAny(s, "\r\n")

		if err != nil {
			if got != nil {
				t.Errorf("Decode(%q) returned %x with error %v", s, got, err)
			}
			if !errors.Is(err, b64.ErrInvalid) {
				t.Errorf("Decode(%q) error %v does not wrap ErrInvalid", s, err)
			}
			if !hasNewline && (errRaw == nil || errStd == nil) {
				t.Errorf("Decode(%q) rejected input that encoding/base64 accepts: %v", s, err)
			}
		} else {
			if hasNewline {
				t.Errorf("Decode(%q) accepted a line break", s)
			}
			switch {
			case errRaw == nil:
				if !bytes.Equal(got, raw) {
					t.Errorf("Decode(%q) = %x, RawStdEncoding gives %x", s, got, raw)
				}
			case errStd == nil:
				if !bytes.Equal(got, std) {
					t.Errorf("Decode(%q) = %x, StdEncoding gives %x", s, got, std)
				}
			default:
				t.Errorf("Decode(%q) accepted input that encoding/base64 rejects (%v; %v)", s, errRaw, errStd)
			}
			if n := b64.DecodedLen(len(strings.TrimRight(s, "="))); len(got) != n {
				t.Errorf("Decode(%q) returned %d bytes, DecodedLen says %d", s, len(got), n)
			}
		}

		enc := b64.Encode([]byte(s))
		if want := base64.RawStdEncoding.EncodeToString([]byte(s)); enc != want {
			t.Errorf("Encode(%q) = %q, want %q", s, enc, want)
		}
		back, err := b64.Decode(enc)
		if err != nil || string(back) != s {
			t.Errorf("Decode(Encode(%q)) = %q, %v", s, back, err)
		}
	})
}
