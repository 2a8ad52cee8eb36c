// Package signedjson signs and verifies JSON objects as Matrix does.
//
// A signed object carries its signatures in a "signatures" member that maps
// an entity (a user ID for device and cross-signing keys, a server name for
// server keys) to key IDs ("ed25519:<id>") and each key ID to an unpadded
// base64 Ed25519 signature. The signature covers the canonical JSON of the
// object without its "signatures" and "unsigned" members, so that others can
// add their signatures, and servers their unsigned data, without breaking
// it. Specification: appendix "Signing JSON" and "Checking for a Signature",
// https://spec.matrix.org/latest/appendices/#signing-json.
//
// [Parse] accepts only what canonical JSON can represent (appendix
// "Canonical JSON"): no duplicate member names, no numbers outside
// [-(2^53)+1, 2^53-1], integers written only as integers (no 1.0, 1e3 or
// -0: [ErrNumberForm]), valid UTF-8. This is
// stricter than encoding/json on purpose: two parsers that read different
// values from one signed object are a forgery waiting to happen.
//
// Verification is strict: signatures must be canonical unpadded base64 of
// 64 bytes, and Ed25519 verification refuses non-canonical and small-order
// points and non-canonical S values (CVE-2024-45193), so signatures are not
// malleable.
package signedjson

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/souverain/e2ee/internal/errs"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/canonicaljson"
	ied25519 "github.com/souverain/e2ee/internal/ed25519"
)

// MaxObjectSize is the largest JSON text, in bytes, that Parse accepts. The
// specification caps a whole event at 65,536 bytes of canonical JSON; signed
// key objects are a few hundred bytes.
const MaxObjectSize = 65536

// Errors returned by this package, wrapped with context; test for them with
// errors.Is.
var (
	// ErrMalformed means the input is not a JSON object that can be signed:
	// a syntax error, invalid UTF-8, a value other than an object, a
	// "signatures" member that is not an object of objects of strings, an
	// input larger than MaxObjectSize, or one of the conditions below.
	ErrMalformed = errors.New("malformed signed JSON object")
	// ErrDuplicateKey means an object in the input has the same member name
	// twice. Errors wrapping it also wrap ErrMalformed.
	ErrDuplicateKey = canonicaljson.ErrDuplicateKey
	// ErrNumber means the input has a number that canonical JSON forbids: a
	// fraction or an integer outside [-(2^53)+1, 2^53-1]. Errors wrapping it
	// also wrap ErrMalformed.
	ErrNumber = canonicaljson.ErrNumber
	// ErrNumberForm means the input writes an integer in a form other than
	// canonical JSON's: with a fraction or an exponent (1.0, 1.7e12), or
	// as -0. The value is allowed, the text is not: a signature over
	// 1700000000000 must not verify for a text that says 1.7e12. Errors
	// wrapping it also wrap ErrNumber and ErrMalformed.
	ErrNumberForm = canonicaljson.ErrNumberForm
	// ErrMissingSignature means the object has no signature under the
	// entity and key ID asked for.
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature means a signature is present but does not verify, or
	// is not canonical unpadded base64 of 64 bytes, or is malleable.
	ErrBadSignature = errs.BadSignature
	// ErrInvalidKey means a key or key ID cannot be used: a public key that
	// is not 32 bytes or is non-canonical or of small order, a signer that
	// is not Ed25519, or a key ID not of the form "ed25519:<id>".
	ErrInvalidKey = errors.New("invalid key")
	// ErrNil means a nil value was passed where a constructed one is
	// needed: a nil signer or Object. It is shared with the other packages
	// of the module.
	ErrNil = errs.Nil
)

// KeyID returns the key ID "ed25519:<id>" under which a signature by the key
// named id is filed: a device ID for device keys, the unpadded base64 public
// key for cross-signing keys.
func KeyID(id string) string { return "ed25519:" + id }

// Object is a JSON object parsed for signing and verification. Its members
// are kept in canonical form; only its signatures change, through Sign and
// AddSignature. The zero value is an empty object. An Object is not safe for
// concurrent use while it is being signed.
type Object struct {
	members []member // sorted by name; never "signatures"
	// sigs is the "signatures" member, or nil if the object has none.
	sigs map[string]map[string]string
	// signing is the canonical JSON without "signatures" and "unsigned".
	signing []byte
}

type member struct {
	name    string
	encName []byte // canonical JSON string of name
	value   []byte // canonical JSON value
}

// Parse parses the JSON text data, which must hold one object, with the
// strict rules of the package documentation. The error wraps ErrMalformed,
// and ErrDuplicateKey, ErrNumber or ErrNumberForm where they apply. Member
// order and whitespace may differ from canonical JSON; numbers may not.
func Parse(data []byte) (*Object, error) {
	if len(data) > MaxObjectSize {
		return nil, fmt.Errorf("signedjson: parse: %w: %d bytes, limit %d", ErrMalformed, len(data), MaxObjectSize)
	}
	canon, err := canonicaljson.CanonicalizeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("signedjson: parse: %w: %w", ErrMalformed, err)
	}
	if canon[0] != '{' {
		return nil, fmt.Errorf("signedjson: parse: %w: not a JSON object", ErrMalformed)
	}
	// The text is canonical: encoding/json reads it exactly, and each
	// json.RawMessage is the canonical text of its value.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(canon, &raw); err != nil {
		return nil, fmt.Errorf("signedjson: parse: %w: %v", ErrMalformed, err)
	}
	o := &Object{members: make([]member, 0, len(raw))}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if name == "signatures" {
			if o.sigs, err = parseSignatures(raw[name]); err != nil {
				return nil, err
			}
			continue
		}
		o.members = append(o.members, member{name: name, encName: encodeString(name), value: raw[name]})
	}
	o.signing = o.appendCanonical(nil, false)
	return o, nil
}

// parseSignatures reads the "signatures" member: an object mapping entities
// to objects mapping key IDs to strings.
func parseSignatures(raw json.RawMessage) (map[string]map[string]string, error) {
	bad := func(what string) error {
		return fmt.Errorf("signedjson: parse: %w: \"signatures\" %s", ErrMalformed, what)
	}
	var entities map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &entities) != nil {
		return nil, bad("is not an object")
	}
	sigs := make(map[string]map[string]string, len(entities))
	for entity, v := range entities {
		var keys map[string]json.RawMessage
		if v[0] != '{' || json.Unmarshal(v, &keys) != nil {
			return nil, bad(fmt.Sprintf("of %q is not an object", entity))
		}
		m := make(map[string]string, len(keys))
		for id, raw := range keys {
			var str string
			if raw[0] != '"' || json.Unmarshal(raw, &str) != nil {
				return nil, bad(fmt.Sprintf("of %q by %q is not a string", entity, id))
			}
			m[id] = str
		}
		sigs[entity] = m
	}
	return sigs, nil
}

// encodeString returns the canonical JSON encoding of s, which is valid
// UTF-8 because it was decoded from canonical JSON or checked by the caller.
func encodeString(s string) []byte {
	b, err := canonicaljson.Marshal(s)
	if err != nil {
		panic("signedjson: internal error: " + err.Error())
	}
	return b
}

// appendCanonical appends the canonical JSON of o to dst, with its
// signatures and its "unsigned" member only if full is set.
func (o *Object) appendCanonical(dst []byte, full bool) []byte {
	dst = append(dst, '{')
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	sigsDone := !full || o.sigs == nil
	for _, m := range o.members {
		if !sigsDone && m.name > "signatures" {
			sep()
			dst = o.appendSignatures(dst)
			sigsDone = true
		}
		if !full && m.name == "unsigned" {
			continue
		}
		sep()
		dst = append(dst, m.encName...)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
	}
	if !sigsDone {
		sep()
		dst = o.appendSignatures(dst)
	}
	return append(dst, '}')
}

func (o *Object) appendSignatures(dst []byte) []byte {
	b, err := canonicaljson.Marshal(o.sigs)
	if err != nil {
		panic("signedjson: internal error: " + err.Error())
	}
	dst = append(dst, `"signatures":`...)
	return append(dst, b...)
}

// SigningBytes returns the bytes that signatures cover: the canonical JSON
// of the object without its "signatures" and "unsigned" members.
func (o *Object) SigningBytes() []byte {
	if o == nil || o.signing == nil {
		return []byte("{}") // the zero Object
	}
	return bytes.Clone(o.signing)
}

// Bytes returns the canonical JSON of the whole object, signatures and
// "unsigned" included. A nil Object gives "{}", as the zero Object does.
func (o *Object) Bytes() []byte {
	if o == nil {
		return []byte("{}")
	}
	return o.appendCanonical(nil, true)
}

// MarshalJSON returns Bytes, so that an Object inside a struct encodes as
// the object it holds; a nil Object encodes as null.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	return o.Bytes(), nil
}

// UnmarshalJSON parses data as Parse does and replaces o with the result.
func (o *Object) UnmarshalJSON(data []byte) error {
	if o == nil {
		return fmt.Errorf("signedjson: unmarshal: %w", ErrNil)
	}
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*o = *p
	return nil
}

// Member returns the canonical JSON of the member called name, and whether
// the object has it. For "signatures" it returns the current signatures.
func (o *Object) Member(name string) (json.RawMessage, bool) {
	if o == nil {
		return nil, false
	}
	if name == "signatures" {
		if o.sigs == nil {
			return nil, false
		}
		b, _ := canonicaljson.Marshal(o.sigs)
		return b, true
	}
	i, ok := slices.BinarySearchFunc(o.members, name, func(m member, name string) int {
		return strings.Compare(m.name, name)
	})
	if !ok {
		return nil, false
	}
	return bytes.Clone(o.members[i].value), true
}

// Signatures returns a copy of the object's signatures: entity → key ID →
// unpadded base64 signature. It is empty, not nil, for an unsigned object.
func (o *Object) Signatures() map[string]map[string]string {
	if o == nil {
		return map[string]map[string]string{}
	}
	out := make(map[string]map[string]string, len(o.sigs))
	for entity, m := range o.sigs {
		out[entity] = maps.Clone(m)
	}
	return out
}

// Signature returns the unpadded base64 signature filed under entity and
// keyID, and whether there is one. It does not verify it.
func (o *Object) Signature(entity, keyID string) (string, bool) {
	if o == nil {
		return "", false
	}
	s, ok := o.sigs[entity][keyID]
	return s, ok
}

// validKeyID reports whether keyID is "ed25519:" followed by at least one
// character.
func validKeyID(keyID string) bool {
	id, ok := strings.CutPrefix(keyID, "ed25519:")
	return ok && id != ""
}

// Sign signs the object with key, which must be an Ed25519 key such as a
// crypto/ed25519.PrivateKey or a cross-signing key, and files the signature
// under entity and keyID ("ed25519:<id>"), replacing any signature already
// there. Other signatures and the "unsigned" member are kept.
//
// The error wraps ErrInvalidKey for a non-Ed25519 signer or a bad key ID,
// ErrNil for a nil key or Object, or is the signer's error.
func (o *Object) Sign(entity, keyID string, key crypto.Signer) error {
	if o == nil || isNil(key) {
		return fmt.Errorf("signedjson: sign: %w: nil object or key", ErrNil)
	}
	if k, ok := key.(ed25519.PrivateKey); ok && len(k) != ed25519.PrivateKeySize {
		// crypto/ed25519 would panic on it.
		return fmt.Errorf("signedjson: sign: %w: Ed25519 private key of %d bytes", ErrInvalidKey, len(k))
	}
	if _, ok := key.Public().(ed25519.PublicKey); !ok {
		return fmt.Errorf("signedjson: sign: %w: %T is not an Ed25519 key", ErrInvalidKey, key.Public())
	}
	if err := checkSigner(entity, keyID); err != nil {
		return err
	}
	sig, err := key.Sign(rand.Reader, o.signingBytes(), crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("signedjson: sign: %w", err)
	}
	return o.AddSignature(entity, keyID, sig)
}

// isNil reports whether key is nil or a typed nil of a pointer, slice or
// map type (such as a nil *crossign.PrivateKey or ed25519.PrivateKey),
// which would panic when used.
func isNil(key crypto.Signer) bool {
	if key == nil {
		return true
	}
	switch v := reflect.ValueOf(key); v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// signingBytes is SigningBytes without the copy.
func (o *Object) signingBytes() []byte {
	if o.signing == nil {
		return []byte("{}")
	}
	return o.signing
}

func checkSigner(entity, keyID string) error {
	if entity == "" {
		return fmt.Errorf("signedjson: sign: %w: empty entity", ErrInvalidKey)
	}
	if !validKeyID(keyID) {
		return fmt.Errorf("signedjson: sign: %w: key ID %q is not \"ed25519:<id>\"", ErrInvalidKey, keyID)
	}
	return nil
}

// AddSignature files sig, a 64-byte Ed25519 signature of SigningBytes made
// elsewhere (for example by an olm.Account), under entity and keyID,
// replacing any signature already there. It does not verify sig. The error
// wraps ErrInvalidKey for a bad entity or key ID, or ErrBadSignature for a
// signature of the wrong length.
func (o *Object) AddSignature(entity, keyID string, sig []byte) error {
	if o == nil {
		return fmt.Errorf("signedjson: sign: %w: nil object", ErrNil)
	}
	if err := checkSigner(entity, keyID); err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signedjson: sign: %w: %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if o.sigs == nil {
		o.sigs = make(map[string]map[string]string)
	}
	if o.sigs[entity] == nil {
		o.sigs[entity] = make(map[string]string)
	}
	o.sigs[entity][keyID] = b64.Encode(sig)
	return nil
}

// AddSignatures copies every signature of other into o, replacing those
// filed under the same entity and key ID, as a server merges uploaded
// signatures. The two must be the same object: the error wraps
// ErrBadSignature if their signing bytes differ, and o is unchanged. The
// signatures are copied as they are, without verification.
func (o *Object) AddSignatures(other *Object) error {
	if o == nil || other == nil {
		return fmt.Errorf("signedjson: add signatures: %w: nil object", ErrNil)
	}
	if !bytes.Equal(o.signingBytes(), other.signingBytes()) {
		return fmt.Errorf("signedjson: add signatures: %w: they sign a different object", ErrBadSignature)
	}
	if len(other.sigs) > 0 && o.sigs == nil {
		o.sigs = make(map[string]map[string]string)
	}
	for entity, m := range other.sigs {
		if o.sigs[entity] == nil {
			o.sigs[entity] = make(map[string]string)
		}
		maps.Copy(o.sigs[entity], m)
	}
	return nil
}

// Verify checks the signature filed under entity and keyID ("ed25519:<id>")
// against the public key, strictly (see the package documentation).
//
// It returns nil for a valid signature, an error wrapping
// ErrMissingSignature if there is none, ErrBadSignature if it does not
// verify or is badly encoded, and ErrInvalidKey if key or keyID cannot be
// used.
func (o *Object) Verify(entity, keyID string, key ed25519.PublicKey) error {
	if o == nil {
		return fmt.Errorf("signedjson: verify: %w: nil object", ErrNil)
	}
	if !validKeyID(keyID) {
		return fmt.Errorf("signedjson: verify: %w: key ID %q is not \"ed25519:<id>\"", ErrInvalidKey, keyID)
	}
	s, ok := o.sigs[entity][keyID]
	if !ok {
		return fmt.Errorf("signedjson: verify: %w: none by %s under %q", ErrMissingSignature, keyID, entity)
	}
	sig, err := decodeSignature(s)
	if err != nil {
		return fmt.Errorf("signedjson: verify: signature by %s under %q: %w", keyID, entity, err)
	}
	if err := ied25519.Verify(key, o.signingBytes(), sig); err != nil {
		if errors.Is(err, ied25519.ErrInvalidKey) {
			return fmt.Errorf("signedjson: verify: %w: public key for %s: %v", ErrInvalidKey, keyID, err)
		}
		return fmt.Errorf("signedjson: verify: %w: by %s under %q: %v", ErrBadSignature, keyID, entity, err)
	}
	return nil
}

// decodeSignature decodes a signature, which must be the canonical unpadded
// base64 of 64 bytes: no padding, no stray bits in the last character.
func decodeSignature(s string) ([]byte, error) {
	if len(s) != b64.EncodedLen(ed25519.SignatureSize) {
		return nil, fmt.Errorf("%w: %d characters, want %d of unpadded base64", ErrBadSignature, len(s), b64.EncodedLen(ed25519.SignatureSize))
	}
	sig, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadSignature)
	}
	if b64.Encode(sig) != s {
		return nil, fmt.Errorf("%w: not canonical base64 (stray bits in the last character)", ErrBadSignature)
	}
	return sig, nil
}

// Sign parses the JSON object data, signs it as Object.Sign does, and
// returns the signed object as canonical JSON. A nil key gives an error
// wrapping ErrNil.
func Sign(data []byte, entity, keyID string, key crypto.Signer) ([]byte, error) {
	if isNil(key) {
		return nil, fmt.Errorf("signedjson: sign: %w: nil key", ErrNil)
	}
	o, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := o.Sign(entity, keyID, key); err != nil {
		return nil, err
	}
	return o.Bytes(), nil
}

// Verify parses the JSON object data and checks one signature as
// Object.Verify does. Its errors are those of Parse and Object.Verify.
func Verify(data []byte, entity, keyID string, key ed25519.PublicKey) error {
	o, err := Parse(data)
	if err != nil {
		return err
	}
	return o.Verify(entity, keyID, key)
}
