// Command vectorgen writes souverain's generated conformance vectors
// (vectors/data/*.json, one family per file) by driving libolm 3.2.13 with
// fixed random input, so that every run writes the same bytes.
//
// Expected results come from libolm wherever libolm can compute them.
// Where a case needs a message or a pickle libolm would never write (a
// valid MAC over a malformed field, a low-order key, an index libolm
// cannot reach), the generator builds it with its own reference code,
// written from the specification over the Go standard library, and asks
// libolm what it makes of it. Every must-fail vector records whether libolm
// agrees; where it does not, the vector carries the flag "libolm-diff" and
// a note. The generator never uses souverain's own packages to compute an
// expected value.
//
// Usage:
//
//	go run ./cmd/vectorgen [-out dir]
//
// run from the interop module; -out defaults to ../vectors/data.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/souverain/e2ee/vectors"
)

func main() {
	out := flag.String("out", filepath.Join("..", "vectors", "data"), "directory to write the vector files to")
	check := flag.Bool("check", false, "compare with the files in -out instead of writing them; exit 1 if any differs")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: vectorgen [-out dir] [-check]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	files, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
	stale := 0
	for _, f := range files {
		path := filepath.Join(*out, f.name)
		if *check {
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, f.data) {
				fmt.Fprintf(os.Stderr, "vectorgen: %s is not up to date\n", path)
				stale++
			}
			continue
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "vectorgen:", err)
			os.Exit(1)
		}
	}
	if stale > 0 {
		os.Exit(1)
	}
}

// outFile is one generated file.
type outFile struct {
	name string
	data []byte
}

// family is one generator: a file name, a description and the vectors.
type family struct {
	name        string
	description string
	gen         func(*builder)
}

// families lists the generated files, in the order they are written.
var families = []family{
	{"cipher", cipherDescription, genCipher},
	{"olm-session-setup", olmSetupDescription, genOlmSetup},
	{"olm-decrypt", olmDecryptDescription, genOlmDecrypt},
	{"megolm-ratchet", megolmRatchetDescription, genMegolmRatchet},
	{"megolm-decrypt", megolmDecryptDescription, genMegolmDecrypt},
	{"libolm-pickles", picklesDescription, genPickles},
	{"signatures", signaturesDescription, genSignatures},
	{"sas", sasDescription, genSAS},
	{"pk", pkDescription, genPK},
	{"recovery-keys", recoveryDescription, genRecovery},
	{"secret-storage", secretStorageDescription, genSecretStorage},
	{"key-export", exportDescription, genKeyExport},
}

// generate builds every family and encodes the files.
func generate() ([]outFile, error) {
	var files []outFile
	ids := map[string]bool{}
	for _, fam := range families {
		b := &builder{family: fam.name}
		runFamily(b, fam.gen)
		if b.err != nil {
			return nil, fmt.Errorf("%s: %w", fam.name, b.err)
		}
		for _, v := range b.vectors {
			if ids[v.ID] {
				return nil, fmt.Errorf("%s: duplicate vector id %q", fam.name, v.ID)
			}
			ids[v.ID] = true
		}
		f := vectors.File{Family: fam.name, Description: fam.description, Vectors: b.vectors}
		data, err := encodeFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fam.name, err)
		}
		if _, err := vectors.ParseFile(data); err != nil {
			return nil, fmt.Errorf("%s: the file does not parse back: %w", fam.name, err)
		}
		files = append(files, outFile{name: fam.name + ".json", data: data})
	}
	return files, nil
}

// runFamily runs a family's generator, turning a panic (how the helpers
// report a libolm call that should not fail) into the builder's error.
func runFamily(b *builder, gen func(*builder)) {
	defer func() {
		if p := recover(); p != nil {
			b.fail(fmt.Errorf("%v", p))
		}
	}()
	gen(b)
}

// must panics with err, which runFamily reports.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// must1 returns v or panics with err.
func must1[T any](v T, err error) T {
	must(err)
	return v
}

// encodeFile writes a file as indented JSON without HTML escaping, so that
// it reads as it is.
func encodeFile(f vectors.File) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// builder collects a family's vectors. The first error stops it.
type builder struct {
	family  string
	vectors []vectors.Vector
	err     error
}

// source is the source of every generated vector.
const source = "souverain interop/cmd/vectorgen: libolm 3.2.13 driven with fixed random input"

// sourceDerived is the source of vectors whose expected result was not
// decided by libolm.
const sourceDerived = "souverain interop/cmd/vectorgen: input from libolm 3.2.13 or from the generator's reference code; expected result from the rules of the Matrix specification (flag derived) or souverain's policy (flag policy), not from libolm"

// vec describes one vector to add.
type vec struct {
	id       string // without the "gen-<family>-" prefix
	kind     string
	inputs   any
	expected any    // nil for a must-fail vector
	errClass string // for a must-fail vector
	flags    []string
	notes    string
	derived  bool // expected from the specification, not from libolm
}

// add appends a vector.
func (b *builder) add(v vec) {
	if b.err != nil {
		return
	}
	in, err := json.Marshal(v.inputs)
	if err != nil {
		b.fail(fmt.Errorf("%s: %w", v.id, err))
		return
	}
	out := vectors.Vector{
		ID:     "gen-" + b.family + "-" + strings.ReplaceAll(v.id, " ", "-"),
		Kind:   v.kind,
		Source: source,
		Inputs: in,
		Flags:  v.flags,
		Notes:  v.notes,
	}
	// A vector whose expected result is not libolm's says so: "derived"
	// when it follows from the specification, "policy" when it is
	// souverain's choice where the specification is silent.
	policy := contains(out.Flags, "policy")
	if v.derived || policy || contains(out.Flags, "libolm-diff") {
		out.Source = sourceDerived
		if !policy && !contains(out.Flags, "derived") {
			out.Flags = append([]string{"derived"}, out.Flags...)
		}
	} else if !contains(out.Flags, "libolm") {
		out.Flags = append([]string{"libolm"}, out.Flags...)
	}
	if v.expected == nil {
		if v.errClass == "" {
			b.fail(fmt.Errorf("%s: must-fail vector without an error class", v.id))
			return
		}
		out.ExpectedError = v.errClass
	} else {
		if out.Expected, err = json.Marshal(v.expected); err != nil {
			b.fail(fmt.Errorf("%s: %w", v.id, err))
			return
		}
	}
	b.vectors = append(b.vectors, out)
}

// fail records the first error.
func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// check records an error if err is not nil and reports whether it was nil.
func (b *builder) check(err error, format string, args ...any) bool {
	if err != nil {
		b.fail(fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err))
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// slug turns free text into an id fragment.
func slug(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
