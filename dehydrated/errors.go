package dehydrated

import (
	"errors"

	"github.com/souverain/e2ee/olm"
)

// Errors returned by this package, wrapped with context; test for them with
// errors.Is.
var (
	// ErrKeySize means a dehydration key, or the secret it is read from,
	// is not 32 bytes.
	ErrKeySize = errors.New("dehydrated device key must be 32 bytes")
	// ErrUnknownAlgorithm means device_data names an algorithm this
	// package does not read.
	ErrUnknownAlgorithm = errors.New("unknown dehydrated device algorithm")
	// ErrBadDeviceData means device_data or the device ID is malformed.
	ErrBadDeviceData = errors.New("malformed dehydrated device data")
	// ErrWrongKey means the device did not decrypt under the key: the key
	// is wrong, or the data was changed. It is olm.ErrBadPickleKey.
	ErrWrongKey = olm.ErrBadPickleKey
	// ErrNotDehydratable is olm.ErrNotDehydratable: the account has no
	// Ed25519 seed (it came from libolm) and cannot be dehydrated.
	ErrNotDehydratable = olm.ErrNotDehydratable
	// ErrBadEvent means a to-device event is not an Olm-encrypted event
	// this package can read, or carries a malformed room key.
	ErrBadEvent = errors.New("malformed to-device event")
	// ErrNotForDevice means an Olm event has no ciphertext for this
	// device's identity key.
	ErrNotForDevice = errors.New("to-device event not encrypted for this device")
	// ErrNoSession means a normal (not pre-key) Olm message arrived for
	// which no session decrypts it.
	ErrNoSession = errors.New("no Olm session decrypts the message")
	// ErrSessionIDMismatch means a room key's session_id is not the ID of
	// its session_key.
	ErrSessionIDMismatch = errors.New("room key session_id does not match its key")
)
