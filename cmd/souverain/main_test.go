package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/souverain/e2ee/vectors"
)

func TestConformance(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"conformance"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	for _, family := range []string{
		"canonical-json", "ed25519-json-signing", "unpadded-base64",
		"megolm-decrypt", "megolm-key-export-file", "x25519",
	} {
		if !strings.Contains(out, "\n"+family+" ") {
			t.Errorf("table lacks a row for %q:\n%s", family, out)
		}
	}
	if !strings.HasPrefix(out, "FAMILY ") || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("unexpected output:\n%s", out)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want empty", &stderr)
	}
}

func TestConformanceFailure(t *testing.T) {
	r := vectors.Report{Families: []vectors.FamilyResult{
		{Family: "k", Passed: 1, Failed: 1, Failures: []vectors.Failure{{ID: "v1", Reason: "got x, want y"}}},
	}}
	var stdout bytes.Buffer
	if code := conformance(r, &stdout); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{"FAIL k v1: got x, want y\n", "FAIL: 1 vectors failed\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantStdout bool
		stderrHas  string
	}{
		{nil, 2, false, "Usage: souverain"},
		{[]string{"help"}, 0, true, ""},
		{[]string{"--help"}, 0, true, ""},
		{[]string{"frobnicate"}, 2, false, `unknown command "frobnicate"`},
		{[]string{"conformance", "--exec"}, 2, false, `unexpected argument "--exec"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, strings.NewReader(""), &stdout, &stderr); code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if tt.wantStdout {
				if !strings.Contains(stdout.String(), "Usage: souverain") || stderr.Len() != 0 {
					t.Errorf("stdout = %q, stderr = %q; want usage on stdout", &stdout, &stderr)
				}
				return
			}
			if stdout.Len() != 0 || !strings.Contains(stderr.String(), tt.stderrHas) || !strings.Contains(stderr.String(), "Usage:") {
				t.Errorf("stdout = %q, stderr = %q; want %q and usage on stderr", &stdout, &stderr, tt.stderrHas)
			}
		})
	}
}
