package vectors_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/vectors"
)

// serveEnv makes the test binary serve the protocol with DeterministicNative
// instead of running tests, so that Exec can be tested against a real
// process.
const serveEnv = "SOUVERAIN_VECTORS_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(serveEnv) {
	case "native":
		if err := vectors.Serve(vectors.DeterministicNative(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "crash":
		os.Exit(3)
	case "flaky":
		impl := override{vectors.Native(), map[string]func(json.RawMessage) (json.RawMessage, error){
			"base64.encode": func(json.RawMessage) (json.RawMessage, error) { os.Exit(4); return nil, nil },
		}}
		vectors.Serve(impl, os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// files returns the embedded files, without the slow vectors in -short
// mode.
func files(t *testing.T) []vectors.File {
	t.Helper()
	fs, err := vectors.Files()
	if err != nil {
		t.Fatal(err)
	}
	if !testing.Short() {
		return fs
	}
	for i := range fs {
		fs[i].Vectors = slices.DeleteFunc(slices.Clone(fs[i].Vectors), func(v vectors.Vector) bool { return v.HasFlag("slow") })
	}
	return fs
}

// TestNative runs the whole suite against this library and requires every
// vector to pass, or to be skipped for a stated reason.
func TestNative(t *testing.T) {
	r := vectors.RunFiles(vectors.DeterministicNative(), files(t))
	for _, f := range r.Families {
		t.Logf("%-22s %-24s passed %4d  failed %3d  skipped %3d  must-fail %3d  %s", f.Family, f.Kind, f.Passed, f.Failed, f.Skipped, f.MustFail, f.SkipReason)
		for _, fail := range f.Failures {
			t.Errorf("%s: %s", fail.ID, fail.Reason)
		}
	}
	// The only skips: kinds outside an E2EE library, and the published
	// SAS MAC encoding vector, which no operation takes alone.
	for _, f := range r.Families {
		if f.Skipped > 0 && f.Kind != "federation-event-signing" && f.Kind != "sas-hkdf-hmac-sha256-v1-encoding" {
			t.Errorf("%s/%s: %d skipped: %s", f.Family, f.Kind, f.Skipped, f.SkipReason)
		}
	}
}

// TestNativeWithoutRandom checks that plain Native skips, and never fails
// or passes, the operations that need caller-chosen random input.
func TestNativeWithoutRandom(t *testing.T) {
	fs := files(t)
	var vs []vectors.Vector
	for _, f := range fs {
		for _, v := range f.Vectors {
			switch v.Kind {
			case "olm.outbound_session", "sas.bytes", "pk.encrypt", "secret_storage.encrypt", "key_export.encrypt":
				vs = append(vs, v)
			}
		}
	}
	r := vectors.RunVectors(vectors.Native(), vs)
	if r.Passed() != 0 || r.Failed() != 0 || r.Skipped() != len(vs) {
		t.Errorf("passed %d, failed %d, skipped %d of %d; want all skipped", r.Passed(), r.Failed(), r.Skipped(), len(vs))
	}
}

func TestFiles(t *testing.T) {
	fs, err := vectors.Files()
	if err != nil {
		t.Fatal(err)
	}
	var families []string
	total, mustFail := 0, 0
	for _, f := range fs {
		families = append(families, f.Family)
		for _, v := range f.Vectors {
			total++
			if v.MustFail() {
				mustFail++
			}
		}
	}
	want := []string{"canonical-json-extra", "cipher", "dehydrated-devices", "key-export", "libolm-pickles", "megolm-decrypt", "megolm-ratchet",
		"olm-decrypt", "olm-session-setup", "pk", "qrlogin", "recovery-keys", "sas", "secret-storage", "signatures", "spec", "vodozemac-pickles"}
	if !slices.Equal(families, want) {
		t.Errorf("families = %q, want %q", families, want)
	}
	// The targets: at least 1000 vectors, a third of them
	// must-fail.
	if total < 1000 || 3*mustFail < total {
		t.Errorf("%d vectors, %d must-fail; want at least 1000 and a third", total, mustFail)
	}
}

func TestParseFileRejects(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"unknown member", `{"description":"d","vectors":[],"extra":1}`, "unknown field"},
		{"no description", `{"vectors":[]}`, "no description"},
		{"two values", `{"description":"d","vectors":[]} {}`, "data after"},
		{"no id", `{"description":"d","vectors":[{"kind":"k","source":"s","inputs":{},"expected":{}}]}`, "no id"},
		{"both", `{"description":"d","vectors":[{"id":"x","kind":"k","source":"s","inputs":{},"expected":{},"expected_error":"e"}]}`, "exactly one"},
		{"neither", `{"description":"d","vectors":[{"id":"x","kind":"k","source":"s","inputs":{}}]}`, "exactly one"},
		{"unknown flag", `{"description":"d","vectors":[{"id":"x","kind":"k","source":"s","inputs":{},"expected":{},"flags":["fast"]}]}`, "unknown flag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vectors.ParseFile([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFile = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// override is the native implementation with some operations replaced.
type override struct {
	vectors.Impl
	ops map[string]func(args json.RawMessage) (json.RawMessage, error)
}

func (o override) Do(op string, args json.RawMessage) (json.RawMessage, error) {
	if f, ok := o.ops[op]; ok {
		return f(args)
	}
	return o.Impl.Do(op, args)
}

// failing returns an operation that always fails.
func failing(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("no") }

// sample returns every vector of the given kinds and the first few of each
// other kind, without the slow ones.
func sample(t *testing.T, kinds []string) []vectors.File {
	fs := files(t)
	for i := range fs {
		seen := map[string]int{}
		fs[i].Vectors = slices.DeleteFunc(slices.Clone(fs[i].Vectors), func(v vectors.Vector) bool {
			seen[v.Kind]++
			return v.HasFlag("slow") || !slices.Contains(kinds, v.Kind) && seen[v.Kind] > 3
		})
	}
	return fs
}

// TestDetectsFailures checks that the runner is not vacuous: each broken
// operation makes its kind fail and leaves the others passing.
func TestDetectsFailures(t *testing.T) {
	native := vectors.Native()
	tests := []struct {
		name   string
		ops    map[string]func(json.RawMessage) (json.RawMessage, error)
		kinds  []string
		failed int // 0: some
	}{
		{"padded base64", map[string]func(json.RawMessage) (json.RawMessage, error){"base64.encode": func(a json.RawMessage) (json.RawMessage, error) {
			res, err := native.Do("base64.encode", a)
			var m map[string]string
			json.Unmarshal(res, &m)
			for len(m["base64"])%4 != 0 {
				m["base64"] += "="
			}
			out, _ := json.Marshal(m)
			return out, err
		}}, []string{"unpadded-base64"}, 4},
		{"canonical JSON that accepts everything", map[string]func(json.RawMessage) (json.RawMessage, error){"json.canonicalize": func(a json.RawMessage) (json.RawMessage, error) {
			res, err := native.Do("json.canonicalize", a)
			if err != nil {
				return json.RawMessage(`{"canonical_json":"null"}`), nil
			}
			return res, nil
		}}, []string{"canonical-json", "json.canonicalize"}, 0},
		{"Olm decryption that never fails", map[string]func(json.RawMessage) (json.RawMessage, error){"olm.decrypt": func(a json.RawMessage) (json.RawMessage, error) {
			res, err := native.Do("olm.decrypt", a)
			if err != nil {
				return json.RawMessage(`{"plaintext_hex":""}`), nil
			}
			return res, nil
		}}, []string{"olm.decrypt"}, 0},
		{"Megolm index off by one", map[string]func(json.RawMessage) (json.RawMessage, error){"megolm.decrypt": func(a json.RawMessage) (json.RawMessage, error) {
			res, err := native.Do("megolm.decrypt", a)
			if err != nil {
				return nil, err
			}
			var m map[string]any
			json.Unmarshal(res, &m)
			m["message_index"] = m["message_index"].(float64) + 1
			return json.Marshal(m)
		}}, []string{"megolm.decrypt", "megolm-decrypt"}, 0},
		{"a panic", map[string]func(json.RawMessage) (json.RawMessage, error){"cipher.decrypt": func(json.RawMessage) (json.RawMessage, error) { panic("boom") }}, []string{"cipher.decrypt"}, 0},
		{"a fault", map[string]func(json.RawMessage) (json.RawMessage, error){"pk.decrypt": func(json.RawMessage) (json.RawMessage, error) {
			return nil, fmt.Errorf("%w: crashed", vectors.ErrFault)
		}}, []string{"pk.decrypt"}, 0},
		{"a result that is not an object", map[string]func(json.RawMessage) (json.RawMessage, error){"recovery_key.decode": func(json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`[]`), nil
		}}, []string{"recovery_key.decode"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := vectors.RunFiles(override{native, tt.ops}, sample(t, tt.kinds))
			failed := 0
			for _, f := range r.Families {
				if slices.Contains(tt.kinds, f.Kind) {
					failed += f.Failed
				} else if f.Failed != 0 {
					t.Errorf("%s/%s: %d failed, want 0: %v", f.Family, f.Kind, f.Failed, f.Failures[0])
				}
				if f.Failed != len(f.Failures) {
					t.Errorf("%s/%s: %d failed but %d failures described", f.Family, f.Kind, f.Failed, len(f.Failures))
				}
			}
			if failed == 0 || tt.failed != 0 && failed != tt.failed {
				t.Errorf("%v: %d failed, want %d (0: some)", tt.kinds, failed, tt.failed)
			}
		})
	}
}

// TestMustFailProveNothingAlone checks that an implementation failing every
// call passes nothing: its must-fail "passes" become skips.
func TestMustFailProveNothingAlone(t *testing.T) {
	r := vectors.RunFiles(override{Impl: vectors.Native(), ops: map[string]func(json.RawMessage) (json.RawMessage, error){
		"olm.decrypt": failing, "megolm.decrypt": failing,
	}}, sample(t, []string{"olm.decrypt", "megolm.decrypt"}))
	for _, kind := range []string{"olm.decrypt", "megolm.decrypt"} {
		f, _ := r.Kind(kind)
		if f.Passed != 0 || f.Skipped != f.MustFail || !strings.Contains(f.SkipReason, "prove nothing") {
			t.Errorf("%s: passed %d, skipped %d of %d must-fail (%q); want none passed, every must-fail skipped", kind, f.Passed, f.Skipped, f.MustFail, f.SkipReason)
		}
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
		{"missing result member", vectors.Vector{ID: "x", Kind: "base64.encode", Inputs: []byte(`{"bytes_hex":"00"}`), Expected: []byte(`{"base64":"AA","other":1}`)}, `result has no "other"`},
		{"wrong result", vectors.Vector{ID: "x", Kind: "base64.encode", Inputs: []byte(`{"bytes_hex":"00"}`), Expected: []byte(`{"base64":"AB"}`)}, `base64 = "AA", want "AB"`},
		{"unexpected success", vectors.Vector{ID: "x", Kind: "base64.decode", Inputs: []byte(`{"base64":"AA"}`), ExpectedError: "bad-base64"}, "want an error (bad-base64)"},
		{"bad arguments are a fault, not a pass", vectors.Vector{ID: "x", Kind: "base64.decode", Inputs: []byte(`{"b64":"AA"}`), ExpectedError: "bad-base64"}, "bad arguments"},
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

// TestExec runs part of the suite through the external protocol, against
// this test binary serving DeterministicNative, and checks that the report
// is the one of the same vectors run in process.
func TestExec(t *testing.T) {
	fs := sample(t, []string{"olm.decrypt", "megolm.decrypt", "sas.bytes", "olm.outbound_session"})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"=native")
	cmd.Stderr = os.Stderr
	p, err := vectors.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	got := vectors.RunFiles(p, fs)
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	want := vectors.RunFiles(vectors.DeterministicNative(), fs)
	if got.Passed() != want.Passed() || got.Failed() != 0 || got.Skipped() != want.Skipped() {
		t.Errorf("over the protocol: passed %d, failed %d, skipped %d; in process: %d, %d, %d\n%v",
			got.Passed(), got.Failed(), got.Skipped(), want.Passed(), want.Failed(), want.Skipped(), got.FailedIDs())
	}
}

// TestExecCrash checks that an implementation that exits fails every
// vector, must-fail ones included.
func TestExecCrash(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"=crash")
	p, err := vectors.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	vs := []vectors.Vector{
		{ID: "a", Kind: "base64.decode", Source: "s", Inputs: []byte(`{"base64":"!"}`), ExpectedError: "bad-base64"},
		{ID: "b", Kind: "base64.decode", Source: "s", Inputs: []byte(`{"base64":"AA"}`), Expected: []byte(`{"bytes_hex":"00"}`)},
	}
	r := vectors.RunVectors(p, vs)
	if r.Failed() != 2 {
		t.Errorf("failed %d, want 2: %+v", r.Failed(), r)
	}
}

// TestExecRestart checks that a crash fails one vector and the process is
// started again for the next.
func TestExecRestart(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"=flaky")
	p, err := vectors.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ok := vectors.Vector{ID: "ok", Kind: "base64.decode", Source: "s", Inputs: []byte(`{"base64":"AA"}`), Expected: []byte(`{"bytes_hex":"00"}`)}
	crash := vectors.Vector{ID: "crash", Kind: "base64.encode", Source: "s", Inputs: []byte(`{"bytes_hex":"00"}`), Expected: []byte(`{"base64":"AA"}`)}
	ok2 := ok
	ok2.ID = "ok2"
	r := vectors.RunVectors(p, []vectors.Vector{ok, crash, ok2})
	if r.Passed() != 2 || r.Failed() != 1 || p.Restarts != 1 {
		t.Errorf("passed %d, failed %d, restarts %d; want 2, 1, 1: %+v", r.Passed(), r.Failed(), p.Restarts, r)
	}
}

// TestServe checks the answers of Serve line by line.
func TestServe(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"1","op":"base64.decode","args":{"base64":"AA"}}`,
		`{"id":"2","op":"base64.decode","args":{"base64":"!"}}`,
		`{"id":"3","op":"no.such.op","args":{}}`,
		`{"id":"4","op":"base64.decode","args":{"nope":1}}`,
		``,
		`not json`,
	}, "\n")
	var out strings.Builder
	if err := vectors.Serve(vectors.Native(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`{"id":"1","result":{"bytes_hex":"00"}}`,
		`{"id":"2","error":`,
		`{"id":"3","unsupported":"no.such.op"}`,
		`{"id":"4","fault":`,
		`{"id":"","fault":"bad request:`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d response lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %s, want prefix %s", i+1, lines[i], want[i])
		}
	}
}
