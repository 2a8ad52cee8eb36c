package vectors_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/vectors"
)

// TestNative runs the whole suite against this library and requires every
// runnable family to pass.
func TestNative(t *testing.T) {
	r := vectors.Run(vectors.Native())
	for _, f := range r.Families {
		t.Logf("%-34s passed %2d  failed %d  skipped %d  %s", f.Family, f.Passed, f.Failed, f.Skipped, f.SkipReason)
		for _, fail := range f.Failures {
			t.Errorf("%s: %s: %s", f.Family, fail.ID, fail.Reason)
		}
	}
	if !r.OK() {
		t.Fatalf("%d vectors failed", r.Failed())
	}
	// The counts pin the data: a vector that silently stopped running
	// would show up here.
	want := map[string][3]int{ // passed, failed, skipped
		"canonical-json":                   {25, 0, 0},
		"ed25519-json-signing":             {2, 0, 0},
		"unpadded-base64":                  {7, 0, 0},
		"federation-event-signing":         {0, 0, 2},
		"megolm-decrypt":                   {0, 0, 2},
		"megolm-key-export-file":           {0, 0, 4},
		"sas-hkdf-hmac-sha256-v1-encoding": {0, 0, 1},
		"table":                            {0, 0, 1},
		"x25519":                           {0, 0, 1},
	}
	if len(r.Families) != len(want) {
		t.Errorf("got %d families, want %d", len(r.Families), len(want))
	}
	for kind, w := range want {
		f, ok := r.Family(kind)
		if !ok {
			t.Errorf("family %q missing from the report", kind)
			continue
		}
		if got := [3]int{f.Passed, f.Failed, f.Skipped}; got != w {
			t.Errorf("family %q: passed/failed/skipped = %v, want %v", kind, got, w)
		}
		if f.Skipped > 0 && f.SkipReason == "" {
			t.Errorf("family %q skipped without a reason", kind)
		}
	}
}

func TestFiles(t *testing.T) {
	files, err := vectors.Files()
	if err != nil {
		t.Fatal(err)
	}
	var families []string
	for _, f := range files {
		families = append(families, f.Family)
		if f.Description == "" {
			t.Errorf("file of family %q has no description", f.Family)
		}
	}
	if want := []string{"canonical-json-extra", "spec"}; !slices.Equal(families, want) {
		t.Errorf("families = %q, want %q", families, want)
	}
}

// broken is the native implementation with one operation replaced.
type broken struct {
	vectors.Impl
	encode    func([]byte) string
	canonical func([]byte) ([]byte, error)
	sign      func([]byte, string, string, []byte) ([]byte, error)
}

func (b broken) UnpaddedBase64Encode(src []byte) string {
	if b.encode != nil {
		return b.encode(src)
	}
	return b.Impl.UnpaddedBase64Encode(src)
}

func (b broken) CanonicalJSON(text []byte) ([]byte, error) {
	if b.canonical != nil {
		return b.canonical(text)
	}
	return b.Impl.CanonicalJSON(text)
}

func (b broken) SignJSON(seed []byte, entity, keyID string, text []byte) ([]byte, error) {
	if b.sign != nil {
		return b.sign(seed, entity, keyID, text)
	}
	return b.Impl.SignJSON(seed, entity, keyID, text)
}

// TestDetectsFailures checks that the runner is not vacuous: each broken
// operation makes its family fail and leaves the others passing.
func TestDetectsFailures(t *testing.T) {
	native := vectors.Native()
	tests := []struct {
		name   string
		impl   vectors.Impl
		family string
		failed int
	}{
		{"padded base64", broken{Impl: native, encode: func(b []byte) string {
			s := native.UnpaddedBase64Encode(b)
			for len(s)%4 != 0 {
				s += "="
			}
			return s
		}}, "unpadded-base64", 4},
		{"canonical JSON that accepts everything", broken{Impl: native, canonical: func(b []byte) ([]byte, error) {
			out, err := native.CanonicalJSON(b)
			if err != nil {
				return []byte("null"), nil
			}
			return out, nil
		}}, "canonical-json", 6},
		{"canonical JSON escaping like encoding/json", broken{Impl: native, canonical: func(b []byte) ([]byte, error) {
			out, err := native.CanonicalJSON(b)
			out = bytes.ReplaceAll(out, []byte("\u2028"), []byte(`\u2028`))
			out = bytes.ReplaceAll(out, []byte("<"), []byte(`\u003c`))
			return out, err
		}}, "canonical-json", 2},
		{"wrong signature", broken{Impl: native, sign: func(seed []byte, e, k string, text []byte) ([]byte, error) {
			out, err := native.SignJSON(seed, e, k, text)
			if err == nil {
				out = bytes.Replace(out, []byte(`"ed25519:1":"`), []byte(`"ed25519:1":"A`), 1)
			}
			return out, err
		}}, "ed25519-json-signing", 2},
		{"signing error", broken{Impl: native, sign: func([]byte, string, string, []byte) ([]byte, error) {
			return nil, errors.New("not implemented")
		}}, "ed25519-json-signing", 2},
		{"panic", broken{Impl: native, sign: func([]byte, string, string, []byte) ([]byte, error) {
			panic("boom")
		}}, "ed25519-json-signing", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vectors.Run(tt.impl)
			if r.OK() {
				t.Fatal("Run reported no failure")
			}
			for _, f := range r.Families {
				want := 0
				if f.Family == tt.family {
					want = tt.failed
				}
				if f.Failed != want {
					t.Errorf("family %q: %d failed, want %d (%v)", f.Family, f.Failed, want, f.Failures)
				}
				if f.Failed != len(f.Failures) {
					t.Errorf("family %q: %d failed but %d failures described", f.Family, f.Failed, len(f.Failures))
				}
			}
		})
	}
}

func TestRunVectors(t *testing.T) {
	tests := []struct {
		name   string
		v      vectors.Vector
		reason string
	}{
		{"unknown kind", vectors.Vector{ID: "x", Kind: "no-such-kind", Inputs: []byte(`{}`), Expected: []byte(`{}`)}, `no runner for kind "no-such-kind"`},
		{"unknown input member", vectors.Vector{ID: "x", Kind: "canonical-json", Inputs: []byte(`{"json":"{}"}`), Expected: []byte(`{"canonical_json":"{}"}`)}, "bad test data"},
		{"expected_error on signing", vectors.Vector{ID: "x", Kind: "ed25519-json-signing", Inputs: []byte(`{"json":{}}`), ExpectedError: "x"}, "bad test data"},
		{"bad seed", vectors.Vector{ID: "x", Kind: "ed25519-json-signing",
			Inputs:   []byte(`{"signing_key_seed_base64":"AAAA","server_name":"d","key_id":"ed25519:1","json":{}}`),
			Expected: []byte(`{"signed_json":{},"signature_base64":""}`)}, "bad test data: seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vectors.RunVectors(vectors.Native(), []vectors.Vector{tt.v})
			if len(r.Families) != 1 || r.Failed() != 1 {
				t.Fatalf("report = %+v, want one failure", r)
			}
			if got := r.Families[0].Failures[0].Reason; !strings.Contains(got, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", got, tt.reason)
			}
		})
	}
}

func TestNativeSignJSONKeepsOtherSignaturesAndUnsigned(t *testing.T) {
	seed := make([]byte, 32)
	in := []byte(`{"b":2,"a":1,"unsigned":{"age":5},"signatures":{"other":{"ed25519:x":"sig"},"domain":{"ed25519:0":"old"}}}`)
	out, err := vectors.Native().SignJSON(seed, "domain", "ed25519:1", in)
	if err != nil {
		t.Fatal(err)
	}
	// Signing the object without signatures and unsigned gives the same
	// signature, since both are removed before signing.
	plain, err := vectors.Native().SignJSON(seed, "domain", "ed25519:1", []byte(`{"a":1,"b":2}`))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `{"a":1,"b":2,"signatures":{"domain":{"ed25519:1":"`
	if !bytes.HasPrefix(plain, []byte(prefix)) {
		t.Fatalf("SignJSON = %s, want prefix %s", plain, prefix)
	}
	sig := strings.TrimSuffix(strings.TrimPrefix(string(plain), prefix), `"}}}`)
	want := `{"a":1,"b":2,"signatures":{"domain":{"ed25519:0":"old","ed25519:1":"` + sig + `"},"other":{"ed25519:x":"sig"}},"unsigned":{"age":5}}`
	if string(out) != want {
		t.Errorf("SignJSON =\n%s\nwant\n%s", out, want)
	}
}

func TestNativeSignJSONRejects(t *testing.T) {
	seed := make([]byte, 32)
	for _, in := range []string{`[]`, `"x"`, `null`, `{"a":1.5}`, `{"a":1,"a":1}`, `{"signatures":[]}`, `{"signatures":{"domain":"x"}}`, `{`} {
		if out, err := vectors.Native().SignJSON(seed, "domain", "ed25519:1", []byte(in)); err == nil {
			t.Errorf("SignJSON(%s) = %s, want an error", in, out)
		}
	}
	if _, err := vectors.Native().SignJSON(make([]byte, 31), "domain", "ed25519:1", []byte(`{}`)); err == nil {
		t.Error("SignJSON with a 31-byte seed succeeded")
	}
}
