package signedjson_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// specSeed is the seed of the specification's JSON signing examples
// (appendix "Cryptographic Test Vectors"). Its last character carries
// stray bits, so it needs a lenient decoder.
const specSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

// specPublic is the public key of specSeed, derived by souverain (the
// specification does not print it) and recorded in spec-facts.md §8.3.
const specPublic = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"

func specKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := base64.RawStdEncoding.DecodeString(specSeed)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// TestSpecVectors signs the specification's two JSON signing examples, read
// from the conformance vectors, and checks the exact signatures and signed
// objects, then verifies them.
func TestSpecVectors(t *testing.T) {
	data, err := os.ReadFile("../vectors/data/spec.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			ID     string `json:"id"`
			Kind   string `json:"kind"`
			Inputs struct {
				Seed       string          `json:"signing_key_seed_base64"`
				ServerName string          `json:"server_name"`
				KeyID      string          `json:"key_id"`
				JSON       json.RawMessage `json:"json"`
			} `json:"inputs"`
			Expected struct {
				SignedJSON json.RawMessage `json:"signed_json"`
				Signature  string          `json:"signature_base64"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	key := specKey(t)
	if got := base64.RawStdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)); got != specPublic {
		t.Fatalf("public key of the spec seed = %s, want %s", got, specPublic)
	}
	n := 0
	for _, v := range file.Vectors {
		if v.Kind != "ed25519-json-signing" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			if v.Inputs.Seed != specSeed {
				t.Fatalf("vector uses seed %s, this test knows %s", v.Inputs.Seed, specSeed)
			}
			signed, err := signedjson.Sign(v.Inputs.JSON, v.Inputs.ServerName, v.Inputs.KeyID, key)
			if err != nil {
				t.Fatal(err)
			}
			want, err := signedjson.Parse(v.Expected.SignedJSON)
			if err != nil {
				t.Fatal(err)
			}
			if string(signed) != string(want.Bytes()) {
				t.Errorf("signed = %s\nwant     %s", signed, want.Bytes())
			}
			obj, err := signedjson.Parse(signed)
			if err != nil {
				t.Fatal(err)
			}
			if sig, _ := obj.Signature(v.Inputs.ServerName, v.Inputs.KeyID); sig != v.Expected.Signature {
				t.Errorf("signature = %s, want %s", sig, v.Expected.Signature)
			}
			if err := obj.Verify(v.Inputs.ServerName, v.Inputs.KeyID, key.Public().(ed25519.PublicKey)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	if n != 2 {
		t.Errorf("found %d JSON signing vectors, want the spec's 2", n)
	}
}

// TestSignLeavesOutSignaturesAndUnsigned checks the appendix's rule: the
// signature covers the object without "signatures" and "unsigned", both are
// kept, and other signatures survive.
func TestSignLeavesOutSignaturesAndUnsigned(t *testing.T) {
	key := specKey(t)
	pub := key.Public().(ed25519.PublicKey)
	in := `{"two":"Two","unsigned":{"age_ts":1},"one":1,"signatures":{"other":{"ed25519:x":"sig"}}}`
	out, err := signedjson.Sign([]byte(in), "domain", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"},"other":{"ed25519:x":"sig"}},"two":"Two","unsigned":{"age_ts":1}}`
	if string(out) != want {
		t.Fatalf("signed = %s\nwant     %s", out, want)
	}
	// The server may change "unsigned" and others may add signatures.
	changed := strings.Replace(string(out), `"age_ts":1`, `"age_ts":2,"x":[]`, 1)
	if err := signedjson.Verify([]byte(changed), "domain", "ed25519:1", pub); err != nil {
		t.Errorf("verify after changing unsigned: %v", err)
	}
	// Anything else is covered.
	tampered := strings.Replace(string(out), `"two":"Two"`, `"two":"Tw0"`, 1)
	if err := signedjson.Verify([]byte(tampered), "domain", "ed25519:1", pub); !errors.Is(err, signedjson.ErrBadSignature) {
		t.Errorf("verify after changing a signed member: %v, want ErrBadSignature", err)
	}
}

// TestLayoutDoesNotMatter checks that member order, whitespace and string
// escapes do not change the signed bytes.
func TestLayoutDoesNotMatter(t *testing.T) {
	forms := []string{
		`{"a":1,"b":{"d":"é","c":[1,2]}}`,
		`{ "b" : { "c" : [ 1 , 2 ] , "d" : "\u00e9" } , "a" : 1 }`,
		"{\n\t\"b\": {\"d\": \"\\u00E9\", \"c\": [1, 2]},\n\t\"a\": 1\n}",
	}
	key := specKey(t)
	var first []byte
	for _, f := range forms {
		obj, err := signedjson.Parse([]byte(f))
		if err != nil {
			t.Fatalf("Parse(%s): %v", f, err)
		}
		if first == nil {
			first = obj.SigningBytes()
			continue
		}
		if got := obj.SigningBytes(); string(got) != string(first) {
			t.Errorf("SigningBytes(%s) = %s, want %s", f, got, first)
		}
		a, _ := signedjson.Sign([]byte(forms[0]), "e", "ed25519:k", key)
		b, _ := signedjson.Sign([]byte(f), "e", "ed25519:k", key)
		if string(a) != string(b) {
			t.Errorf("signed forms differ:\n%s\n%s", a, b)
		}
	}
}

// TestNumberRespelling: a signature over an integer does not verify for a
// text that writes the same value another way (SECURITY requirement 43).
func TestNumberRespelling(t *testing.T) {
	key := specKey(t)
	pub := key.Public().(ed25519.PublicKey)
	signed, err := signedjson.Sign([]byte(`{"ts":1700000000000,"z":0,"n":-5}`), "e", "ed25519:k", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := signedjson.Verify(signed, "e", "ed25519:k", pub); err != nil {
		t.Fatalf("Verify(original): %v", err)
	}
	for _, tt := range []struct{ from, to string }{
		{"1700000000000", "1.7e12"},
		{"1700000000000", "1700000000000.000"},
		{"1700000000000", "17000000000000e-1"},
		{"1700000000000", "1.7E+12"},
		{`"z":0`, `"z":-0`},
		{`"z":0`, `"z":0.0`},
		{`"z":0`, `"z":0e5`},
		{"-5", "-5.0"},
	} {
		text := strings.Replace(string(signed), tt.from, tt.to, 1)
		err := signedjson.Verify([]byte(text), "e", "ed25519:k", pub)
		for _, want := range []error{signedjson.ErrNumberForm, signedjson.ErrNumber, signedjson.ErrMalformed} {
			if !errors.Is(err, want) {
				t.Errorf("Verify with %s: %v, want %v", tt.to, err, want)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []error
	}{
		{"empty", ``, []error{signedjson.ErrMalformed}},
		{"syntax", `{"a":}`, []error{signedjson.ErrMalformed}},
		{"array", `[]`, []error{signedjson.ErrMalformed}},
		{"string", `"x"`, []error{signedjson.ErrMalformed}},
		{"null", `null`, []error{signedjson.ErrMalformed}},
		{"trailing data", `{} {}`, []error{signedjson.ErrMalformed}},
		{"duplicate key", `{"a":1,"a":1}`, []error{signedjson.ErrMalformed, signedjson.ErrDuplicateKey}},
		{"duplicate key by escape", `{"user_id":"@a:x","user\u005fid":"@b:x"}`, []error{signedjson.ErrMalformed, signedjson.ErrDuplicateKey}},
		{"duplicate nested key", `{"keys":{"ed25519:A":"x","ed25519:A":"y"}}`, []error{signedjson.ErrMalformed, signedjson.ErrDuplicateKey}},
		{"duplicate signature entity", `{"signatures":{"@a:x":{},"@a:x":{}}}`, []error{signedjson.ErrMalformed, signedjson.ErrDuplicateKey}},
		{"float", `{"a":1.5}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber}},
		{"2^53", `{"a":9007199254740992}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber}},
		{"-2^53", `{"a":-9007199254740992}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber}},
		{"huge exponent", `{"a":1e400}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber}},
		{"integral fraction", `{"a":1.0}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber, signedjson.ErrNumberForm}},
		{"exponent", `{"a":1e3}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber, signedjson.ErrNumberForm}},
		{"minus zero", `{"a":[-0]}`, []error{signedjson.ErrMalformed, signedjson.ErrNumber, signedjson.ErrNumberForm}},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", []error{signedjson.ErrMalformed}},
		{"lone surrogate", `{"a":"\ud800"}`, []error{signedjson.ErrMalformed}},
		{"signatures not object", `{"signatures":[]}`, []error{signedjson.ErrMalformed}},
		{"signatures null", `{"signatures":null}`, []error{signedjson.ErrMalformed}},
		{"entity not object", `{"signatures":{"@a:x":"sig"}}`, []error{signedjson.ErrMalformed}},
		{"entity null", `{"signatures":{"@a:x":null}}`, []error{signedjson.ErrMalformed}},
		{"signature not string", `{"signatures":{"@a:x":{"ed25519:A":1}}}`, []error{signedjson.ErrMalformed}},
		{"signature null", `{"signatures":{"@a:x":{"ed25519:A":null}}}`, []error{signedjson.ErrMalformed}},
		{"too large", `{"a":"` + strings.Repeat("x", signedjson.MaxObjectSize) + `"}`, []error{signedjson.ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := signedjson.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse = %s, want an error", obj.Bytes())
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "signedjson: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	key := specKey(t)
	pub := key.Public().(ed25519.PublicKey)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	good, err := signedjson.Sign([]byte(`{"one":1,"two":"Two"}`), "domain", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := signedjson.Parse(good)
	sig, _ := obj.Signature("domain", "ed25519:1")
	raw, _ := base64.RawStdEncoding.DecodeString(sig)

	// withSig returns the object with the signature replaced by s.
	withSig := func(s string) string {
		return strings.Replace(string(good), sig, s, 1)
	}
	flipped := append([]byte(nil), raw...)
	flipped[10] ^= 1
	// S + ℓ: the same signature with a non-canonical S, which lenient
	// verifiers accept (signature malleability).
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reverse(raw[32:]))
	s.Add(s, l)
	malleable := append(append([]byte(nil), raw[:32]...), reverse(pad32(s.Bytes()))...)
	// A small-order R (the identity point) with S = 0.
	smallR := make([]byte, 64)
	smallR[0] = 1

	tests := []struct {
		name          string
		obj           string
		entity, keyID string
		key           ed25519.PublicKey
		want          error
	}{
		{"no such entity", string(good), "elsewhere", "ed25519:1", pub, signedjson.ErrMissingSignature},
		{"no such key ID", string(good), "domain", "ed25519:2", pub, signedjson.ErrMissingSignature},
		{"unsigned object", `{"one":1}`, "domain", "ed25519:1", pub, signedjson.ErrMissingSignature},
		{"other key", string(good), "domain", "ed25519:1", other.Public().(ed25519.PublicKey), signedjson.ErrBadSignature},
		{"tampered", strings.Replace(string(good), `"one":1`, `"one":2`, 1), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"member added", strings.Replace(string(good), `"one":1`, `"one":1,"three":3`, 1), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"flipped bit", withSig(base64.RawStdEncoding.EncodeToString(flipped)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"padded base64", withSig(base64.StdEncoding.EncodeToString(raw)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"stray bits", withSig(sig[:len(sig)-1] + string(sig[len(sig)-1]+1)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"url-safe alphabet", withSig(base64.RawURLEncoding.EncodeToString(raw)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"truncated", withSig(sig[:len(sig)-4]), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"too long", withSig(sig + "AAAA"), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"empty", withSig(""), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"non-canonical S", withSig(base64.RawStdEncoding.EncodeToString(malleable)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"small-order R", withSig(base64.RawStdEncoding.EncodeToString(smallR)), "domain", "ed25519:1", pub, signedjson.ErrBadSignature},
		{"short key", string(good), "domain", "ed25519:1", pub[:31], signedjson.ErrInvalidKey},
		{"identity key", string(good), "domain", "ed25519:1", append([]byte{1}, make([]byte, 31)...), signedjson.ErrInvalidKey},
		{"key ID without algorithm", string(good), "domain", "1", pub, signedjson.ErrInvalidKey},
		{"key ID of other algorithm", string(good), "domain", "curve25519:1", pub, signedjson.ErrInvalidKey},
		{"key ID with empty name", string(good), "domain", "ed25519:", pub, signedjson.ErrInvalidKey},
	}
	sentinels := []error{signedjson.ErrMissingSignature, signedjson.ErrBadSignature, signedjson.ErrInvalidKey, signedjson.ErrMalformed}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signedjson.Verify([]byte(tt.obj), tt.entity, tt.keyID, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
		})
	}
	if err := signedjson.Verify(good, "domain", "ed25519:1", pub); err != nil {
		t.Fatalf("the untouched object: %v", err)
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

func pad32(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }

func TestSignRejects(t *testing.T) {
	key := specKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := signedjson.Parse([]byte(`{}`))
	for _, tt := range []struct {
		name, entity, keyID string
	}{
		{"empty entity", "", "ed25519:1"},
		{"bare key ID", "e", "1"},
		{"other algorithm", "e", "curve25519:1"},
		{"empty key name", "e", "ed25519:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := obj.Sign(tt.entity, tt.keyID, key); !errors.Is(err, signedjson.ErrInvalidKey) {
				t.Errorf("Sign = %v, want ErrInvalidKey", err)
			}
			if err := obj.AddSignature(tt.entity, tt.keyID, make([]byte, 64)); !errors.Is(err, signedjson.ErrInvalidKey) {
				t.Errorf("AddSignature = %v, want ErrInvalidKey", err)
			}
		})
	}
	t.Run("ECDSA signer", func(t *testing.T) {
		if err := obj.Sign("e", "ed25519:1", ec); !errors.Is(err, signedjson.ErrInvalidKey) {
			t.Errorf("Sign = %v, want ErrInvalidKey", err)
		}
	})
	for _, n := range []int{0, 63, 65} {
		if err := obj.AddSignature("e", "ed25519:1", make([]byte, n)); !errors.Is(err, signedjson.ErrBadSignature) {
			t.Errorf("AddSignature with %d bytes = %v, want ErrBadSignature", n, err)
		}
	}
	if len(obj.Signatures()) != 0 {
		t.Errorf("failed signing changed the object: %s", obj.Bytes())
	}
}

// TestOlmInterop checks that device keys signed by olm.Account (libolm's
// layout and signing) verify here, and that an object signed here verifies
// with the olm package's Ed25519 verification.
func TestOlmInterop(t *testing.T) {
	a, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := a.DeviceKeys("@alice:example.org", "DEV")
	if err != nil {
		t.Fatal(err)
	}
	if err := signedjson.Verify(dk, "@alice:example.org", "ed25519:DEV", a.Ed25519Key().Bytes()); err != nil {
		t.Fatalf("olm device keys: %v", err)
	}
	obj, err := signedjson.Parse([]byte(`{"key":"x","unsigned":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	sig := a.Sign(obj.SigningBytes())
	if err := obj.AddSignature("@alice:example.org", "ed25519:DEV", sig[:]); err != nil {
		t.Fatal(err)
	}
	if err := obj.Verify("@alice:example.org", "ed25519:DEV", a.Ed25519Key().Bytes()); err != nil {
		t.Fatalf("AddSignature with an olm signature: %v", err)
	}
	key := specKey(t)
	if err := obj.Sign("domain", "ed25519:1", key); err != nil {
		t.Fatal(err)
	}
	s, _ := obj.Signature("domain", "ed25519:1")
	parsed, err := olm.ParseEd25519Signature(s)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := olm.NewEd25519PublicKey(key.Public().(ed25519.PublicKey))
	if err := pk.Verify(obj.SigningBytes(), parsed); err != nil {
		t.Errorf("olm verification of a signedjson signature: %v", err)
	}
}

func TestAccessors(t *testing.T) {
	obj, err := signedjson.Parse([]byte(`{"b":[1],"a":"x","signatures":{"e":{"ed25519:k":"s"}},"unsigned":{"n":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := obj.Member("b"); !ok || string(m) != `[1]` {
		t.Errorf(`Member("b") = %s, %v`, m, ok)
	}
	if m, ok := obj.Member("unsigned"); !ok || string(m) != `{"n":1}` {
		t.Errorf(`Member("unsigned") = %s, %v`, m, ok)
	}
	if m, ok := obj.Member("signatures"); !ok || string(m) != `{"e":{"ed25519:k":"s"}}` {
		t.Errorf(`Member("signatures") = %s, %v`, m, ok)
	}
	if _, ok := obj.Member("c"); ok {
		t.Error(`Member("c") found`)
	}
	sigs := obj.Signatures()
	if diff := cmp.Diff(map[string]map[string]string{"e": {"ed25519:k": "s"}}, sigs); diff != "" {
		t.Errorf("Signatures (-want +got):\n%s", diff)
	}
	sigs["e"]["ed25519:k"] = "changed"
	if s, _ := obj.Signature("e", "ed25519:k"); s != "s" {
		t.Error("Signatures returned the object's own map")
	}
	sb := obj.SigningBytes()
	sb[0] = 'X'
	if string(obj.SigningBytes()) != `{"a":"x","b":[1]}` {
		t.Errorf("SigningBytes = %s (or the result aliases the object)", obj.SigningBytes())
	}
	var zero signedjson.Object
	if string(zero.Bytes()) != `{}` || string(zero.SigningBytes()) != `{}` {
		t.Errorf("zero Object = %s / %s, want {}", zero.Bytes(), zero.SigningBytes())
	}
	// JSON round trip through a struct.
	var wrapper struct {
		Obj *signedjson.Object `json:"obj"`
	}
	if err := json.Unmarshal([]byte(`{"obj":{"z":1, "a":2}}`), &wrapper); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(wrapper)
	if err != nil || string(out) != `{"obj":{"a":2,"z":1}}` {
		t.Errorf("json.Marshal = %s, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"obj":{"a":1.5}}`), &wrapper); !errors.Is(err, signedjson.ErrNumber) {
		t.Errorf("json.Unmarshal of a float = %v, want ErrNumber", err)
	}
	if signedjson.KeyID("DEV") != "ed25519:DEV" {
		t.Errorf("KeyID = %s", signedjson.KeyID("DEV"))
	}
}

func TestAddSignatures(t *testing.T) {
	key := specKey(t)
	a, _ := signedjson.Parse([]byte(`{"one":1,"unsigned":{"x":1},"signatures":{"e":{"ed25519:old":"s"}}}`))
	b, _ := signedjson.Parse([]byte(`{"one":1}`))
	if err := b.Sign("domain", "ed25519:1", key); err != nil {
		t.Fatal(err)
	}
	if err := a.AddSignatures(b); err != nil {
		t.Fatal(err)
	}
	if err := a.Verify("domain", "ed25519:1", key.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("merged signature: %v", err)
	}
	if s, ok := a.Signature("e", "ed25519:old"); !ok || s != "s" {
		t.Error("old signature lost")
	}
	other, _ := signedjson.Parse([]byte(`{"one":2,"signatures":{"x":{"ed25519:y":"z"}}}`))
	before := string(a.Bytes())
	if err := a.AddSignatures(other); !errors.Is(err, signedjson.ErrBadSignature) {
		t.Errorf("signatures of another object: %v, want ErrBadSignature", err)
	}
	if string(a.Bytes()) != before {
		t.Error("failed AddSignatures changed the object")
	}
	var zero signedjson.Object
	if err := zero.AddSignatures(b); err == nil {
		t.Error("zero Object took signatures of {\"one\":1}")
	}
	empty, _ := signedjson.Parse([]byte(`{}`))
	if err := zero.AddSignatures(empty); err != nil {
		t.Errorf("zero Object and {}: %v", err)
	}
}
