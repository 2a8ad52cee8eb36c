package sas

import (
	"errors"

	"github.com/souverain/e2ee/internal/errs"
)

// Errors returned by this package, always wrapped with context; test for
// them with errors.Is.
var (
	// ErrBadPublicKey means an ephemeral public key has the wrong length
	// or encoding, or gives an all-zero shared secret (a low-order point),
	// which would make the short authentication string public.
	ErrBadPublicKey = errs.BadPublicKey
	// ErrKeyUsed means SAS.Establish was called a second time: the
	// ephemeral private key is discarded by the first call.
	ErrKeyUsed = errors.New("ephemeral key already used")
	// ErrInvalidCount means Bytes was asked for fewer than 1 or more than
	// MaxBytes bytes.
	ErrInvalidCount = errors.New("invalid number of bytes")
	// ErrUnknownMACMethod means a MAC method other than
	// hkdf-hmac-sha256.v2 and hkdf-hmac-sha256 was asked for.
	ErrUnknownMACMethod = errors.New("unknown MAC method")
	// ErrMACMismatch means a MAC did not verify.
	ErrMACMismatch = errors.New("MAC mismatch")
	// ErrInvalidEvent means a verification event is malformed: not JSON,
	// a required field is missing or has the wrong type, or a value is
	// not in its encoding. The flow answers it with m.invalid_message.
	ErrInvalidEvent = errors.New("invalid verification event")
	// ErrEventTooLarge means an event content is longer than
	// MaxEventSize.
	ErrEventTooLarge = errors.New("verification event too large")
	// ErrBadQRCode means a QR code payload is not a valid MATRIX
	// verification payload.
	ErrBadQRCode = errors.New("bad QR code")

	// ErrUnknownTransaction means an event names a transaction (or
	// request event) this device has no verification for; the flow
	// answers it with m.unknown_transaction where the spec asks.
	ErrUnknownTransaction = errors.New("unknown verification transaction")
	// ErrUnexpectedMessage means an event arrived out of order, twice, or
	// in a state that does not expect it (m.unexpected_message).
	ErrUnexpectedMessage = errors.New("unexpected verification message")
	// ErrUnknownMethod means the two devices share no verification, key
	// agreement, hash, MAC or short authentication string method
	// (m.unknown_method).
	ErrUnknownMethod = errors.New("no common verification method")
	// ErrCommitmentMismatch means the accepting device's key does not
	// match the commitment it sent (m.mismatched_commitment).
	ErrCommitmentMismatch = errors.New("commitment mismatch")
	// ErrSASMismatch means the user said the short authentication strings
	// differ (m.mismatched_sas).
	ErrSASMismatch = errors.New("short authentication strings differ")
	// ErrKeyMismatch means a MAC or QR code did not match the keys pinned
	// for the other side, or named no key that can be verified
	// (m.key_mismatch).
	ErrKeyMismatch = errors.New("key mismatch")
	// ErrKeyIDCollision means a key ID could name both a device and a
	// cross-signing key of the same user, which is how the 2022 Matrix
	// key/device confusion attack (CVE-2022-39250) tricks a client into
	// signing the wrong key. Such a verification is refused
	// (m.key_mismatch).
	ErrKeyIDCollision = errors.New("device ID collides with a cross-signing key")
	// ErrUserMismatch means an event came from a user other than the one
	// being verified (m.user_mismatch).
	ErrUserMismatch = errors.New("user mismatch")
	// ErrTimeout means the verification or request expired (m.timeout).
	ErrTimeout = errors.New("verification timed out")
	// ErrCancelled means the verification was already cancelled, by the
	// other side or by this device, when an event or call came for it;
	// Verification.Cancellation tells by whom and with which code.
	ErrCancelled = errors.New("verification cancelled")
	// ErrUnknownDevice means the key store has no Ed25519 key for the
	// other device, so there is nothing to verify it against.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrState means a Verification method was called in a state that
	// does not allow it, such as Confirm before the keys are exchanged.
	ErrState = errors.New("not allowed in this verification state")
	// ErrTooManyRequests means a received request was refused because
	// too many are pending: MaxPendingRequestsPerUser from its sender, or
	// MaxPendingRequests in all. It is not answered, so that a flood costs
	// nothing to send back.
	ErrTooManyRequests = errors.New("too many pending verification requests")
	// ErrNil means a nil or zero value was used where a constructed one is
	// needed: a Machine or Verification not made by this package, a nil
	// QRCode. It is shared with the other packages of the module.
	ErrNil = errs.Nil
	// ErrClosed means a SAS or EstablishedSAS was used after Close wiped
	// it. It is shared with the other packages of the module.
	ErrClosed = errs.Closed
)
