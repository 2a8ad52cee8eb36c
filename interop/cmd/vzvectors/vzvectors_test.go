// Package vzvectors holds the check of generate.py, the Python script that
// writes vectors/data/dehydrated-devices.json and
// vectors/data/vodozemac-pickles.json with no souverain code.
package vzvectors

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestUpToDate runs generate.py into a temporary directory and compares
// what it writes with the committed files.
func TestUpToDate(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
		t.Skip("python3 has no cryptography package")
	}
	dir := t.TempDir()
	cmd := exec.Command(py, "generate.py", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("generate.py: %v", err)
	}
	for _, name := range []string{"dehydrated-devices.json", "vodozemac-pickles.json"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadFile(filepath.Join("..", "..", "..", "vectors", "data", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, old) {
			t.Errorf("vectors/data/%s is not what generate.py writes; run python3 interop/cmd/vzvectors/generate.py", name)
		}
	}
}
