package keybackup

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
)

// MaxAuthDataSize bounds the JSON of an auth_data object or a backup
// version, checked before any other work.
const MaxAuthDataSize = 64 << 10

// TrustedKey is an Ed25519 key trusted to sign a backup's auth_data: one
// of our own verified devices, or our own master cross-signing key. Its
// signature is looked up under signatures[userID]["ed25519:"+ID].
type TrustedKey struct {
	// ID is the key ID without its "ed25519:" prefix: the device ID for a
	// device key, the unpadded base64 public key for a cross-signing key.
	ID string
	// Key is the public key.
	Key olm.Ed25519PublicKey
}

// DeviceSigningKey returns the TrustedKey for the Ed25519 key of one of
// our own verified devices.
func DeviceSigningKey(deviceID string, key olm.Ed25519PublicKey) TrustedKey {
	return TrustedKey{ID: deviceID, Key: key}
}

// MasterSigningKey returns the TrustedKey for our own master cross-signing
// key, whose key ID is its public key.
func MasterSigningKey(key olm.Ed25519PublicKey) TrustedKey {
	return TrustedKey{ID: key.String(), Key: key}
}

// AuthData is the auth_data of a backup version of BackupAlgorithm:
//
//	{"public_key": b64, "signatures": {userID: {"ed25519:<id>": b64}}, ...}
//
// Other fields (older clients add some) are kept, because the signatures
// cover them. It is public.
type AuthData struct {
	// PublicKey is the backup's public key.
	PublicKey BackupPublicKey
	// Signatures maps user IDs to key IDs to unpadded base64 signatures.
	Signatures map[string]map[string]string
	// other holds the remaining fields, canonical, without "signatures".
	other map[string]json.RawMessage
}

// NewAuthData returns unsigned auth_data for a backup with public key pub.
// Sign it with our device key and, if we have one, our master key before
// creating the backup version.
func NewAuthData(pub BackupPublicKey) *AuthData {
	return &AuthData{PublicKey: pub}
}

// ParseAuthData decodes an auth_data object. It must be canonical-JSON
// compatible (no duplicate keys, no floats, integers written as integers:
// no 1.0, 1e3 or -0), since signatures are checked
// over its canonical form. Errors wrap ErrTooLarge, ErrBadFormat or
// ErrBadPublicKey.
func ParseAuthData(data []byte) (*AuthData, error) {
	a := &AuthData{}
	if err := a.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return a, nil
}

// UnmarshalJSON decodes an auth_data object as ParseAuthData does.
func (a *AuthData) UnmarshalJSON(data []byte) error {
	if len(data) > MaxAuthDataSize {
		return fmt.Errorf("keybackup: auth_data of %d bytes: %w", len(data), ErrTooLarge)
	}
	canonical, err := canonicaljson.CanonicalizeStrict(data)
	if err != nil {
		return fmt.Errorf("keybackup: auth_data: %w: %v", ErrBadFormat, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(canonical, &fields); err != nil || fields == nil {
		return fmt.Errorf("keybackup: auth_data: not an object: %w", ErrBadFormat)
	}
	var pubText string
	if err := json.Unmarshal(fields["public_key"], &pubText); err != nil {
		return fmt.Errorf("keybackup: auth_data: public_key: %w", ErrBadFormat)
	}
	pub, err := ParseBackupPublicKey(pubText)
	if err != nil {
		return fmt.Errorf("keybackup: auth_data: public_key: %w", ErrBadPublicKey)
	}
	var sigs map[string]map[string]string
	if raw, ok := fields["signatures"]; ok {
		if err := json.Unmarshal(raw, &sigs); err != nil {
			return fmt.Errorf("keybackup: auth_data: signatures: %w", ErrBadFormat)
		}
	}
	delete(fields, "public_key")
	delete(fields, "signatures")
	*a = AuthData{PublicKey: pub, Signatures: sigs, other: fields}
	return nil
}

// object returns the auth_data as a map for canonical JSON, with or
// without its signatures and unsigned fields.
func (a *AuthData) object(signed bool) map[string]any {
	obj := make(map[string]any, len(a.other)+2)
	for k, v := range a.other {
		obj[k] = v
	}
	obj["public_key"] = a.PublicKey.String()
	if !signed {
		delete(obj, "unsigned")
		return obj
	}
	if len(a.Signatures) > 0 {
		sigs := make(map[string]any, len(a.Signatures))
		for u, m := range a.Signatures {
			sigs[u] = maps.Clone(m)
		}
		obj["signatures"] = sigs
	}
	return obj
}

// SigningPayload returns the bytes that signatures of a cover: the
// canonical JSON of the auth_data without "signatures" and "unsigned".
func (a *AuthData) SigningPayload() ([]byte, error) {
	if a == nil {
		return nil, fmt.Errorf("keybackup: auth_data: %w", ErrNil)
	}
	b, err := canonicaljson.Marshal(a.object(false))
	if err != nil {
		return nil, fmt.Errorf("keybackup: auth_data: %w: %v", ErrBadFormat, err)
	}
	return b, nil
}

// MarshalJSON returns the canonical JSON of a with its signatures.
func (a *AuthData) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("null"), nil
	}
	b, err := canonicaljson.Marshal(a.object(true))
	if err != nil {
		return nil, fmt.Errorf("keybackup: auth_data: %w: %v", ErrBadFormat, err)
	}
	return b, nil
}

// Sign signs the auth_data with sign (for example olm.Account.Sign or a
// cross-signing key's signer) and adds the signature under
// signatures[userID]["ed25519:"+keyID]. keyID is a device ID or, for a
// cross-signing key, its unpadded base64 public key.
func (a *AuthData) Sign(userID, keyID string, sign func(message []byte) olm.Ed25519Signature) error {
	payload, err := a.SigningPayload()
	if err != nil {
		return err
	}
	if sign == nil {
		return fmt.Errorf("keybackup: auth_data: sign: %w", ErrNil)
	}
	sig := sign(payload)
	if a.Signatures == nil {
		a.Signatures = map[string]map[string]string{}
	}
	if a.Signatures[userID] == nil {
		a.Signatures[userID] = map[string]string{}
	}
	a.Signatures[userID]["ed25519:"+keyID] = sig.String()
	return nil
}

// SignWith signs the auth_data with s, any crypto.Signer whose public key
// is an Ed25519 key (crypto/ed25519.PublicKey), such as a
// *crossign.PrivateKey or a crypto/ed25519.PrivateKey, and adds the
// signature under signatures[userID]["ed25519:"+<public key>]: the key ID
// of a cross-signing key is its unpadded base64 public key, so it is
// derived from s and cannot be mistyped. (A device key is filed under its
// device ID instead: use Sign with the device ID.) The signature is
// checked against the public key before it is added. Errors wrap ErrNil
// (a nil a or s), ErrUnsupportedAlgorithm (a key that is not Ed25519), the
// signer's error, or ErrWrongKey (a signature that does not verify under
// the signer's own public key); a is unchanged on error.
func (a *AuthData) SignWith(userID string, s crypto.Signer) error {
	if a == nil || s == nil {
		return fmt.Errorf("keybackup: auth_data: sign: %w", ErrNil)
	}
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("keybackup: auth_data: sign with a %T key: %w", s.Public(), ErrUnsupportedAlgorithm)
	}
	key, err := olm.NewEd25519PublicKey(pub)
	if err != nil {
		return fmt.Errorf("keybackup: auth_data: sign: %w: %v", ErrUnsupportedAlgorithm, err)
	}
	payload, err := a.SigningPayload()
	if err != nil {
		return err
	}
	raw, err := s.Sign(rand.Reader, payload, crypto.Hash(0))
	if err != nil {
		return fmt.Errorf("keybackup: auth_data: sign: %w", err)
	}
	sig, err := olm.NewEd25519Signature(raw)
	if err == nil {
		err = key.Verify(payload, sig)
	}
	if err != nil {
		return fmt.Errorf("keybackup: auth_data: the signer's signature does not verify under its public key: %w", ErrWrongKey)
	}
	return a.Sign(userID, key.String(), func([]byte) olm.Ed25519Signature { return sig })
}

// Verify returns the first of keys that has a valid signature on a under
// userID. Signatures by other keys are ignored, and so are invalid ones as
// long as one valid signature by a trusted key is found. Verification is
// strict Ed25519 (no malleable signatures, no small-order keys). If no key
// qualifies, the error wraps ErrUntrusted.
func (a *AuthData) Verify(userID string, keys ...TrustedKey) (TrustedKey, error) {
	payload, err := a.SigningPayload()
	if err != nil {
		return TrustedKey{}, err
	}
	sigs := a.Signatures[userID]
	bad := 0
	for _, k := range keys {
		text, ok := sigs["ed25519:"+k.ID]
		if !ok {
			continue
		}
		sig, err := olm.ParseEd25519Signature(text)
		if err == nil {
			err = k.Key.Verify(payload, sig)
		}
		if err != nil {
			bad++
			continue
		}
		return k, nil
	}
	return TrustedKey{}, fmt.Errorf("keybackup: auth_data: no valid signature by %d trusted keys of %s (%d invalid): %w",
		len(keys), userID, bad, ErrUntrusted)
}

// CheckTrusted returns nil if the backup described by a may receive our
// room keys: its public key is that of held (a key we hold from the user,
// from secret storage or from a verified device; held may be nil), or it
// carries a valid signature by one of keys under userID (our master key or
// verified devices). Otherwise the error wraps ErrUntrusted. A server that
// swaps in a backup version of its own fails this check.
func (a *AuthData) CheckTrusted(userID string, held *BackupKey, keys ...TrustedKey) error {
	if a == nil {
		return fmt.Errorf("keybackup: auth_data: %w", ErrNil)
	}
	if held != nil && held.Matches(a.PublicKey) == nil {
		return nil
	}
	_, err := a.Verify(userID, keys...)
	return err
}

// BackupVersion is a backup version as the server describes it (GET
// /room_keys/version) and as a client creates it (POST /room_keys/version
// with only Algorithm and AuthData). It is public.
type BackupVersion struct {
	// Algorithm is BackupAlgorithm.
	Algorithm string
	// AuthData holds the public key and signatures.
	AuthData *AuthData
	// Count is the number of keys stored, as reported by the server.
	Count int64
	// ETag changes whenever the stored keys change.
	ETag string
	// Version is the server's ID for the backup version.
	Version string
}

type backupVersionJSON struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count,omitempty"`
	ETag      string          `json:"etag,omitempty"`
	Version   string          `json:"version,omitempty"`
}

// ParseBackupVersion decodes a backup version. A version of another
// algorithm gives an error wrapping ErrUnsupportedAlgorithm; other errors
// are those of ParseAuthData. It does not check signatures: use
// AuthData.CheckTrusted.
func ParseBackupVersion(data []byte) (*BackupVersion, error) {
	if len(data) > MaxAuthDataSize {
		return nil, fmt.Errorf("keybackup: backup version of %d bytes: %w", len(data), ErrTooLarge)
	}
	var w backupVersionJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("keybackup: backup version: %w: %v", ErrBadFormat, err)
	}
	if w.Algorithm != BackupAlgorithm {
		return nil, fmt.Errorf("keybackup: backup version: algorithm %q: %w", w.Algorithm, ErrUnsupportedAlgorithm)
	}
	a, err := ParseAuthData(w.AuthData)
	if err != nil {
		return nil, err
	}
	return &BackupVersion{Algorithm: w.Algorithm, AuthData: a, Count: w.Count, ETag: w.ETag, Version: w.Version}, nil
}

// MarshalJSON encodes v, leaving out empty Count, ETag and Version.
func (v *BackupVersion) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	if v.AuthData == nil {
		return nil, fmt.Errorf("keybackup: backup version without auth_data: %w", ErrBadFormat)
	}
	ad, err := v.AuthData.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return json.Marshal(backupVersionJSON{Algorithm: v.Algorithm, AuthData: ad, Count: v.Count, ETag: v.ETag, Version: v.Version})
}
