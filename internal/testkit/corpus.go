// Package testkit holds helpers shared by the module's tests.
package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// CorpusEnv is the environment variable that makes the corpus writers of the
// module's tests regenerate their checked-in seed corpora.
const CorpusEnv = "SOUVERAIN_WRITE_CORPUS"

// SkipUnlessWritingCorpus skips t unless CorpusEnv is set to 1.
func SkipUnlessWritingCorpus(t testing.TB) {
	t.Helper()
	if os.Getenv(CorpusEnv) != "1" {
		t.Skip("set " + CorpusEnv + "=1 to regenerate testdata/fuzz")
	}
}

// WriteCorpusEntry writes testdata/fuzz/target/name in the format of go test
// fuzz v1, one line per value; values are []byte or string.
func WriteCorpusEntry(t testing.TB, target, name string, values ...any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := "go test fuzz v1\n"
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			text += fmt.Sprintf("[]byte(%q)\n", v)
		case string:
			text += fmt.Sprintf("string(%q)\n", v)
		default:
			t.Fatalf("corpus value of type %T", v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
