package canonicaljson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/souverain/e2ee/internal/canonicaljson"
)

// FuzzCanonicalize checks that Canonicalize never panics, that it accepts
// only what encoding/json also accepts, and that its output is valid UTF-8,
// canonical (a fixed point) and means the same as the input; and that
// CanonicalizeStrict accepts a subset of it with the same output, including
// every canonical output. The seed corpus is in
// testdata/fuzz/FuzzCanonicalize.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"one":1,"two":"Two"}`, `{"a":-0,"b":1e10}`, `{"a":"\u65E5"}`,
		`[1.5]`, `{"a":1,"a":2}`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := canonicaljson.Canonicalize(in)
		strict, serr := canonicaljson.CanonicalizeStrict(in)
		if serr == nil && (err != nil || !bytes.Equal(strict, out)) {
			t.Fatalf("CanonicalizeStrict(%q) = %q, Canonicalize = %q, %v", in, strict, out, err)
		}
		if err == nil && serr != nil && !errors.Is(serr, canonicaljson.ErrNumberForm) {
			t.Fatalf("CanonicalizeStrict(%q) refused for another reason than a number's form: %v", in, serr)
		}
		if err == nil {
			if again, err := canonicaljson.CanonicalizeStrict(out); err != nil || !bytes.Equal(again, out) {
				t.Fatalf("CanonicalizeStrict refuses canonical %q: %v", out, err)
			}
		}
		if err != nil {
			if out != nil {
				t.Fatalf("Canonicalize returned output %q with error %v", out, err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("Canonicalize accepted %q, which encoding/json rejects", in)
		}
		if !utf8.Valid(out) {
			t.Fatalf("Canonicalize(%q) = %q, not valid UTF-8", in, out)
		}
		again, err := canonicaljson.Canonicalize(out)
		if err != nil {
			t.Fatalf("Canonicalize(%q) = %q, which it then rejects: %v", in, out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		var vin, vout any
		if err := json.Unmarshal(in, &vin); err != nil {
			t.Fatalf("encoding/json rejects input %q: %v", in, err)
		}
		if err := json.Unmarshal(out, &vout); err != nil {
			t.Fatalf("encoding/json rejects output %q: %v", out, err)
		}
		if !reflect.DeepEqual(vin, vout) {
			t.Fatalf("meaning changed: %q (%#v) -> %q (%#v)", in, vin, out, vout)
		}
	})
}
