package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// handWritten are the files in vectors/data that the generator does not
// write.
var handWritten = []string{"canonical-json.json", "spec.json",
	"qrlogin.json",            // written by interop/qrlogin_vectors_test.go from Element's crypto stack
	"dehydrated-devices.json", // these two by interop/cmd/vzvectors, which checks them itself
	"vodozemac-pickles.json",
}

// TestUpToDate regenerates every file and compares it with the committed
// one: the generator must rerun to the same bytes, and the files must be
// what it writes. Run `go generate ./vectors` in the core module (or go run
// ./cmd/vectorgen here) after changing the generator.
func TestUpToDate(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "..", "vectors", "data")
	want := slices.Clone(handWritten)
	for _, f := range files {
		want = append(want, f.name)
		old, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if !bytes.Equal(old, f.data) {
			t.Errorf("vectors/data/%s is not what the generator writes; run go generate ./vectors", f.name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("vectors/data holds %q, want %q", got, want)
	}
}
