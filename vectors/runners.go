package vectors

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The runners check vectors against an implementation. They decode test
// data and results with the standard library only, so that a bug in the
// implementation under test cannot hide itself.

// operations are the operation kinds: their inputs are the operation's
// arguments as they stand and their expected members are compared with the
// result. derive, when set, computes expected members that the result may
// lack from the others (for example root and chain keys from a pickle).
var operations = map[string]struct {
	derive func(args, result map[string]json.RawMessage) error
}{
	"base64.encode":          {},
	"base64.decode":          {},
	"json.canonicalize":      {},
	"json.sign":              {},
	"json.verify":            {},
	"ed25519.verify":         {},
	"x25519":                 {},
	"cipher.encrypt":         {},
	"cipher.decrypt":         {},
	"olm.account":            {},
	"olm.session":            {},
	"olm.outbound_session":   {derive: deriveSessionKeys(true)},
	"olm.inbound_session":    {derive: deriveSessionKeys(false)},
	"olm.encrypt":            {},
	"olm.decrypt":            {},
	"megolm.session_key":     {},
	"megolm.export":          {},
	"megolm.decrypt":         {},
	"megolm.inbound":         {},
	"megolm.outbound":        {},
	"megolm.encrypt":         {},
	"sas.bytes":              {},
	"sas.decimals":           {},
	"sas.emojis":             {},
	"sas.mac":                {},
	"sas.verify_mac":         {},
	"pk.encrypt":             {},
	"pk.decrypt":             {},
	"recovery_key.encode":    {},
	"recovery_key.decode":    {},
	"passphrase.key":         {},
	"secret_storage.encrypt": {},
	"secret_storage.decrypt": {},
	"secret_storage.check":   {},
	"key_export.encrypt":     {derive: deriveExportBody},
	"key_export.decrypt":     {},
	"vodozemac.account":      {},
	"vodozemac.session":      {},
	"vodozemac.outbound":     {},
	"vodozemac.inbound":      {},
	"dehydrated.rehydrate":   {},
}

// runners check the kinds of the published vectors (data/spec.json and
// data/canonical-json.json), whose inputs keep their publication's shape,
// by turning each into operations.
var runners = map[string]func(Impl, Vector) error{
	"unpadded-base64":        runUnpaddedBase64,
	"canonical-json":         runCanonicalJSON,
	"ed25519-json-signing":   runJSONSigning,
	"megolm-decrypt":         runSpecMegolmDecrypt,
	"megolm-key-export-file": runSpecKeyExport,
	"x25519":                 runSpecX25519,
	"table":                  runSpecEmojiTable,
}

// skippedKinds gives, for each kind that no runner covers, the reason
// reported.
var skippedKinds = map[string]string{
	"federation-event-signing":         "out of scope: server-side event signing (content hash, redaction algorithm)",
	"sas-hkdf-hmac-sha256-v1-encoding": "libolm's faulty base64 is no operation of its own: sas.mac vectors with method hkdf-hmac-sha256 cover it",
}

// opError is a failed operation: what must-fail vectors expect.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// ErrFault is returned, wrapped, when an implementation misbehaves rather
// than fails: it crashed, broke the protocol or returned a result that is
// not a JSON object. The vector fails whatever it expects.
var ErrFault = errors.New("implementation fault")

// call performs one operation. It returns a *skipError for an unsupported
// operation, an error wrapping ErrFault for a fault, an *opError for a
// failed operation.
func call(impl Impl, op string, args any) (map[string]json.RawMessage, error) {
	raw, ok := args.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(args); err != nil {
			return nil, fmt.Errorf("bad test data: %v", err)
		}
	}
	res, err := impl.Do(op, raw)
	switch {
	case errors.Is(err, ErrUnsupported):
		return nil, &skipError{reason: err.Error()}
	case errors.Is(err, ErrFault):
		return nil, err
	case err != nil:
		return nil, &opError{op, err}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s: %w: result is not a JSON object: %s", op, ErrFault, clip(res))
	}
	return m, nil
}

// wantError turns the outcome of an operation that must fail into the
// vector's outcome.
func wantError(op string, res map[string]json.RawMessage, err error, class string) error {
	var oe *opError
	switch {
	case errors.As(err, &oe):
		return nil
	case err != nil:
		return err
	}
	b, _ := json.Marshal(res)
	return fmt.Errorf("%s succeeded with %s, want an error (%s)", op, clip(b), class)
}

// runOperation runs a vector of an operation kind.
func runOperation(impl Impl, v Vector) error {
	res, err := call(impl, v.Kind, v.Inputs)
	if v.MustFail() {
		return wantError(v.Kind, res, err, v.ExpectedError)
	}
	if err != nil {
		return err
	}
	var want map[string]json.RawMessage
	if err := decodeStrict(v.Expected, &want); err != nil {
		return err
	}
	if derive := operations[v.Kind].derive; derive != nil {
		var args map[string]json.RawMessage
		if err := json.Unmarshal(v.Inputs, &args); err != nil {
			return fmt.Errorf("bad test data: %v", err)
		}
		for name := range want {
			if _, ok := res[name]; !ok {
				if err := derive(args, res); err != nil {
					return fmt.Errorf("%s: %v", v.Kind, err)
				}
				break
			}
		}
	}
	return compareMembers(v.Kind, res, want)
}

// compareMembers checks that every member of want is in got with an equal
// JSON value. got may have more members.
func compareMembers(op string, got, want map[string]json.RawMessage) error {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("%s: result has no %q", op, name)
		}
		eq, err := jsonEqual(g, want[name])
		if err != nil {
			return fmt.Errorf("%s: %q: %v", op, name, err)
		}
		if !eq {
			return fmt.Errorf("%s: %s = %s, want %s", op, name, clip(g), clip(want[name]))
		}
	}
	return nil
}

// clip shortens long values in messages.
func clip(b []byte) string {
	const max = 160
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// decodeStrict decodes a vector's inputs or expected object into v,
// refusing unknown members.
func decodeStrict(data json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad test data: %w", err)
	}
	return nil
}

// decodeExpected decodes v.Expected into exp, or fails if the vector
// expects an error, which the kind does not support.
func decodeExpected(v Vector, exp any) error {
	if v.MustFail() {
		return fmt.Errorf("bad test data: kind %q has no expected_error vectors", v.Kind)
	}
	return decodeStrict(v.Expected, exp)
}

// jsonEqual reports whether a and b hold the same JSON value. Numbers are
// compared by their decimal text after normalisation of integers.
func jsonEqual(a, b []byte) (bool, error) {
	va, err := decodeValue(a)
	if err != nil {
		return false, fmt.Errorf("result is not JSON: %v", err)
	}
	vb, err := decodeValue(b)
	if err != nil {
		return false, errors.New("bad test data: expected value is not JSON")
	}
	return valueEqual(va, vb), nil
}

func decodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

func valueEqual(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		fa, ea := a.Float64()
		fb, eb := b.Float64()
		return ea == nil && eb == nil && fa == fb
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !valueEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !valueEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// resultString returns the string member name of a result.
func resultString(op string, res map[string]json.RawMessage, name string) (string, error) {
	raw, ok := res[name]
	if !ok {
		return "", fmt.Errorf("%s: result has no %q", op, name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %q is not a string: %s", op, name, clip(raw))
	}
	return s, nil
}

// runUnpaddedBase64 checks encoding bytes_utf8 and decoding the result.
func runUnpaddedBase64(impl Impl, v Vector) error {
	var in struct {
		BytesUTF8 string `json:"bytes_utf8"`
	}
	var exp struct {
		Base64 string `json:"base64"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	raw := hex.EncodeToString([]byte(in.BytesUTF8))
	res, err := call(impl, "base64.encode", map[string]string{"bytes_hex": raw})
	if err != nil {
		return err
	}
	if err := compareMembers("base64.encode", res, map[string]json.RawMessage{"base64": mustJSON(exp.Base64)}); err != nil {
		return err
	}
	res, err = call(impl, "base64.decode", map[string]string{"base64": exp.Base64})
	if err != nil {
		return err
	}
	return compareMembers("base64.decode", res, map[string]json.RawMessage{"bytes_hex": mustJSON(raw)})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// runCanonicalJSON checks the exact canonical bytes, or that an error is
// returned.
func runCanonicalJSON(impl Impl, v Vector) error {
	var in struct {
		JSONText string `json:"json_text"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	res, err := call(impl, "json.canonicalize", in)
	if v.MustFail() {
		return wantError("json.canonicalize", res, err, v.ExpectedError)
	}
	if err != nil {
		return err
	}
	var exp struct {
		CanonicalJSON string `json:"canonical_json"`
	}
	if err := decodeStrict(v.Expected, &exp); err != nil {
		return err
	}
	got, err := resultString("json.canonicalize", res, "canonical_json")
	if err != nil {
		return err
	}
	if got != exp.CanonicalJSON {
		return fmt.Errorf("json.canonicalize: got %q, want %q", got, exp.CanonicalJSON)
	}
	return nil
}

// runJSONSigning signs inputs.json and compares the signed object with
// expected.signed_json as JSON values.
func runJSONSigning(impl Impl, v Vector) error {
	var in struct {
		Seed       string          `json:"signing_key_seed_base64"`
		ServerName string          `json:"server_name"`
		KeyID      string          `json:"key_id"`
		JSON       json.RawMessage `json:"json"`
	}
	var exp struct {
		SignedJSON json.RawMessage `json:"signed_json"`
		Signature  string          `json:"signature_base64"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	// The spec's seed has non-zero bits after its last whole byte, which
	// a strict decoder refuses: decode it leniently (see the notes).
	seed, err := base64.RawStdEncoding.DecodeString(in.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return fmt.Errorf("bad test data: seed %q is not %d bytes of base64 (%v)", in.Seed, ed25519.SeedSize, err)
	}
	res, err := call(impl, "json.sign", map[string]string{
		"seed_hex": hex.EncodeToString(seed), "entity": in.ServerName, "key_id": in.KeyID, "json_text": string(in.JSON),
	})
	if err != nil {
		return err
	}
	return compareMembers("json.sign", res, map[string]json.RawMessage{"signed_json": exp.SignedJSON})
}

// runSpecMegolmDecrypt decrypts the published message, and checks that the
// tampered one, if any, fails.
func runSpecMegolmDecrypt(impl Impl, v Vector) error {
	var in struct {
		SessionKey string `json:"session_key_base64"`
		Message    string `json:"message_base64"`
		Tampered   string `json:"tampered_message_base64"`
	}
	var exp struct {
		Plaintext    string `json:"plaintext_utf8"`
		Index        uint32 `json:"message_index"`
		SigValid     bool   `json:"session_key_signature_valid"`
		TamperResult string `json:"tampered_result"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	res, err := call(impl, "megolm.decrypt", map[string]string{"session_key": in.SessionKey, "message": in.Message})
	if err != nil {
		return err
	}
	if err := compareMembers("megolm.decrypt", res, map[string]json.RawMessage{
		"plaintext_hex": mustJSON(hex.EncodeToString([]byte(exp.Plaintext))),
		"message_index": mustJSON(exp.Index),
	}); err != nil {
		return err
	}
	if in.Tampered == "" {
		return nil
	}
	res, err = call(impl, "megolm.decrypt", map[string]string{"session_key": in.SessionKey, "message": in.Tampered})
	return wantError("megolm.decrypt (tampered message)", res, err, exp.TamperResult)
}

// runSpecKeyExport decrypts a published key export file.
func runSpecKeyExport(impl Impl, v Vector) error {
	var in struct {
		Passphrase   string `json:"passphrase"`
		File         string `json:"file"`
		Construction string `json:"passphrase_construction"`
	}
	var exp struct {
		Plaintext string `json:"plaintext_utf8"`
		Rounds    int    `json:"rounds"`
		HMACValid bool   `json:"hmac_valid"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	res, err := call(impl, "key_export.decrypt", map[string]string{"file": in.File, "passphrase": in.Passphrase})
	if err != nil {
		return err
	}
	return compareMembers("key_export.decrypt", res, map[string]json.RawMessage{
		"plaintext_hex": mustJSON(hex.EncodeToString([]byte(exp.Plaintext))),
	})
}

// runSpecX25519 checks both sides of the RFC 7748 key agreement.
func runSpecX25519(impl Impl, v Vector) error {
	var in struct {
		AlicePrivate string `json:"alice_private_hex"`
		BobPrivate   string `json:"bob_private_hex"`
	}
	var exp struct {
		AlicePublic string `json:"alice_public_base64"`
		BobPublic   string `json:"bob_public_base64"`
		Shared      string `json:"shared_secret_hex"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	for _, side := range []struct{ priv, pub, theirs string }{
		{in.AlicePrivate, exp.AlicePublic, exp.BobPublic},
		{in.BobPrivate, exp.BobPublic, exp.AlicePublic},
	} {
		res, err := call(impl, "x25519", map[string]string{"private_key_hex": side.priv, "their_public_key": side.theirs})
		if err != nil {
			return err
		}
		if err := compareMembers("x25519", res, map[string]json.RawMessage{
			"public_key":        mustJSON(side.pub),
			"shared_secret_hex": mustJSON(exp.Shared),
		}); err != nil {
			return err
		}
	}
	return nil
}

// runSpecEmojiTable checks the SAS emoji table, entry by entry, through
// sas.emojis on each index.
func runSpecEmojiTable(impl Impl, v Vector) error {
	var in struct{}
	var exp struct {
		Table []struct {
			Index       int      `json:"index"`
			Emoji       string   `json:"emoji"`
			Codepoints  []string `json:"codepoints"`
			Description string   `json:"description"`
		} `json:"table"`
	}
	if err := decodeStrict(v.Inputs, &in); err != nil {
		return err
	}
	if err := decodeExpected(v, &exp); err != nil {
		return err
	}
	// Seven 6-bit indices fill 42 bits; bytes whose first 42 bits repeat
	// one index select it seven times.
	for _, e := range exp.Table {
		var bits uint64
		for range 7 {
			bits = bits<<6 | uint64(e.Index)
		}
		bits <<= 64 - 42
		b := make([]byte, 6)
		for i := range b {
			b[i] = byte(bits >> (56 - 8*i))
		}
		res, err := call(impl, "sas.emojis", map[string]string{"bytes_hex": hex.EncodeToString(b)})
		if err != nil {
			return err
		}
		var got struct {
			Emojis []struct {
				Emoji       string `json:"emoji"`
				Description string `json:"description"`
			} `json:"emojis"`
		}
		raw, _ := json.Marshal(res)
		if err := json.Unmarshal(raw, &got); err != nil || len(got.Emojis) != 7 {
			return fmt.Errorf("sas.emojis: want 7 emojis, got %s", clip(raw))
		}
		for _, g := range got.Emojis {
			if g.Emoji != e.Emoji || !strings.EqualFold(g.Description, e.Description) {
				return fmt.Errorf("sas.emojis: index %d: got %q %q, want %q %q", e.Index, g.Emoji, g.Description, e.Emoji, e.Description)
			}
		}
	}
	return nil
}

// deriveExportBody fills body_hex, the decoded contents of a key export
// file, from the result's file, so that files compare whatever their line
// lengths.
func deriveExportBody(_, result map[string]json.RawMessage) error {
	var file string
	if err := json.Unmarshal(result["file"], &file); err != nil {
		return errors.New("result has no file string")
	}
	const header, footer = "-----BEGIN MEGOLM SESSION DATA-----", "-----END MEGOLM SESSION DATA-----"
	i, j := strings.Index(file, header), strings.Index(file, footer)
	if i < 0 || j < i {
		return fmt.Errorf("file lacks the %s and %s lines", header, footer)
	}
	body := strings.Join(strings.Fields(file[i+len(header):j]), "")
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(body); err != nil {
			return fmt.Errorf("file body is not base64: %v", err)
		}
	}
	result["body_hex"] = mustJSON(hex.EncodeToString(raw))
	return nil
}
