package crossign

import (
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// PublicKey returns the public object of the key of role u: the master key
// unsigned, the self-signing and user-signing keys signed by the master
// key, which must then be present. The error wraps ErrMissingKey,
// ErrWrongUsage or ErrWrongUserID.
func (ks *PrivateKeys) PublicKey(u Usage) (*Key, error) {
	if !u.valid() {
		return nil, fmt.Errorf("crossign: public key: %w: %q", ErrWrongUsage, u)
	}
	k, err := ks.key(u)
	if err != nil {
		return nil, fmt.Errorf("crossign: public key: %w", err)
	}
	raw, err := canonicaljson.Marshal(map[string]any{
		"user_id": ks.UserID,
		"usage":   []string{string(u)},
		"keys":    map[string]string{k.KeyID(): k.PublicKey().String()},
	})
	if err != nil {
		return nil, fmt.Errorf("crossign: public key: %w: %w", ErrMalformed, err)
	}
	obj, err := signedjson.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("crossign: public key: %w", err)
	}
	if u != UsageMaster {
		m, err := ks.key(UsageMaster)
		if err != nil {
			return nil, fmt.Errorf("crossign: %s key must be signed by the master key: %w", u, err)
		}
		if err := obj.Sign(ks.UserID, m.KeyID(), m); err != nil {
			return nil, fmt.Errorf("crossign: public key: %w", err)
		}
	}
	return keyFromObject(obj)
}

// DeviceSigningUpload is the body of POST
// /_matrix/client/v3/keys/device_signing/upload, which publishes
// cross-signing keys. Nil keys are left out. The server asks for
// user-interactive authentication; put the "auth" object it wants in Auth.
type DeviceSigningUpload struct {
	MasterKey      *Key
	SelfSigningKey *Key
	UserSigningKey *Key
	// Auth is the user-interactive authentication object, or nil.
	Auth json.RawMessage
}

// DeviceSigningUpload returns the upload of all the public keys whose
// private keys ks holds; the self-signing and user-signing keys need the
// master key to sign them.
func (ks *PrivateKeys) DeviceSigningUpload() (*DeviceSigningUpload, error) {
	if ks == nil {
		return nil, fmt.Errorf("crossign: device signing upload: %w: nil private keys", ErrNil)
	}
	var u DeviceSigningUpload
	for _, r := range []struct {
		usage Usage
		held  *PrivateKey
		dst   **Key
	}{
		{UsageMaster, ks.Master, &u.MasterKey},
		{UsageSelfSigning, ks.SelfSigning, &u.SelfSigningKey},
		{UsageUserSigning, ks.UserSigning, &u.UserSigningKey},
	} {
		if r.held == nil {
			continue
		}
		k, err := ks.PublicKey(r.usage)
		if err != nil {
			return nil, err
		}
		*r.dst = k
	}
	return &u, nil
}

// MarshalJSON returns the body as canonical JSON. The error wraps
// ErrMalformed if Auth is not a JSON object.
func (u *DeviceSigningUpload) MarshalJSON() ([]byte, error) {
	if u == nil {
		return []byte("null"), nil
	}
	body := map[string]any{}
	for _, r := range []struct {
		usage Usage
		key   *Key
	}{{UsageMaster, u.MasterKey}, {UsageSelfSigning, u.SelfSigningKey}, {UsageUserSigning, u.UserSigningKey}} {
		if r.key == nil {
			continue
		}
		if r.key.obj == nil {
			return nil, fmt.Errorf("crossign: device signing upload: %w: zero Key in %s", ErrNil, r.usage.member())
		}
		if r.key.Usage() != r.usage {
			return nil, fmt.Errorf("crossign: device signing upload: %w: %s key in %s", ErrWrongUsage, r.key.Usage(), r.usage.member())
		}
		body[r.usage.member()] = json.RawMessage(r.key.Bytes())
	}
	if u.Auth != nil {
		if len(u.Auth) == 0 || !json.Valid(u.Auth) {
			return nil, fmt.Errorf("crossign: device signing upload: %w: auth is not JSON", ErrMalformed)
		}
		body["auth"] = u.Auth
	}
	b, err := canonicaljson.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("crossign: device signing upload: %w: %w", ErrMalformed, err)
	}
	return b, nil
}

// SignedObject is one new signature, ready for /keys/signatures/upload: the
// signed object without "unsigned", carrying only the new signature, as the
// specification's example shows.
type SignedObject struct {
	// UserID is the owner of the signed object.
	UserID string
	// ID is the device ID for device keys, or the unpadded base64 public
	// key for a cross-signing key.
	ID string
	// Object is the object with the one new signature.
	Object *signedjson.Object
}

// freshCopy returns obj without "signatures" and "unsigned".
func freshCopy(obj *signedjson.Object) *signedjson.Object {
	c, err := signedjson.Parse(obj.SigningBytes())
	if err != nil {
		panic("crossign: internal error: " + err.Error())
	}
	return c
}

// SignDevice signs one of our own devices with our self-signing key, which
// is how we vouch that the device is ours after verifying it. The device
// must belong to ks.UserID. The error wraps ErrWrongUserID, ErrMissingKey,
// ErrWrongUsage, ErrNil (a nil or zero device or key set) or ErrClosed.
func (ks *PrivateKeys) SignDevice(d *Device) (*SignedObject, error) {
	k, err := ks.key(UsageSelfSigning)
	if err != nil {
		return nil, fmt.Errorf("crossign: sign device: %w", err)
	}
	if d == nil || d.obj == nil {
		return nil, fmt.Errorf("crossign: sign device: %w: nil or zero Device", ErrNil)
	}
	if d.UserID() != ks.UserID {
		return nil, fmt.Errorf("crossign: sign device: %w: device of %s, self-signing key of %s", ErrWrongUserID, d.UserID(), ks.UserID)
	}
	obj := freshCopy(d.Object())
	if err := obj.Sign(ks.UserID, k.KeyID(), k); err != nil {
		return nil, fmt.Errorf("crossign: sign device: %w", err)
	}
	return &SignedObject{UserID: d.UserID(), ID: d.DeviceID(), Object: obj}, nil
}

// SignUser signs another user's master key with our user-signing key, which
// is how we record that we verified that user. Verify the master key first,
// for example by SAS, and pass the Key that was verified. The error wraps
// ErrWrongUsage if their key is not a master key, ErrWrongUserID if it is
// our own, ErrMissingKey, ErrNil (a nil or zero key or key set) or
// ErrClosed.
func (ks *PrivateKeys) SignUser(theirMaster *Key) (*SignedObject, error) {
	k, err := ks.key(UsageUserSigning)
	if err != nil {
		return nil, fmt.Errorf("crossign: sign user: %w", err)
	}
	if theirMaster == nil || theirMaster.obj == nil {
		return nil, fmt.Errorf("crossign: sign user: %w: nil or zero Key", ErrNil)
	}
	if theirMaster.Usage() != UsageMaster {
		return nil, fmt.Errorf("crossign: sign user: %w: %s key", ErrWrongUsage, theirMaster.Usage())
	}
	if theirMaster.UserID() == ks.UserID {
		return nil, fmt.Errorf("crossign: sign user: %w: the user-signing key signs other users, not %s", ErrWrongUserID, ks.UserID)
	}
	obj := freshCopy(theirMaster.Object())
	if err := obj.Sign(ks.UserID, k.KeyID(), k); err != nil {
		return nil, fmt.Errorf("crossign: sign user: %w", err)
	}
	return &SignedObject{UserID: theirMaster.UserID(), ID: theirMaster.PublicKey().String(), Object: obj}, nil
}

// SignMasterKeyWithDevice signs our own master key with a device's Ed25519
// key, under the key ID "ed25519:<deviceID>". A verified device's signature
// is one of the two ways our master key becomes trusted (see Verifier); the
// specification allows it to migrate device verifications to
// cross-signing. userID must be the master key's owner. The error wraps
// ErrWrongUsage, ErrWrongUserID or ErrNil (a nil account or key).
func SignMasterKeyWithDevice(a *olm.Account, userID, deviceID string, master *Key) (*SignedObject, error) {
	if a == nil || master == nil || master.obj == nil {
		return nil, fmt.Errorf("crossign: sign master key with device: %w: nil account or key", ErrNil)
	}
	if master.Usage() != UsageMaster {
		return nil, fmt.Errorf("crossign: sign master key with device: %w: %s key", ErrWrongUsage, master.Usage())
	}
	if master.UserID() != userID {
		return nil, fmt.Errorf("crossign: sign master key with device: %w: master key of %s, device of %s", ErrWrongUserID, master.UserID(), userID)
	}
	if deviceID == "" {
		return nil, fmt.Errorf("crossign: sign master key with device: %w: empty device ID", ErrMalformed)
	}
	obj := freshCopy(master.Object())
	sig := a.Sign(obj.SigningBytes())
	if err := obj.AddSignature(userID, signedjson.KeyID(deviceID), sig[:]); err != nil {
		return nil, fmt.Errorf("crossign: sign master key with device: %w", err)
	}
	return &SignedObject{UserID: userID, ID: master.PublicKey().String(), Object: obj}, nil
}

// SignatureUpload is the body of POST /_matrix/client/v3/keys/signatures/upload:
// user ID → device ID or cross-signing public key → signed object. The zero
// value is an empty upload.
type SignatureUpload struct {
	objects map[string]map[string]*signedjson.Object
}

// Add adds s to the upload. Signatures for an object already in the upload
// are merged into it; the error wraps ErrMalformed if the two are not the
// same object.
func (u *SignatureUpload) Add(s *SignedObject) error {
	if s == nil || s.Object == nil || s.UserID == "" || s.ID == "" {
		return fmt.Errorf("crossign: signature upload: %w: incomplete signed object", ErrMalformed)
	}
	if u.objects == nil {
		u.objects = make(map[string]map[string]*signedjson.Object)
	}
	if u.objects[s.UserID] == nil {
		u.objects[s.UserID] = make(map[string]*signedjson.Object)
	}
	have, ok := u.objects[s.UserID][s.ID]
	if !ok {
		have = freshCopy(s.Object)
		u.objects[s.UserID][s.ID] = have
	}
	if err := have.AddSignatures(s.Object); err != nil {
		return fmt.Errorf("crossign: signature upload: %w: two different objects for %s %s", ErrMalformed, s.UserID, s.ID)
	}
	return nil
}

// MarshalJSON returns the body as canonical JSON.
func (u *SignatureUpload) MarshalJSON() ([]byte, error) {
	if u == nil {
		return []byte("{}"), nil
	}
	body := make(map[string]any, len(u.objects))
	for user, m := range u.objects {
		inner := make(map[string]any, len(m))
		for id, obj := range m {
			inner[id] = json.RawMessage(obj.Bytes())
		}
		body[user] = inner
	}
	b, err := canonicaljson.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("crossign: signature upload: %w: %w", ErrMalformed, err)
	}
	return b, nil
}
