package dehydrated

import (
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// Algorithms of device_data.
const (
	// AlgorithmV2 is vodozemac's dehydrated-device pickle under
	// ChaCha20-Poly1305, with the nonce beside it; what Element's crypto
	// stack writes.
	AlgorithmV2 = "org.matrix.msc3814.v2"
	// AlgorithmV1 is the older format: a libolm account pickle under the
	// key expanded by HKDF-SHA-256 with the device ID as salt and
	// "dehydrated-device-pickle-key" as info. Element's crypto stack still
	// reads it.
	AlgorithmV1 = "org.matrix.msc3814.v1.olm"
)

// Path is the endpoint the UploadRequest body is PUT to and the device is
// fetched from (GET); the to-device events it collected are fetched from
// Path + "/" + deviceID + "/events" (POST, with {"next_batch": …}).
const Path = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// DefaultDisplayName is the display name matrix-rust-sdk gives a
// dehydrated device.
const DefaultDisplayName = "Dehydrated device"

// legacyKeyInfo is the HKDF info of AlgorithmV1's key expansion.
const legacyKeyInfo = "dehydrated-device-pickle-key"

// DeviceData is the device_data object of a dehydrated device. For
// AlgorithmV2, DevicePickle and Nonce are unpadded base64; for AlgorithmV1
// there is no nonce.
type DeviceData struct {
	Algorithm    string `json:"algorithm"`
	DevicePickle string `json:"device_pickle"`
	Nonce        string `json:"nonce,omitempty"`
}

// Device is a new dehydrated device, before upload: a fresh Olm account
// with its one-time and fallback keys, owned by a user. It is secret.
type Device struct {
	account  *olm.Account
	userID   string
	deviceID string
}

// NewDevice creates a dehydrated device for userID from a fresh account
// (randomness from crypto/rand), with olm.MaxNumberOfOneTimeKeys one-time
// keys and a fallback key. Its device ID is the unpadded base64 of its
// Curve25519 identity key, as matrix-rust-sdk names dehydrated devices.
func NewDevice(userID string) (*Device, error) {
	if userID == "" {
		return nil, fmt.Errorf("dehydrated: new device: empty user ID: %w", ErrBadDeviceData)
	}
	a, err := olm.NewAccount()
	if err != nil {
		return nil, fmt.Errorf("dehydrated: new device: %w", err)
	}
	if err := a.GenerateOneTimeKeys(olm.MaxNumberOfOneTimeKeys); err != nil {
		return nil, fmt.Errorf("dehydrated: new device: %w", err)
	}
	if err := a.GenerateFallbackKey(); err != nil {
		return nil, fmt.Errorf("dehydrated: new device: %w", err)
	}
	return &Device{account: a, userID: userID, deviceID: a.Curve25519Key().String()}, nil
}

// DeviceID returns the device's ID.
func (d *Device) DeviceID() string { return d.deviceID }

// UserID returns the ID of the user who owns the device.
func (d *Device) UserID() string { return d.userID }

// Account returns the device's Olm account.
func (d *Device) Account() *olm.Account { return d.account }

// UploadRequest is the body of PUT Path: the device's ID and display name,
// its encrypted account (device_data), its signed device keys (marked
// "dehydrated": true), its one-time keys and its fallback key, in the
// layout of /keys/upload.
type UploadRequest struct {
	DeviceID                 string                     `json:"device_id"`
	InitialDeviceDisplayName string                     `json:"initial_device_display_name,omitempty"`
	DeviceData               DeviceData                 `json:"device_data"`
	DeviceKeys               json.RawMessage            `json:"device_keys"`
	OneTimeKeys              map[string]json.RawMessage `json:"one_time_keys,omitempty"`
	FallbackKeys             map[string]json.RawMessage `json:"fallback_keys,omitempty"`
}

// UploadRequest returns the upload body with device_data in AlgorithmV2,
// encrypted under key. Other clients of the user, Element's among them,
// share room keys with a dehydrated device only if it is cross-signed: add
// the self-signing key's signature to the device keys with
// UploadRequest.SignDeviceKeys before sending. Errors wrap
// ErrNotDehydratable.
func (d *Device) UploadRequest(key *Key, displayName string) (*UploadRequest, error) {
	return d.UploadRequestWithAlgorithm(key, displayName, AlgorithmV2)
}

// UploadRequestWithAlgorithm is UploadRequest with device_data in the
// given format, AlgorithmV2 or AlgorithmV1. Errors wrap ErrUnknownAlgorithm
// or ErrNotDehydratable.
func (d *Device) UploadRequestWithAlgorithm(key *Key, displayName, algorithm string) (*UploadRequest, error) {
	if key == nil {
		return nil, fmt.Errorf("dehydrated: upload request: nil key: %w", ErrKeySize)
	}
	data, err := encryptAccount(d.account, key, d.deviceID, algorithm)
	if err != nil {
		return nil, err
	}
	deviceKeys, err := d.deviceKeys()
	if err != nil {
		return nil, err
	}
	otks, err := d.account.SignedOneTimeKeys(d.userID, d.deviceID)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: upload request: %w", err)
	}
	fallback, err := d.account.SignedFallbackKeys(d.userID, d.deviceID)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: upload request: %w", err)
	}
	return &UploadRequest{
		DeviceID:                 d.deviceID,
		InitialDeviceDisplayName: displayName,
		DeviceData:               *data,
		DeviceKeys:               deviceKeys,
		OneTimeKeys:              otks,
		FallbackKeys:             fallback,
	}, nil
}

// encryptAccount writes device_data for account in the given algorithm.
func encryptAccount(account *olm.Account, key *Key, deviceID, algorithm string) (*DeviceData, error) {
	switch algorithm {
	case AlgorithmV2:
		ct, nonce, err := account.Dehydrate(&key.b)
		if err != nil {
			return nil, fmt.Errorf("dehydrated: %w", err)
		}
		return &DeviceData{Algorithm: AlgorithmV2, DevicePickle: ct, Nonce: nonce}, nil
	case AlgorithmV1:
		legacy, err := legacyKey(key, deviceID)
		if err != nil {
			return nil, err
		}
		defer clear(legacy)
		p, err := account.PickleLibolm(legacy)
		if err != nil {
			return nil, fmt.Errorf("dehydrated: %w", err)
		}
		return &DeviceData{Algorithm: AlgorithmV1, DevicePickle: p}, nil
	default:
		return nil, fmt.Errorf("dehydrated: algorithm %q: %w", algorithm, ErrUnknownAlgorithm)
	}
}

// legacyKey expands key for AlgorithmV1: HKDF-SHA-256 with the device ID
// as salt, so that two devices pickled under one key get different AES keys
// and IVs (libolm's pickle cipher derives the IV from the key).
func legacyKey(key *Key, deviceID string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, key.b[:], []byte(deviceID), legacyKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: expand key: %w", err)
	}
	return k, nil
}

// deviceKeys returns the device's signed device_keys, with "dehydrated":
// true as MSC3814 marks them.
func (d *Device) deviceKeys() (json.RawMessage, error) {
	obj := map[string]any{
		"algorithms": []any{olm.AlgorithmOlm, olm.AlgorithmMegolm},
		"dehydrated": true,
		"device_id":  d.deviceID,
		"keys": map[string]any{
			"curve25519:" + d.deviceID: d.account.Curve25519Key().String(),
			"ed25519:" + d.deviceID:    d.account.Ed25519Key().String(),
		},
		"user_id": d.userID,
	}
	canonical, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: device keys: %w", err)
	}
	sig := d.account.Sign(canonical)
	obj["signatures"] = map[string]any{d.userID: map[string]any{"ed25519:" + d.deviceID: sig.String()}}
	out, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: device keys: %w", err)
	}
	return out, nil
}

// SignDeviceKeys adds a signature by key to the device keys, under the
// request's owner and keyID ("ed25519:<public key>" for a self-signing
// key). The self-signing key's signature is what lets other clients trust
// the device and share room keys with it.
func (r *UploadRequest) SignDeviceKeys(userID, keyID string, key crypto.Signer) error {
	signed, err := signedjson.Sign(r.DeviceKeys, userID, keyID, key)
	if err != nil {
		return fmt.Errorf("dehydrated: sign device keys: %w", err)
	}
	r.DeviceKeys = signed
	return nil
}

// Format prints the device's user and device IDs and its public identity
// keys, never its secrets, whatever the verb.
func (d Device) Format(f fmt.State, verb rune) {
	if d.account == nil {
		fmt.Fprint(f, "dehydrated.Device{}")
		return
	}
	fmt.Fprintf(f, "dehydrated.Device{%s %s, Curve25519: %s, Ed25519: %s}", d.userID, d.deviceID, d.account.Curve25519Key(), d.account.Ed25519Key())
}

// LogValue describes the device for log/slog as Format does.
func (d Device) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(d)) }
