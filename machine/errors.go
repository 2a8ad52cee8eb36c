package machine

import (
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/pickle"
)

// Errors returned by the Machine, always wrapped with context; test for them
// with errors.Is. Decryption failures of single events are also reported
// with these values in the Err field of results.
var (
	// ErrBadPickleKey means the store's records do not open under the
	// pickle key given to New: the key is wrong or a record was changed.
	ErrBadPickleKey = pickle.ErrBadKey
	// ErrCorruptedStore means a record opened but does not hold what it
	// should, or its index fields disagree with its content.
	ErrCorruptedStore = errors.New("machine: corrupted store record")
	// ErrWrongAccount means the store holds the account of another user or
	// device than the one New was given.
	ErrWrongAccount = errors.New("machine: store belongs to another user or device")
	// ErrBadOptions means New was given incomplete or invalid Options.
	ErrBadOptions = errors.New("machine: bad options")
	// ErrUnknownRequest means MarkRequestSent was given an ID the machine
	// did not hand out, or one already marked.
	ErrUnknownRequest = errors.New("machine: unknown request ID")
	// ErrBadResponse means a response body given to MarkRequestSent is not
	// what the specification says the server returns.
	ErrBadResponse = errors.New("machine: malformed response")

	// ErrMalformedEvent means an event is not well-formed JSON of its type.
	ErrMalformedEvent = errors.New("machine: malformed event")
	// ErrUnknownAlgorithm means an encrypted event or m.room.encryption
	// names an algorithm the machine does not implement.
	ErrUnknownAlgorithm = errors.New("machine: unknown algorithm")
	// ErrNotForUs means an Olm message has no ciphertext for this device.
	ErrNotForUs = errors.New("machine: olm message not encrypted for this device")
	// ErrOlmDecrypt means no Olm session could decrypt a message. If it
	// was a normal message, the session may be wedged; the machine
	// schedules a new one (rate-limited).
	ErrOlmDecrypt = errors.New("machine: olm message did not decrypt")
	// ErrReplay means a message was already received: a pre-key message
	// used before, or another event at a Megolm message index already
	// used by a different event.
	ErrReplay = errors.New("machine: replayed message")
	// ErrUnencryptedKeyEvent means a to-device event that carries keys or
	// secrets arrived without Olm encryption.
	ErrUnencryptedKeyEvent = errors.New("machine: key-carrying event not olm-encrypted")
	// ErrUntrustedSender means an event was refused because its sender is
	// not allowed to send it (a forwarded key or secret from a device that
	// is not our own verified device, or unrequested).
	ErrUntrustedSender = errors.New("machine: event from an untrusted sender")
	// ErrUnknownDevice means the sender device of an event is not known.
	ErrUnknownDevice = errors.New("machine: unknown sender device")

	// ErrNoSession means no Megolm session is known for a room event: the
	// key may still arrive (the machine requests it).
	ErrNoSession = errors.New("machine: no room key for this event")
	// ErrWithheld means the sender withheld the room key; the error is a
	// *WithheldError carrying the code.
	ErrWithheld = errors.New("machine: room key withheld")
	// ErrUnknownIndex means the session known starts after the event's
	// message index.
	ErrUnknownIndex = errors.New("machine: unknown message index")
	// ErrWrongRoom means an event or session belongs to another room.
	ErrWrongRoom = errors.New("machine: event encrypted for another room")
	// ErrSenderMismatch means the room event's sender is not the user the
	// session came from.
	ErrSenderMismatch = errors.New("machine: event sender does not own the session")
	// ErrMegolmDecrypt means a Megolm message failed authentication or
	// decoding.
	ErrMegolmDecrypt = errors.New("machine: megolm message did not decrypt")

	// ErrRoomNotEncrypted means a room has no m.room.encryption recorded:
	// the machine never sends in plaintext.
	ErrRoomNotEncrypted = errors.New("machine: room is not encrypted")
	// ErrShareRequired means the room's key must be shared (again) before
	// encrypting: none yet, rotation due, devices changed, or requests of
	// the last share not yet marked as sent. Call ShareRoomKey.
	ErrShareRequired = errors.New("machine: room key must be shared first")
	// ErrDeviceKeysChanged means the server returned other keys for a
	// device ID we know: the new keys are refused.
	ErrDeviceKeysChanged = errors.New("machine: keys of a known device changed")
	// ErrIdentityChanged is wrapped by the Notice of a user whose
	// cross-signing master key changed; IdentityChanged reports the change
	// until AcceptIdentity.
	ErrIdentityChanged = errors.New("machine: cross-signing identity changed")
	// ErrBootstrapPending means a cross-signing bootstrap waits for
	// ConfirmCrossSigningUpload or CancelCrossSigningBootstrap.
	ErrBootstrapPending = errors.New("machine: a cross-signing bootstrap is pending")
)

// WithheldError is the error for an event whose key the sender withheld. It
// wraps ErrWithheld.
type WithheldError struct {
	// Code is the m.room_key.withheld code, such as "m.unverified".
	Code   string
	Reason string
}

// Error returns the error text with the code.
func (e *WithheldError) Error() string {
	return fmt.Sprintf("%v: %s", ErrWithheld, e.Code)
}

// Unwrap returns ErrWithheld.
func (e *WithheldError) Unwrap() error { return ErrWithheld }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// storeError marks errors that come from the Store, which abort the
// transaction, unlike refusals of single events.
type storeError struct{ err error }

func (e *storeError) Error() string { return "machine: store: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var se *storeError
	if errors.As(err, &se) {
		return err
	}
	return &storeError{err}
}
