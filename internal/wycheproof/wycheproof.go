// Package wycheproof loads Project Wycheproof's X25519 and Ed25519 test
// vectors (https://github.com/C2SP/wycheproof, Apache License 2.0; see
// testdata/README.md) for the tests of internal/x25519, internal/ed25519 and
// the packages that do Diffie-Hellman or verify signatures with them.
//
// Only tests import it: the vectors are embedded, and a binary that links the
// package carries them.
package wycheproof

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

//go:embed testdata/x25519_test.json
var x25519JSON []byte

//go:embed testdata/ed25519_test.json
var ed25519JSON []byte

// Result is a vector's expected result as Wycheproof states it: "valid",
// "acceptable" (a conforming implementation may accept or reject it) or
// "invalid".
type Result string

// The three results.
const (
	Valid      Result = "valid"
	Acceptable Result = "acceptable"
	Invalid    Result = "invalid"
)

// X25519Vector is one test of x25519_test.json: X25519(Private, Public)
// should be Shared.
type X25519Vector struct {
	ID      int
	Comment string
	Flags   []string
	Private []byte
	Public  []byte
	Shared  []byte
	Result  Result
}

// Ed25519Vector is one test of ed25519_test.json: Sig should (or should not)
// verify Msg under PublicKey.
type Ed25519Vector struct {
	ID        int
	Comment   string
	Flags     []string
	PublicKey []byte
	Msg       []byte
	Sig       []byte
	Result    Result
}

// HasFlag reports whether the vector carries flag.
func (v X25519Vector) HasFlag(flag string) bool { return hasFlag(v.Flags, flag) }

// HasFlag reports whether the vector carries flag.
func (v Ed25519Vector) HasFlag(flag string) bool { return hasFlag(v.Flags, flag) }

func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

type file struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Type      string `json:"type"`
		Curve     string `json:"curve"`
		PublicKey struct {
			Curve string `json:"curve"`
			PK    string `json:"pk"`
		} `json:"publicKey"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Public  string   `json:"public"`
			Private string   `json:"private"`
			Shared  string   `json:"shared"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  Result   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func parse(data []byte, algorithm string) (*file, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Algorithm != algorithm {
		return nil, fmt.Errorf("wycheproof: algorithm %q, want %q", f.Algorithm, algorithm)
	}
	return &f, nil
}

func unhex(errp *error, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil && *errp == nil {
		*errp = err
	}
	return b
}

func checkResult(r Result) error {
	switch r {
	case Valid, Acceptable, Invalid:
		return nil
	}
	return fmt.Errorf("wycheproof: unknown result %q", r)
}

// X25519 returns every vector of x25519_test.json, in file order. It fails
// if the count differs from the file's numberOfTests, or if any group is not
// an X25519 one, so that no vector is silently left out.
func X25519() ([]X25519Vector, error) {
	f, err := parse(x25519JSON, "XDH")
	if err != nil {
		return nil, err
	}
	var out []X25519Vector
	for _, g := range f.TestGroups {
		if g.Type != "XdhComp" || g.Curve != "curve25519" {
			return nil, fmt.Errorf("wycheproof: x25519 group of type %q, curve %q", g.Type, g.Curve)
		}
		for _, t := range g.Tests {
			v := X25519Vector{ID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result}
			v.Private = unhex(&err, t.Private)
			v.Public = unhex(&err, t.Public)
			v.Shared = unhex(&err, t.Shared)
			if err == nil {
				err = checkResult(t.Result)
			}
			if err != nil {
				return nil, fmt.Errorf("wycheproof: x25519 tcId %d: %w", t.TcID, err)
			}
			out = append(out, v)
		}
	}
	if len(out) != f.NumberOfTests {
		return nil, fmt.Errorf("wycheproof: x25519: %d vectors, numberOfTests %d", len(out), f.NumberOfTests)
	}
	return out, nil
}

// Ed25519 returns every vector of ed25519_test.json, in file order, with the
// same completeness checks as [X25519].
func Ed25519() ([]Ed25519Vector, error) {
	f, err := parse(ed25519JSON, "EDDSA")
	if err != nil {
		return nil, err
	}
	var out []Ed25519Vector
	for _, g := range f.TestGroups {
		if g.Type != "EddsaVerify" || g.PublicKey.Curve != "edwards25519" {
			return nil, fmt.Errorf("wycheproof: ed25519 group of type %q, curve %q", g.Type, g.PublicKey.Curve)
		}
		for _, t := range g.Tests {
			v := Ed25519Vector{ID: t.TcID, Comment: t.Comment, Flags: t.Flags, Result: t.Result}
			v.PublicKey = unhex(&err, g.PublicKey.PK)
			v.Msg = unhex(&err, t.Msg)
			v.Sig = unhex(&err, t.Sig)
			if err == nil {
				err = checkResult(t.Result)
			}
			if err != nil {
				return nil, fmt.Errorf("wycheproof: ed25519 tcId %d: %w", t.TcID, err)
			}
			out = append(out, v)
		}
	}
	if len(out) != f.NumberOfTests {
		return nil, fmt.Errorf("wycheproof: ed25519: %d vectors, numberOfTests %d", len(out), f.NumberOfTests)
	}
	return out, nil
}
