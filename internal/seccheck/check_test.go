package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// checkDir runs every rule on the fixture package in dir.
func checkDir(t *testing.T, dir string) []Finding {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []Finding
	if err := typedCheck(root, root, []string{"./" + dir}, &out); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := untypedCheck(root, f, &out); err != nil {
			t.Fatal(err)
		}
	}
	sortFindings(out)
	return out
}

// wants reads the "// want rule..." comments of the fixture files in dir.
func wants(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var out []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(f)
		for line := 1; s.Scan(); line++ {
			_, after, ok := strings.Cut(s.Text(), "// want ")
			if !ok {
				continue
			}
			for _, rule := range strings.Fields(after) {
				out = append(out, fmt.Sprintf("%s:%d %s", filepath.ToSlash(name), line, rule))
			}
		}
		f.Close()
	}
	sort.Strings(out)
	return out
}

func got(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Rule))
	}
	sort.Strings(out)
	return out
}

// TestPlanted checks that each planted violation is reported, on its
// line, and nothing else.
func TestPlanted(t *testing.T) {
	findings := checkDir(t, "testdata/bad")
	want := wants(t, "testdata/bad")
	if len(want) < 10 {
		t.Fatalf("fixture has only %d want comments", len(want))
	}
	if g := got(findings); !reflect.DeepEqual(g, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
		for _, f := range findings {
			t.Log(f)
		}
	}
}

// TestClean checks that constant-time comparisons and comparisons of
// public values are not reported.
func TestClean(t *testing.T) {
	for _, f := range checkDir(t, "testdata/good") {
		t.Errorf("unexpected finding: %s", f)
	}
}

// TestRunFailsOnPlanted runs the command's logic on the planted fixture with
// an empty allow-list: it must fail; with the fixture's findings allowed it
// passes; a stale entry fails it again; a FIX entry is reported as known.
func TestRunFailsOnPlanted(t *testing.T) {
	findings := checkDir(t, "testdata/bad")
	r := Apply(findings, nil)
	if len(r.New) != len(findings) || len(findings) == 0 {
		t.Fatalf("empty allow-list: %d new of %d", len(r.New), len(findings))
	}
	var allow []Entry
	for i, f := range findings {
		reason := "planted"
		if i == 0 {
			reason = "FIX: planted"
		}
		allow = append(allow, Entry{Rule: f.Rule, File: f.File, Func: f.Func, Expr: f.Expr, Reason: reason})
	}
	r = Apply(findings, allow)
	if len(r.New) != 0 || len(r.Stale) != 0 || len(r.Known) != 1 || len(r.Allowed) != len(findings)-1 {
		t.Fatalf("full allow-list: %d new, %d stale, %d known, %d allowed", len(r.New), len(r.Stale), len(r.Known), len(r.Allowed))
	}
	allow = append(allow, Entry{Rule: "secret-compare", File: "x.go", Expr: "a == b", Reason: "gone"})
	if r = Apply(findings, allow); len(r.Stale) != 1 {
		t.Fatalf("stale entries: %d, want 1", len(r.Stale))
	}
}

// TestAllowListFormat checks the parser: five fields, a reason required.
func TestAllowListFormat(t *testing.T) {
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"# comment\n\nmath-rand\tcmd/x.go\t-\tmath/rand\tonly for jitter in a demo\n", true},
		{"math-rand\tcmd/x.go\t-\tmath/rand\t\n", false},
		{"math-rand\tcmd/x.go\t-\tmath/rand\tFIX:\n", false},
		{"math-rand\tcmd/x.go\tmath/rand\treason\n", false},
	} {
		_, err := ParseAllowList(strings.NewReader(tc.text))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.text, err)
		}
	}
	// The repository's own list parses.
	data, err := os.ReadFile("allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseAllowList(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("allow.txt is empty")
	}
}

func TestSplitWords(t *testing.T) {
	for name, want := range map[string]string{
		"theirMAC": "their mac", "aes_key": "aes key", "Sum256": "sum256",
		"HMACKey": "hmac key", "macLen": "mac len", "chainKey": "chain key",
	} {
		if g := strings.Join(splitWords(name), " "); g != want {
			t.Errorf("%s: %q, want %q", name, g, want)
		}
	}
	for name, want := range map[string]bool{
		"theirMAC": true, "rootKey": true, "root": false, "chain": false,
		"identityKey": false, "publicKey": false, "Secret": true, "stage": false,
	} {
		if secretName(name) != want {
			t.Errorf("secretName(%q) = %v", name, !want)
		}
	}
}
