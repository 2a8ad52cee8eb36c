package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/vectors"
)

// serveEnv makes the test binary an external implementation for
// conformance -exec: "native" serves this library, "broken" serves it with
// recovery_key.encode always failing.
const serveEnv = "SOUVERAIN_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(serveEnv) {
	case "native":
		vectors.Serve(vectors.DeterministicNative(), os.Stdin, os.Stdout)
		os.Exit(0)
	case "broken":
		vectors.Serve(brokenImpl{vectors.Native()}, os.Stdin, os.Stdout)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type brokenImpl struct{ vectors.Impl }

func (b brokenImpl) Do(op string, args json.RawMessage) (json.RawMessage, error) {
	if op == "recovery_key.encode" {
		return nil, errors.New("broken")
	}
	return b.Impl.Do(op, args)
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(args, strings.NewReader(stdin), &stdout, &stderr, getenv)
	return result{code, stdout.String(), stderr.String()}
}

// wantFailure checks exit status 1 with one line on stderr containing msg.
func (r result) wantFailure(t *testing.T, msg string) {
	t.Helper()
	if r.code != exitFailure {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, exitFailure, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, msg) || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("stderr = %q, want a line containing %q and no stack trace", r.stderr, msg)
	}
}

func TestConformance(t *testing.T) {
	r := runCmd(t, "", nil, "conformance", "-family", "recovery")
	if r.code != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, row := range []string{"FAMILY ", "\nrecovery-keys ", "recovery_key.decode", "\ntotal ", "\nok\n"} {
		if !strings.Contains(r.stdout, row) {
			t.Errorf("output lacks %q:\n%s", row, r.stdout)
		}
	}
}

func TestConformanceAll(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every vector")
	}
	r := runCmd(t, "", nil, "conformance")
	if r.code != exitOK || !strings.HasSuffix(r.stdout, "ok\n") {
		t.Errorf("exit status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestConformanceExec(t *testing.T) {
	t.Setenv(serveEnv, "native")
	r := runCmd(t, "", nil, "conformance", "-exec", os.Args[0], "-family", "sas")
	if r.code != exitOK || !strings.Contains(r.stdout, "sas.verify_mac") || strings.Contains(r.stdout, "\nFAIL ") {
		t.Errorf("exit status %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestConformanceExpectFailures(t *testing.T) {
	t.Setenv(serveEnv, "broken")
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf("gen-recovery-keys-recovery-%d-encode  # broken on purpose", i))
	}
	p := filepath.Join(t.TempDir(), "known")
	if err := os.WriteFile(p, []byte("# recovery_key.encode is broken\n\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "", nil, "conformance", "-exec", os.Args[0], "-family", "recovery", "-expect-failures", p)
	if r.code != exitOK || !strings.Contains(r.stdout, "ok: the 10 failures are the known ones") {
		t.Errorf("exit status %d\n%s", r.code, r.stdout)
	}
	runCmd(t, "", nil, "conformance", "-expect-failures", filepath.Join(t.TempDir(), "nope")).wantFailure(t, "no such file")
}

func TestReportExpectations(t *testing.T) {
	r := vectors.Report{Families: []vectors.FamilyResult{{
		Family: "f", Kind: "k", Passed: 2, Failed: 2,
		Failures: []vectors.Failure{{ID: "a", Reason: "wrong"}, {ID: "b", Reason: "wrong"}},
	}}}
	tests := []struct {
		name string
		exp  *expectation
		code int
		want string
	}{
		{"no list", nil, exitFailure, "FAIL: 2 of 4 vectors failed"},
		{"exact", &expectation{must: []string{"a", "b"}}, exitOK, "ok: the 2 failures are the known ones"},
		{"one missing", &expectation{must: []string{"a"}}, exitFailure, "FAIL b: wrong"},
		{"stale", &expectation{must: []string{"a", "b", "c"}}, exitFailure, "PASS c, listed as a known failure"},
		{"optional", &expectation{must: []string{"a"}, may: map[string]bool{"b": true, "d": true}}, exitOK, "2 vectors may fail or pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.exp != nil && tt.exp.may == nil {
				tt.exp.may = map[string]bool{}
			}
			var out bytes.Buffer
			if code := report(r, tt.exp, false, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, output:\n%s\nwant %d and %q", code, &out, tt.code, tt.want)
			}
		})
	}
}

func TestReadExpected(t *testing.T) {
	p := filepath.Join(t.TempDir(), "known")
	os.WriteFile(p, []byte("# comment\n\nb  # why\na\n? c # undefined\n"), 0o644)
	exp, err := readExpected(p)
	if err != nil || strings.Join(exp.must, ",") != "a,b" || !exp.may["c"] || len(exp.may) != 1 {
		t.Errorf("readExpected = %+v, %v", exp, err)
	}
	os.WriteFile(p, []byte("# nothing\n"), 0o644)
	if _, err := readExpected(p); err == nil {
		t.Error("an empty list was accepted")
	}
}

func TestConformanceExecCrash(t *testing.T) {
	runCmd(t, "", nil, "conformance", "-exec", "exit 3", "-family", "recovery").wantFailure(t, "the implementation does not answer")
	runCmd(t, "", nil, "conformance", "-exec", "no-such-command-here").wantFailure(t, "the implementation does not answer")
}

func TestRecoveryKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	rk, err := keybackup.EncodeRecoveryKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b64 := "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"
	tests := []struct {
		name  string
		stdin string
		args  []string
		out   string
	}{
		{"check from arguments", "", append([]string{"recovery-key"}, strings.Fields(rk)...), "ok: a valid recovery key"},
		{"check from stdin", rk + "\n", []string{"recovery-key"}, "ok: a valid recovery key"},
		{"decode", "", []string{"recovery-key", "-decode", rk}, b64 + "\n"},
		{"encode", "", []string{"recovery-key", "-encode", b64}, rk + "\n"},
		{"encode padded", "", []string{"recovery-key", "-encode", b64 + "="}, rk + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.stdin, nil, tt.args...)
			if r.code != exitOK || !strings.HasPrefix(r.stdout, tt.out) || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, tt.out)
			}
		})
	}
	damaged := []byte(strings.ReplaceAll(rk, " ", ""))
	damaged[10] ^= 1
	runCmd(t, "", nil, "recovery-key", string(damaged)).wantFailure(t, "souverain recovery-key: ")
	runCmd(t, "", nil, "recovery-key", "-encode", "!!").wantFailure(t, "not base64")
	runCmd(t, "", nil, "recovery-key", "-encode", "AAAA").wantFailure(t, "souverain recovery-key: ")
	if r := runCmd(t, "", nil, "recovery-key", "-decode", "-encode", rk); r.code != exitUsage {
		t.Errorf("-decode -encode: exit %d, want %d", r.code, exitUsage)
	}
	if r := runCmd(t, "", nil, "recovery-key"); r.code != exitUsage || !strings.Contains(r.stderr, "no key given") {
		t.Errorf("no key: exit %d, stderr %q", r.code, r.stderr)
	}
}

// exportFile writes a key export of two sessions under "passphrase" with
// 1000 PBKDF2 rounds, built here from the specification's format (the
// library writes only files of 500,000 rounds or more, too slow for every
// test run), and returns its path.
func exportFile(t *testing.T) string {
	t.Helper()
	var sessions []keybackup.ExportedSession
	for i := range 2 {
		g, err := megolm.NewGroupSession()
		if err != nil {
			t.Fatal(err)
		}
		g.Encrypt([]byte("x"))
		in, err := megolm.NewInboundGroupSession(g.SessionKey())
		if err != nil {
			t.Fatal(err)
		}
		var sender olm.Curve25519PublicKey
		sender[0] = byte(i) + 1 // the zero key counts as absent
		sessions = append(sessions, keybackup.NewExportedSession(fmt.Sprintf("!room%d:example.org", i), in, sender, olm.Ed25519PublicKey{}, nil))
	}
	pt, err := keybackup.MarshalKeyExport(sessions)
	if err != nil {
		t.Fatal(err)
	}
	salt, iv := make([]byte, 16), make([]byte, 16)
	salt[0], iv[0] = 1, 2
	const rounds = 1000
	dk, err := pbkdf2.Key(sha512.New, "passphrase", salt, rounds, 64)
	if err != nil {
		t.Fatal(err)
	}
	body := append([]byte{1}, salt...)
	body = append(body, iv...)
	body = binary.BigEndian.AppendUint32(body, rounds)
	block, _ := aes.NewCipher(dk[:32])
	ct := make([]byte, len(pt))
	cipher.NewCTR(block, iv).XORKeyStream(ct, pt) // no 64-bit wrap for so few blocks
	body = append(body, ct...)
	m := hmac.New(sha256.New, dk[32:])
	m.Write(body)
	body = m.Sum(body)
	file := keybackup.ExportHeader + "\n" + base64.StdEncoding.EncodeToString(body) + "\n" + keybackup.ExportFooter + "\n"
	p := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExport(t *testing.T) {
	file := exportFile(t)
	passFile := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(passFile, []byte("passphrase\n"), 0o600)
	for _, tt := range []struct {
		name  string
		stdin string
		env   map[string]string
		args  []string
	}{
		{"stdin", "passphrase\n", nil, []string{"export", file}},
		{"env", "", map[string]string{"SOUVERAIN_PASSPHRASE": "passphrase"}, []string{"export", file}},
		{"file", "", nil, []string{"export", "-passphrase-file", passFile, file}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.stdin, tt.env, tt.args...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{"ROOM ", "!room0:example.org", "!room1:example.org", "2 sessions"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, "1000 rounds") || !strings.HasSuffix(r.stderr, "s\n") || !strings.Contains(r.stderr, "done in") {
				t.Errorf("progress on stderr = %q", r.stderr)
			}
		})
	}
	runCmd(t, "wrong\n", nil, "export", file).wantFailure(t, "wrong passphrase")
	runCmd(t, "passphrase\n", nil, "export", filepath.Join(t.TempDir(), "none")).wantFailure(t, "no such file")
	runCmd(t, "", nil, "export", file).wantFailure(t, "no passphrase given")
	notExport := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notExport, []byte("hello\n"), 0o600)
	runCmd(t, "passphrase\n", nil, "export", notExport).wantFailure(t, "souverain export: ")
	if r := runCmd(t, "", nil, "export"); r.code != exitUsage {
		t.Errorf("no file: exit %d, want %d", r.code, exitUsage)
	}
}

func TestBench(t *testing.T) {
	r := runCmd(t, "", nil, "bench", "-time", "1ms", "-run", "recovery|canonical")
	if r.code != exitOK || !strings.Contains(r.stdout, "recovery-key/decode") || !strings.Contains(r.stdout, "TIME/OP") || strings.Contains(r.stdout, "olm/") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, "", nil, "bench", "-run", "("); r.code != exitUsage {
		t.Errorf("bad regexp: exit %d", r.code)
	}
	if r := runCmd(t, "", nil, "bench", "-time", "1ms", "-run", "nothing-matches"); r.code != exitFailure {
		t.Errorf("no match: exit %d", r.code)
	}
}

func TestBenchAll(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark")
	}
	r := runCmd(t, "", nil, "bench", "-time", "1ms")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != len(benchmarks)+1 {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantStdout string // on stdout, else stderr holds wantStderr
		wantStderr string
	}{
		{nil, exitUsage, "", "Usage: souverain"},
		{[]string{"help"}, exitOK, "Usage: souverain", ""},
		{[]string{"--help"}, exitOK, "Usage: souverain", ""},
		{[]string{"help", "conformance"}, exitOK, "Usage: souverain conformance", ""},
		{[]string{"conformance", "-h"}, exitOK, "Usage: souverain conformance", ""},
		{[]string{"help", "nope"}, exitUsage, "", `unknown command "nope"`},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"conformance", "-exec"}, exitUsage, "", "flag needs an argument: -exec"},
		{[]string{"conformance", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"conformance", "-family", "nothing"}, exitUsage, "", `no family matches "nothing"`},
		{[]string{"bench", "-time", "0s"}, exitUsage, "", "-time must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCmd(t, "", nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit status %d, want %d", r.code, tt.code)
			}
			if tt.wantStdout != "" {
				if !strings.Contains(r.stdout, tt.wantStdout) || r.stderr != "" {
					t.Errorf("stdout = %q, stderr = %q; want %q on stdout", r.stdout, r.stderr, tt.wantStdout)
				}
				return
			}
			if r.stdout != "" || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stdout = %q, stderr = %q; want %q on stderr", r.stdout, r.stderr, tt.wantStderr)
			}
		})
	}
}

func TestPanicIsOneLine(t *testing.T) {
	commands = append(commands, &command{name: "boom", setup: func(*flag.FlagSet) string { return "" },
		run: func(*command, *flag.FlagSet, []string, *env) int { panic("kaboom") }})
	defer func() { commands = commands[:len(commands)-1] }()
	runCmd(t, "", nil, "boom").wantFailure(t, "souverain: internal error: kaboom")
}
