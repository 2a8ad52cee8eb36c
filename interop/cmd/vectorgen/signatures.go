package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/interop/libolm"
)

const signaturesDescription = "Ed25519 signatures (ed25519.verify), signing JSON (json.sign) and checking signed JSON (json.verify) as the Matrix appendices define them, and more canonical JSON (json.canonicalize). Signatures are made by libolm accounts (olm_account_sign) and checked with olm_ed25519_verify; JSON is canonicalized by the generator from the appendix's rules. Must-fail vectors flip signature bytes in R and S, change messages and keys, use wrong lengths, non-canonical S (S + L) and the small-order identity key, alter signed objects, and give JSON that has no canonical form."

// canonical encodes v as canonical JSON. encoding/json sorts object keys
// and, without HTML escaping, writes what the appendix asks for, as long as
// strings hold no U+2028 or U+2029 and numbers are integers; the generator
// only feeds it such values.
func canonical(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	must(enc.Encode(v))
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if bytes.Contains(out, []byte(`\u2028`)) || bytes.Contains(out, []byte(`\u2029`)) {
		panic("vectorgen: value outside what canonical() handles")
	}
	return out
}

func parseJSON(s string) map[string]any {
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	must(dec.Decode(&v))
	return v
}

// verifyCase adds an ed25519.verify vector, asking libolm.
func (b *builder) verifyCase(id, key string, msg []byte, sig string, ok bool, notes string, flags ...string) {
	err := libolm.Ed25519Verify(key, msg, sig)
	in := map[string]any{"public_key": key, "message_hex": hx(msg), "signature": sig}
	if ok {
		must(err)
		b.add(vec{id: id, kind: "ed25519.verify", inputs: in, expected: map[string]any{}, notes: notes, flags: flags})
		return
	}
	if err == nil {
		flags = append(flags, "libolm-diff")
		notes += " libolm 3.2.13 accepts it."
	} else {
		notes += " libolm: " + libolmCode(err) + "."
	}
	b.add(vec{id: id, kind: "ed25519.verify", inputs: in, errClass: "bad-signature", notes: notes, flags: flags})
}

func genSignatures(b *builder) {
	alice := newAccount("signatures alice")
	other := newAccount("signatures other")
	key := identity(alice).Ed25519
	otherKey := identity(other).Ed25519
	msgs := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"device-keys", []byte(`{"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"device_id":"JLAFKJWSCS","keys":{"curve25519:JLAFKJWSCS":"3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI","ed25519:JLAFKJWSCS":"lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI"},"user_id":"@alice:example.com"}`)},
		{"binary", rnd("signatures binary", 100)},
	}
	for _, m := range msgs {
		sig := must1(alice.Sign(m.msg))
		b.verifyCase("verify-"+m.name, key, m.msg, sig, true, "A libolm account's signature.")
	}
	msg := msgs[1].msg
	sig := must1(alice.Sign(msg))
	raw := unb64(sig)
	for _, c := range []struct {
		pos  int
		mask byte
		what string
	}{{0, 1, "first byte of R"}, {31, 1, "last byte of R"}, {32, 1, "first byte of S"}, {63, 1, "low bit of the last byte of S"}, {63, 0x80, "top bit of S"}, {63, 0x10, "bit 252 of S"}} {
		b.verifyCase(fmt.Sprintf("signature-byte-%d-bit-%#x", c.pos, c.mask), key, msg, b64(flip(raw, c.pos, c.mask)), false, "The "+c.what+" flipped.")
	}
	b.verifyCase("message-changed", key, flip(msg, 10, 1), sig, false, "One byte of the message changed.")
	b.verifyCase("message-extended", key, cat(msg, []byte(" ")), sig, false, "A byte appended to the message.")
	b.verifyCase("wrong-key", otherKey, msg, sig, false, "Another account's key.")
	b.verifyCase("signature-63-bytes", key, msg, b64(raw[:63]), false, "A 63-byte signature.")
	b.verifyCase("signature-65-bytes", key, msg, b64(cat(raw, []byte{0})), false, "A 65-byte signature.")
	b.verifyCase("signature-empty", key, msg, "", false, "An empty signature.")
	b.verifyCase("signature-not-base64", key, msg, "!"+sig[1:], false, "A signature that is not base64.")
	b.verifyCase("key-31-bytes", b64(unb64(key)[:31]), msg, sig, false, "A 31-byte public key.")
	b.verifyCase("signature-s-plus-l", key, msg, b64(cat(raw[:32], nonCanonicalS(raw[32:]))), false,
		"S replaced by S + L: the verification equation still holds, but S is not reduced; RFC 8032 verifiers refuse it, so that signatures are not malleable.", "policy")
	identityPoint := b64(cat([]byte{1}, make([]byte, 31)))
	b.verifyCase("small-order-key", identityPoint, msg, b64(cat([]byte{1}, make([]byte, 63))), false,
		"The public key is the identity point (small order) and the signature is R = identity, S = 0: the equation [S]B = R + [k]A holds for every message, so a lax verifier accepts this \"signature\" of anything.", "policy")

	// Signing JSON.
	seed := accountSeed("signatures alice")
	objects := []struct{ name, text, notes string }{
		{"empty-object", `{}`, "The empty object."},
		{"device-keys", `{"user_id":"@alice:example.com","device_id":"JLAFKJWSCS","algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],"keys":{"ed25519:JLAFKJWSCS":"lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI","curve25519:JLAFKJWSCS":"3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI"}}`, "A device_keys object, keys out of order."},
		{"unsigned-and-signatures", `{"b":[1,2,{"z":null,"a":true}],"a":"é日本","unsigned":{"age":1234},"signatures":{"@bob:example.org":{"ed25519:BOB":"c2lnbmF0dXJl"}}}`, "An object carrying unsigned data and another entity's signature: both are left out of what is signed, and both stay in the result."},
		{"integers", `{"max":9007199254740991,"min":-9007199254740991,"zero":0}`, "The largest and smallest integers canonical JSON allows."},
	}
	var signed []string
	for _, o := range objects {
		obj := parseJSON(o.text)
		unsigned, hasUnsigned := obj["unsigned"]
		sigs, _ := obj["signatures"].(map[string]any)
		delete(obj, "unsigned")
		delete(obj, "signatures")
		payload := canonical(obj)
		s := must1(alice.Sign(payload))
		if sigs == nil {
			sigs = map[string]any{}
		}
		sigs["@alice:example.com"] = map[string]any{"ed25519:JLAFKJWSCS": s}
		obj["signatures"] = sigs
		if hasUnsigned {
			obj["unsigned"] = unsigned
		}
		out := canonical(obj)
		signed = append(signed, string(out))
		b.add(vec{id: "sign-" + o.name, kind: "json.sign",
			inputs:   map[string]any{"seed_hex": hx(seed), "entity": "@alice:example.com", "key_id": "ed25519:JLAFKJWSCS", "json_text": o.text},
			expected: map[string]any{"signed_json": json.RawMessage(out)},
			notes:    o.notes + " The signature is libolm's over the canonical JSON " + string(payload) + "; the result is compared as a JSON value."})
		b.add(vec{id: "verify-json-" + o.name, kind: "json.verify",
			inputs:   map[string]any{"public_key": key, "entity": "@alice:example.com", "key_id": "ed25519:JLAFKJWSCS", "json_text": string(out)},
			expected: map[string]any{}, notes: "The signed object."})
	}
	jvAs := func(entity, id, text, notes string, ok bool, flags ...string) {
		in := map[string]any{"public_key": key, "entity": entity, "key_id": "ed25519:JLAFKJWSCS", "json_text": text}
		v := vec{id: "verify-json-" + id, kind: "json.verify", inputs: in, notes: notes, derived: true, flags: flags}
		if ok {
			v.expected = map[string]any{}
		} else {
			v.errClass = "bad-signature"
		}
		b.add(v)
	}
	jv := func(id, text, notes string, ok bool, flags ...string) {
		jvAs("@alice:example.com", id, text, notes, ok, flags...)
	}
	dk := signed[1]
	jv("reordered-whitespace", reformat(dk), "The signed device keys rewritten with other key order and whitespace: the signature covers the canonical form, so it still verifies.", true)
	jv("unsigned-added", strings.TrimSuffix(dk, "}")+`,"unsigned":{"device_display_name":"Alice's phone"}}`, "Unsigned data added after signing: not covered, still verifies.", true)
	jv("other-signature-added", strings.Replace(dk, `"signatures":{`, `"signatures":{"@carol:example.org":{"ed25519:C":"AAAA"},`, 1), "Another entity's signature added: still verifies.", true)
	jv("content-changed", strings.Replace(dk, "JLAFKJWSCS\",\"keys", "JLAFKJWSCX\",\"keys", 1), "The device_id changed after signing.", false)
	jvAs("@mallory:example.com", "other-entity", dk, "No signature by this entity.", false)
	jv("other-key-id", strings.Replace(dk, "ed25519:JLAFKJWSCS\":\"", "ed25519:OTHER\":\"", 1), "The signature is filed under another key ID.", false)
	jv("no-signatures", strings.Split(dk, `,"signatures"`)[0]+"}", "No signatures member.", false)
	jv("signature-truncated", truncateSig(dk), "The signature with its last base64 character removed.", false)
	jv("float", strings.Replace(dk, `"device_id"`, `"weight":1.5,"device_id"`, 1), "A float in the object: it has no canonical JSON form, so nothing can be verified.", false)
	jv("duplicate-key", strings.Replace(dk, `"device_id":"JLAFKJWSCS"`, `"device_id":"JLAFKJWSCS","device_id":"EVIL"`, 1),
		"A duplicate member: parsers disagree about its value (first or last), so a signed object with duplicates must not verify.", false)
	jv("big-integer", strings.Replace(dk, `"device_id"`, `"n":9007199254740992,"device_id"`, 1), "An integer beyond 2^53−1: no canonical form.", false)
	jv("not-an-object", `["`+dk+`"]`, "An array.", false)

	// More canonical JSON.
	for _, c := range []struct{ id, in, out, class, notes string }{
		{"nested-sort", `{"b":{"d":1,"c":[{"f":0,"e":0}]},"a":[]}`, `{"a":[],"b":{"c":[{"e":0,"f":0}],"d":1}}`, "", "Keys sorted at every depth, arrays kept in order."},
		{"escaped-key-order", `{"\u00e9":1,"e":2,"\u0065\u0301":3}`, "{\"e\":2,\"e\u0301\":3,\"\u00e9\":1}", "", "Keys compared after unescaping, by code point: e < e+U+0301 < é (no Unicode normalisation)."},
		{"literals", `[true,false,null]`, `[true,false,null]`, "", "The three literals."},
		{"exponent-integer", `{"a":1E2,"b":-0}`, `{"a":100,"b":0}`, "", "Integers written with an exponent or as -0 are written plainly."},
		{"whitespace", " \t\n{ \"a\" :\r\n 1 } \n", `{"a":1}`, "", "Insignificant whitespace of all four kinds."},
		{"leading-zero", `{"a":01}`, "", "invalid-json", "A leading zero is not JSON."},
		{"plus-sign", `{"a":+1}`, "", "invalid-json", "A plus sign is not JSON."},
		{"nan", `{"a":NaN}`, "", "invalid-json", "NaN is not JSON."},
		{"single-quotes", `{'a':1}`, "", "invalid-json", "Single quotes are not JSON."},
		{"comment", `{"a":1}// comment`, "", "invalid-json", "Comments are not JSON."},
		{"two-values", `{}{}`, "", "invalid-json", "Two values."},
		{"empty", ``, "", "invalid-json", "No value."},
		{"bad-escape", `{"a":"\x"}`, "", "invalid-json", "An unknown escape."},
		{"raw-control", "{\"a\":\"\x01\"}", "", "invalid-json", "A raw control character in a string."},
		{"exponent-fraction", `{"a":1.5e1}`, `{"a":15}`, "", "1.5e1 is the integer 15 written with a fraction and an exponent: the appendix constrains values (integers in range), as its own example 1e10 shows, so it is written 15. Beware: parsers that turn every exponent into a float refuse it."},
		{"huge-exponent", `{"a":1e400}`, "", "integer-out-of-range", "Beyond every range."},
		{"nested-duplicate", `{"a":{"b":1,"b":1}}`, "", "duplicate-key", "A duplicate member, even with equal values, nested."},
	} {
		in := map[string]any{"json_text": c.in}
		if c.class == "" {
			b.add(vec{id: "canonical-" + c.id, kind: "json.canonicalize", inputs: in, expected: map[string]any{"canonical_json": c.out}, notes: c.notes, derived: true})
		} else {
			b.add(vec{id: "canonical-" + c.id, kind: "json.canonicalize", inputs: in, errClass: c.class, notes: c.notes, derived: true})
		}
	}
}

// reformat rewrites a JSON object with its top-level keys reversed and
// spaces added.
func reformat(text string) string {
	obj := parseJSON(text)
	keys := sortedKeys(obj)
	var sb strings.Builder
	sb.WriteString("{\n")
	for i := len(keys) - 1; i >= 0; i-- {
		v, _ := json.Marshal(obj[keys[i]])
		fmt.Fprintf(&sb, "  %q : %s", keys[i], v)
		if i > 0 {
			sb.WriteString(",\n")
		}
	}
	sb.WriteString("\n}")
	return sb.String()
}

// truncateSig removes the last character of the first signature in text.
func truncateSig(text string) string {
	i := strings.Index(text, `"ed25519:JLAFKJWSCS":"`)
	j := strings.Index(text[i+22:], `"`)
	return text[:i+22+j-1] + text[i+22+j:]
}
