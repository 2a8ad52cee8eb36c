package signedjson_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/signedjson"
)

// checkFixedPoint checks that an object parsed from any text encodes to
// canonical JSON that parses back to the same object: parse → encode is a
// fixed point, for the whole object and for the signed bytes.
func checkFixedPoint(t *testing.T, in []byte) {
	t.Helper()
	obj, err := signedjson.Parse(in)
	if err != nil {
		return
	}
	out := obj.Bytes()
	canon, err := canonicaljson.Canonicalize(out)
	if err != nil || !bytes.Equal(canon, out) {
		t.Fatalf("Bytes() = %q is not canonical (%q, %v)", out, canon, err)
	}
	again, err := signedjson.Parse(out)
	if err != nil {
		t.Fatalf("Parse(Bytes()) of %q: %v", out, err)
	}
	if !bytes.Equal(again.Bytes(), out) {
		t.Fatalf("not a fixed point: %q -> %q -> %q", in, out, again.Bytes())
	}
	if !bytes.Equal(again.SigningBytes(), obj.SigningBytes()) {
		t.Fatalf("signing bytes changed: %q -> %q", obj.SigningBytes(), again.SigningBytes())
	}
	// The signing bytes are the canonical object without its top-level
	// "signatures" and "unsigned", computed here another way.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("encoding/json rejects %q: %v", out, err)
	}
	delete(m, "signatures")
	delete(m, "unsigned")
	want, err := canonicaljson.Marshal(m)
	if err != nil || !bytes.Equal(want, obj.SigningBytes()) {
		t.Fatalf("SigningBytes() = %q, want %q (%v)", obj.SigningBytes(), want, err)
	}
}

// FuzzParse checks that Parse and Verify never panic on any input, and that
// what Parse accepts is a fixed point of parse → encode. The seed corpus is
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	for _, s := range []string{
		`{}`, `{"one":1,"two":"Two"}`, `{"a":-0,"b":1e10}`,
		`{"signatures":{"e":{"ed25519:k":"s"}},"unsigned":{"x":1}}`,
		`{"signatures":{"e":{"ed25519:k":1}}}`, `{"a":1,"a":2}`, `{"a":1.5}`, `[]`,
	} {
		f.Add([]byte(s), "e", "ed25519:k")
	}
	signed, _ := signedjson.Sign([]byte(`{"user_id":"@a:x","unsigned":{}}`), "@a:x", "ed25519:DEV", key)
	f.Add(signed, "@a:x", "ed25519:DEV")
	pub := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, in []byte, entity, keyID string) {
		checkFixedPoint(t, in)
		obj, err := signedjson.Parse(in)
		if err != nil {
			return
		}
		err = obj.Verify(entity, keyID, pub)
		if err == nil && !bytes.Equal(obj.SigningBytes(), []byte(`{"user_id":"@a:x"}`)) {
			t.Fatalf("Verify accepted a forged signature on %q", in)
		}
	})
}

// gen is a deterministic byte stream (SHA-256 in counter mode) for the
// property test, so that it needs no math/rand.
type gen struct {
	seed string
	n    uint64
	buf  []byte
}

func (g *gen) intn(n int) int {
	if len(g.buf) < 8 {
		var ctr [8]byte
		binary.BigEndian.PutUint64(ctr[:], g.n)
		g.n++
		h := sha256.Sum256(append([]byte(g.seed), ctr[:]...))
		g.buf = h[:]
	}
	v := binary.BigEndian.Uint64(g.buf)
	g.buf = g.buf[8:]
	return int(v % uint64(n))
}

// pieces are fragments of JSON text, chosen to stress canonical encoding:
// escapes, non-ASCII, number spellings, the members that signing treats
// specially.
var (
	names   = []string{"a", "b", "user_id", "signatures", "unsigned", "keys", "é", "\\u00e9", "\\ud83d\\ude00", "\\n", "A", ""}
	scalars = []string{`1`, `-0`, `1e3`, `100e-2`, `9007199254740991`, `true`, `null`, `"x"`, `"\u2028<&>"`, `"\u00E9"`, `"\"\\\/"`, `"\u001f"`}
)

func (g *gen) value(depth int) string {
	switch k := g.intn(4); {
	case depth > 3 || k == 0:
		return scalars[g.intn(len(scalars))]
	case k == 1:
		n := g.intn(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.value(depth + 1)
		}
		return "[ " + strings.Join(parts, " , ") + " ]"
	default:
		return g.object(depth + 1)
	}
}

func (g *gen) object(depth int) string {
	n := g.intn(5)
	seen := map[string]bool{}
	var parts []string
	for range n {
		name := names[g.intn(len(names))]
		var decoded string
		if err := json.Unmarshal([]byte(`"`+name+`"`), &decoded); err != nil {
			panic(err)
		}
		if seen[decoded] {
			continue // "é" and "\u00e9" are the same name
		}
		seen[decoded] = true
		v := g.value(depth)
		if name == "signatures" && depth == 1 {
			v = fmt.Sprintf(`{"e%d":{"ed25519:k":"sig"}}`, g.intn(3))
		}
		parts = append(parts, `"`+name+`":`+v)
	}
	return "{" + strings.Join(parts, ",\n ") + "}"
}

// TestFixedPointProperty is the property test: for a thousand generated
// objects, parse → canonical encode is a fixed point and the signing bytes
// are what the appendix says.
func TestFixedPointProperty(t *testing.T) {
	g := &gen{seed: "signedjson fixed point"}
	parsed := 0
	for i := range 1000 {
		in := g.object(1)
		if _, err := signedjson.Parse([]byte(in)); err == nil {
			parsed++
		} else if !strings.Contains(in, `"signatures"`) && !errors.Is(err, signedjson.ErrNumberForm) {
			t.Fatalf("case %d: Parse(%s): %v", i, in, err)
		}
		checkFixedPoint(t, []byte(in))
	}
	if parsed < 300 {
		t.Errorf("only %d of 1000 generated objects parsed", parsed)
	}
}
