// Package vectors is souverain's conformance suite: published Matrix test
// vectors, embedded as data, and a runner that checks an implementation
// against them.
//
// An implementation provides the operations in [Impl]; [Run] feeds it every
// vector whose kind has a runner and reports, per kind, how many vectors
// passed, failed or were skipped. Kinds that no runner covers yet (Megolm,
// SAS, key export, ...) are reported as skipped with the reason, never as
// passed. [Native] is this library's own implementation.
//
// The vector files are in the data directory; README.md describes their
// format.
package vectors

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed data/*.json
var dataFS embed.FS

// File is one vector file: a family of vectors with a description.
type File struct {
	// Family names the file's vectors as a group; when the file has no
	// "family" member it is the file name without ".json".
	Family string `json:"family,omitempty"`
	// Description says what the file holds and where it comes from.
	Description string `json:"description"`
	// Vectors are the test cases, in file order.
	Vectors []Vector `json:"vectors"`
}

// Vector is one test case. Inputs and Expected are kind-specific JSON
// objects; README.md lists the members each kind uses.
type Vector struct {
	// ID is unique across all files.
	ID string `json:"id"`
	// Kind selects the runner, e.g. "canonical-json". Reports are grouped by
	// kind.
	Kind string `json:"kind"`
	// Source names the publication the vector comes from, precisely enough
	// to find it (repository, commit, path, section).
	Source string `json:"source"`
	// Inputs are the values given to the implementation.
	Inputs json.RawMessage `json:"inputs"`
	// Expected is the expected result. A vector has Expected or
	// ExpectedError, not both.
	Expected json.RawMessage `json:"expected,omitempty"`
	// ExpectedError, when set, means the implementation must fail; the text
	// names the class of error for people, runners only require an error.
	ExpectedError string `json:"expected_error,omitempty"`
	// Flags qualify the vector; see README.md ("derived", "policy").
	Flags []string `json:"flags,omitempty"`
	// Notes is free text: caveats, re-verification, pitfalls.
	Notes string `json:"notes,omitempty"`
}

// Files returns the embedded vector files, sorted by family. It checks that
// every vector has an ID, a kind, a source and inputs, exactly one of
// expected and expected_error, and that IDs are unique; an error means the
// embedded data is broken.
func Files() ([]File, error) {
	names, err := fs.Glob(dataFS, "data/*.json")
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	var files []File
	ids := make(map[string]string)
	for _, name := range names {
		data, err := dataFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("vectors: %w", err)
		}
		f, err := parseFile(data)
		if err != nil {
			return nil, fmt.Errorf("vectors: %s: %w", name, err)
		}
		if f.Family == "" {
			f.Family = strings.TrimSuffix(path.Base(name), ".json")
		}
		for _, v := range f.Vectors {
			if other, ok := ids[v.ID]; ok {
				return nil, fmt.Errorf("vectors: %s: vector id %q also in %s", name, v.ID, other)
			}
			ids[v.ID] = name
		}
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Family, b.Family) })
	return files, nil
}

// parseFile decodes a vector file strictly: unknown members are errors, so a
// misspelt member cannot silently drop a check.
func parseFile(data []byte) (File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, err
	}
	if dec.More() {
		return File{}, errors.New("data after the top-level object")
	}
	for i, v := range f.Vectors {
		switch {
		case v.ID == "":
			return File{}, fmt.Errorf("vector %d: no id", i)
		case v.Kind == "":
			return File{}, fmt.Errorf("vector %q: no kind", v.ID)
		case v.Source == "":
			return File{}, fmt.Errorf("vector %q: no source", v.ID)
		case len(v.Inputs) == 0:
			return File{}, fmt.Errorf("vector %q: no inputs", v.ID)
		case (len(v.Expected) == 0) == (v.ExpectedError == ""):
			return File{}, fmt.Errorf("vector %q: want exactly one of expected and expected_error", v.ID)
		}
	}
	return f, nil
}

// Impl is what an implementation under test provides: one method per
// operation that the runnable vector kinds exercise. Methods must not
// retain their arguments.
type Impl interface {
	// UnpaddedBase64Encode returns the unpadded base64 encoding of src
	// (standard alphabet). Kind "unpadded-base64".
	UnpaddedBase64Encode(src []byte) string
	// UnpaddedBase64Decode decodes unpadded base64. Kind "unpadded-base64".
	UnpaddedBase64Decode(s string) ([]byte, error)
	// CanonicalJSON returns the Matrix canonical JSON encoding of the JSON
	// text, or an error if the text cannot be canonicalized. Kind
	// "canonical-json".
	CanonicalJSON(jsonText []byte) ([]byte, error)
	// SignJSON signs the JSON object jsonText as the Matrix appendix
	// "Signing JSON" describes, with the Ed25519 private key whose 32-byte
	// seed is seed, and returns the signed object as JSON text: "signatures"
	// and "unsigned" removed, canonical JSON signed, the unpadded base64
	// signature added under signatures[entity][keyID], "unsigned" put back.
	// keyID is the full key identifier, e.g. "ed25519:1". Kind
	// "ed25519-json-signing".
	SignJSON(seed []byte, entity, keyID string, jsonText []byte) ([]byte, error)
}

// Report is the outcome of Run.
type Report struct {
	// Families holds one result per vector kind, sorted by kind.
	Families []FamilyResult
}

// FamilyResult counts the vectors of one kind.
type FamilyResult struct {
	// Family is the vector kind, e.g. "canonical-json".
	Family string
	// Passed, Failed and Skipped count the family's vectors by outcome.
	Passed, Failed, Skipped int
	// SkipReason says why the vectors of this kind were skipped.
	SkipReason string
	// Failures describes each failed vector.
	Failures []Failure
}

// Failure describes one failed vector.
type Failure struct {
	// ID is the vector's id.
	ID string
	// Reason says what went wrong.
	Reason string
}

// Passed returns the number of vectors that passed, over all families.
func (r Report) Passed() int { return r.sum(func(f FamilyResult) int { return f.Passed }) }

// Failed returns the number of vectors that failed, over all families.
func (r Report) Failed() int { return r.sum(func(f FamilyResult) int { return f.Failed }) }

// Skipped returns the number of vectors that were skipped, over all
// families.
func (r Report) Skipped() int { return r.sum(func(f FamilyResult) int { return f.Skipped }) }

func (r Report) sum(get func(FamilyResult) int) int {
	n := 0
	for _, f := range r.Families {
		n += get(f)
	}
	return n
}

// OK reports whether no vector failed.
func (r Report) OK() bool { return r.Failed() == 0 }

// Family returns the result for kind, and false if no vector has that kind.
func (r Report) Family(kind string) (FamilyResult, bool) {
	for _, f := range r.Families {
		if f.Family == kind {
			return f, true
		}
	}
	return FamilyResult{}, false
}

// loadFailure is the family under which Run reports broken embedded data.
const loadFailure = "(vector files)"

// Run checks impl against every embedded vector and returns the report. A
// vector fails when impl returns a wrong result or error, or panics; a
// vector of a kind without a runner is skipped with the reason. If the
// embedded data cannot be read the report holds a single failure.
func Run(impl Impl) Report {
	files, err := Files()
	if err != nil {
		return Report{Families: []FamilyResult{{
			Family: loadFailure, Failed: 1,
			Failures: []Failure{{ID: loadFailure, Reason: err.Error()}},
		}}}
	}
	var vs []Vector
	for _, f := range files {
		vs = append(vs, f.Vectors...)
	}
	return RunVectors(impl, vs)
}

// RunVectors is like Run for the given vectors instead of the embedded ones.
func RunVectors(impl Impl, vs []Vector) Report {
	byKind := make(map[string]*FamilyResult)
	for _, v := range vs {
		fr := byKind[v.Kind]
		if fr == nil {
			fr = &FamilyResult{Family: v.Kind}
			byKind[v.Kind] = fr
		}
		if reason, ok := skipped[v.Kind]; ok {
			fr.Skipped++
			fr.SkipReason = reason
			continue
		}
		check, ok := runners[v.Kind]
		if !ok {
			fr.Failed++
			fr.Failures = append(fr.Failures, Failure{ID: v.ID, Reason: fmt.Sprintf("no runner for kind %q", v.Kind)})
			continue
		}
		if err := runOne(check, impl, v); err != nil {
			fr.Failed++
			fr.Failures = append(fr.Failures, Failure{ID: v.ID, Reason: err.Error()})
			continue
		}
		fr.Passed++
	}
	var r Report
	for _, fr := range byKind {
		r.Families = append(r.Families, *fr)
	}
	slices.SortFunc(r.Families, func(a, b FamilyResult) int { return strings.Compare(a.Family, b.Family) })
	return r
}

// runOne runs one vector, turning a panic in the implementation into a
// failure.
func runOne(check func(Impl, Vector) error, impl Impl, v Vector) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("implementation panicked: %v", p)
		}
	}()
	return check(impl, v)
}
