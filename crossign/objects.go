package crossign

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// Key is a public cross-signing key object as the server stores and
// publishes it (specification, CrossSigningKey):
//
//	{"user_id": "@alice:example.org", "usage": ["self_signing"],
//	 "keys": {"ed25519:<key>": "<key>"}, "signatures": {...}}
//
// A Key is well formed: one user ID, exactly one usage, exactly one Ed25519
// key whose key ID names it. Whether its signatures verify is a separate
// question, answered by Verifier. Other members are kept and signed over.
type Key struct {
	userID string
	usage  Usage
	public olm.Ed25519PublicKey
	obj    *signedjson.Object
}

// ParseKey parses a cross-signing key object. The error wraps ErrMalformed
// (with ErrDuplicateKey or ErrNumber where they apply), ErrWrongUsage when
// "usage" is not exactly one known role, ErrKeyIDMismatch when the key ID
// does not name the key, or ErrInvalidKey when the key is not canonical
// unpadded base64 of 32 bytes.
func ParseKey(data []byte) (*Key, error) {
	obj, err := signedjson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("crossign: parse key: %w", err)
	}
	return keyFromObject(obj)
}

func keyFromObject(obj *signedjson.Object) (*Key, error) {
	k := &Key{obj: obj}
	var err error
	if k.userID, err = stringMember(obj, "user_id"); err != nil {
		return nil, fmt.Errorf("crossign: parse key: %w", err)
	}
	var usage []string
	if err := decodeMember(obj, "usage", &usage, '['); err != nil {
		return nil, fmt.Errorf("crossign: parse key of %s: %w", k.userID, err)
	}
	if len(usage) != 1 || !Usage(usage[0]).valid() {
		return nil, fmt.Errorf("crossign: parse key of %s: %w: usage %q, want exactly one of master, self_signing, user_signing", k.userID, ErrWrongUsage, usage)
	}
	k.usage = Usage(usage[0])
	var keys map[string]string
	if err := decodeMember(obj, "keys", &keys, '{'); err != nil {
		return nil, fmt.Errorf("crossign: parse %s key of %s: %w", k.usage, k.userID, err)
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("crossign: parse %s key of %s: %w: %d keys, want exactly one", k.usage, k.userID, ErrMalformed, len(keys))
	}
	for id, value := range keys {
		name, ok := strings.CutPrefix(id, "ed25519:")
		if !ok {
			return nil, fmt.Errorf("crossign: parse %s key of %s: %w: key ID %q is not ed25519", k.usage, k.userID, ErrMalformed, id)
		}
		if name != value {
			return nil, fmt.Errorf("crossign: parse %s key of %s: %w: %q holds %q", k.usage, k.userID, ErrKeyIDMismatch, id, value)
		}
		if k.public, err = parsePublicKey(value); err != nil {
			return nil, fmt.Errorf("crossign: parse %s key of %s: %w", k.usage, k.userID, err)
		}
	}
	return k, nil
}

// parsePublicKey decodes an Ed25519 public key that must be canonical
// unpadded base64, so that one key has one spelling: key IDs and device IDs
// are compared as strings.
func parsePublicKey(s string) (olm.Ed25519PublicKey, error) {
	var k olm.Ed25519PublicKey
	if len(s) != b64.EncodedLen(olm.Ed25519KeySize) {
		return k, fmt.Errorf("%w: key %q is not unpadded base64 of %d bytes", ErrInvalidKey, s, olm.Ed25519KeySize)
	}
	b, err := b64.Decode(s)
	if err != nil || b64.Encode(b) != s {
		return k, fmt.Errorf("%w: key %q is not canonical unpadded base64", ErrInvalidKey, s)
	}
	copy(k[:], b)
	return k, nil
}

// stringMember returns the non-empty string member name of obj.
func stringMember(obj *signedjson.Object, name string) (string, error) {
	var s string
	if err := decodeMember(obj, name, &s, '"'); err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%w: %q is empty", ErrMalformed, name)
	}
	return s, nil
}

// decodeMember decodes the member name of obj, whose JSON text must start
// with first ('"', '[' or '{'; null is refused), into v.
func decodeMember(obj *signedjson.Object, name string, v any, first byte) error {
	raw, ok := obj.Member(name)
	if !ok {
		return fmt.Errorf("%w: no %q", ErrMalformed, name)
	}
	if raw[0] != first || json.Unmarshal(raw, v) != nil {
		return fmt.Errorf("%w: %q has the wrong type", ErrMalformed, name)
	}
	return nil
}

// UnmarshalJSON parses data as ParseKey does.
func (k *Key) UnmarshalJSON(data []byte) error {
	if k == nil {
		return fmt.Errorf("crossign: key: %w", ErrNil)
	}
	p, err := ParseKey(data)
	if err != nil {
		return err
	}
	*k = *p
	return nil
}

// UserID returns the owner named in "user_id".
func (k *Key) UserID() string {
	if k == nil {
		return ""
	}
	return k.userID
}

// Usage returns the key's role.
func (k *Key) Usage() Usage {
	if k == nil {
		return ""
	}
	return k.usage
}

// PublicKey returns the public key.
func (k *Key) PublicKey() olm.Ed25519PublicKey {
	if k == nil {
		return olm.Ed25519PublicKey{}
	}
	return k.public
}

// KeyID returns "ed25519:<public key>".
func (k *Key) KeyID() string { return signedjson.KeyID(k.PublicKey().String()) }

// Object returns the signed object. Signing it changes the Key's
// signatures.
func (k *Key) Object() *signedjson.Object {
	if k == nil {
		return nil
	}
	return k.obj
}

// Bytes returns the key object as canonical JSON.
func (k *Key) Bytes() []byte { return k.Object().Bytes() }

// MarshalJSON returns Bytes.
func (k *Key) MarshalJSON() ([]byte, error) {
	if k == nil || k.obj == nil {
		return nil, fmt.Errorf("crossign: key: %w", ErrNil)
	}
	return k.Bytes(), nil
}

// String describes the key: role, owner and public key.
func (k *Key) String() string {
	if k == nil {
		return "<nil>"
	}
	return fmt.Sprintf("crossign.Key(%s of %s: %s)", k.usage, k.userID, k.public)
}

// Device is a device keys object as a device uploads it and /keys/query
// returns it (specification, DeviceKeys):
//
//	{"user_id": "@alice:example.org", "device_id": "JLAFKJWSCS",
//	 "algorithms": [...], "keys": {"curve25519:JLAFKJWSCS": "...",
//	 "ed25519:JLAFKJWSCS": "..."}, "signatures": {...}, "unsigned": {...}}
//
// A Device is well formed and signed by its own Ed25519 key, as
// olm.Account.DeviceKeys makes it. Whether its owner's self-signing key
// signed it is answered by Verifier.
type Device struct {
	userID, deviceID string
	algorithms       []string
	ed25519          olm.Ed25519PublicKey
	curve25519       olm.Curve25519PublicKey
	obj              *signedjson.Object
}

// ParseDevice parses a device keys object and checks its self-signature.
// The error wraps ErrMalformed (with ErrDuplicateKey or ErrNumber where they
// apply), ErrKeyIDMismatch if a device key is filed under another device ID
// or the device's own keys are missing, ErrInvalidKey for a badly encoded
// key, or ErrMissingSignature or ErrBadSignature if the device did not sign
// the object with its own Ed25519 key.
func ParseDevice(data []byte) (*Device, error) {
	obj, err := signedjson.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("crossign: parse device keys: %w", err)
	}
	return deviceFromObject(obj)
}

func deviceFromObject(obj *signedjson.Object) (*Device, error) {
	d := &Device{obj: obj}
	var err error
	if d.userID, err = stringMember(obj, "user_id"); err != nil {
		return nil, fmt.Errorf("crossign: parse device keys: %w", err)
	}
	if d.deviceID, err = stringMember(obj, "device_id"); err != nil {
		return nil, fmt.Errorf("crossign: parse device keys of %s: %w", d.userID, err)
	}
	wrap := func(err error) error {
		return fmt.Errorf("crossign: device %s of %s: %w", d.deviceID, d.userID, err)
	}
	if err := decodeMember(obj, "algorithms", &d.algorithms, '['); err != nil {
		return nil, wrap(err)
	}
	var keys map[string]string
	if err := decodeMember(obj, "keys", &keys, '{'); err != nil {
		return nil, wrap(err)
	}
	var haveEd, haveCurve bool
	for id, value := range keys {
		alg, name, _ := strings.Cut(id, ":")
		if alg != "ed25519" && alg != "curve25519" {
			continue // another algorithm: not ours to judge
		}
		if name != d.deviceID {
			return nil, wrap(fmt.Errorf("%w: %q is not a key of device %q", ErrKeyIDMismatch, id, d.deviceID))
		}
		if alg == "ed25519" {
			if d.ed25519, err = parsePublicKey(value); err != nil {
				return nil, wrap(err)
			}
			haveEd = true
			continue
		}
		k, err := parsePublicKey(value) // same encoding rules for Curve25519
		if err != nil {
			return nil, wrap(err)
		}
		d.curve25519 = olm.Curve25519PublicKey(k)
		haveCurve = true
	}
	if !haveEd || !haveCurve {
		return nil, wrap(fmt.Errorf("%w: no ed25519:%s and curve25519:%s keys", ErrKeyIDMismatch, d.deviceID, d.deviceID))
	}
	if err := obj.Verify(d.userID, signedjson.KeyID(d.deviceID), d.ed25519[:]); err != nil {
		return nil, wrap(fmt.Errorf("self-signature: %w", err))
	}
	return d, nil
}

// UnmarshalJSON parses data as ParseDevice does.
func (d *Device) UnmarshalJSON(data []byte) error {
	if d == nil {
		return fmt.Errorf("crossign: device: %w", ErrNil)
	}
	p, err := ParseDevice(data)
	if err != nil {
		return err
	}
	*d = *p
	return nil
}

// UserID returns the owner named in "user_id".
func (d *Device) UserID() string {
	if d == nil {
		return ""
	}
	return d.userID
}

// DeviceID returns the device ID.
func (d *Device) DeviceID() string {
	if d == nil {
		return ""
	}
	return d.deviceID
}

// Algorithms returns a copy of the encryption algorithms the device
// supports.
func (d *Device) Algorithms() []string {
	if d == nil {
		return nil
	}
	return append([]string(nil), d.algorithms...)
}

// Ed25519Key returns the device's Ed25519 (fingerprint) key.
func (d *Device) Ed25519Key() olm.Ed25519PublicKey {
	if d == nil {
		return olm.Ed25519PublicKey{}
	}
	return d.ed25519
}

// Curve25519Key returns the device's Curve25519 identity key.
func (d *Device) Curve25519Key() olm.Curve25519PublicKey {
	if d == nil {
		return olm.Curve25519PublicKey{}
	}
	return d.curve25519
}

// DisplayName returns unsigned.device_display_name, which the server adds
// and nobody signs, or "".
func (d *Device) DisplayName() string {
	raw, ok := d.Object().Member("unsigned")
	if !ok {
		return ""
	}
	var u map[string]json.RawMessage // exact member names, unlike a struct
	var name string
	if json.Unmarshal(raw, &u) != nil || json.Unmarshal(u["device_display_name"], &name) != nil {
		return ""
	}
	return name
}

// Object returns the signed object. Signing it changes the Device's
// signatures.
func (d *Device) Object() *signedjson.Object {
	if d == nil {
		return nil
	}
	return d.obj
}

// Bytes returns the device keys as canonical JSON.
func (d *Device) Bytes() []byte { return d.Object().Bytes() }

// MarshalJSON returns Bytes.
func (d *Device) MarshalJSON() ([]byte, error) {
	if d == nil || d.obj == nil {
		return nil, fmt.Errorf("crossign: device: %w", ErrNil)
	}
	return d.Bytes(), nil
}

// String describes the device: owner, ID and Ed25519 key.
func (d *Device) String() string {
	if d == nil {
		return "<nil>"
	}
	return fmt.Sprintf("crossign.Device(%s %s: %s)", d.userID, d.deviceID, d.ed25519)
}
