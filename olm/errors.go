package olm

import (
	"errors"
	"strings"

	"github.com/souverain/e2ee/internal/errs"
	"github.com/souverain/e2ee/internal/pickle"
)

// Errors returned by this package, always wrapped with context; test for
// them with errors.Is.
var (
	// ErrBadMessageMAC means a message failed authentication: it was
	// changed, forged, or is not for this session.
	ErrBadMessageMAC = errs.BadMessageMAC
	// ErrBadMessageFormat means a message could not be decoded.
	ErrBadMessageFormat = errs.BadMessageFormat
	// ErrBadMessageVersion means a message carries a version byte this
	// session does not speak (3 for version 1 sessions, 4 for version 2).
	ErrBadMessageVersion = errs.BadMessageVersion
	// ErrMessageTooLarge means an input is longer than MaxMessageSize.
	ErrMessageTooLarge = errs.MessageTooLarge
	// ErrMessageGap means a message index is more than MaxMessageGap
	// ahead of its chain.
	ErrMessageGap = errors.New("message index too far ahead")
	// ErrMessageKeyNotFound means a message belongs to a chain that has
	// moved past its index and whose key is not kept (never skipped,
	// already used, or dropped beyond MaxSkippedMessageKeys).
	ErrMessageKeyNotFound = errors.New("message key not found")
	// ErrUnknownChain means a message starts a new ratchet chain that this
	// session cannot accept yet: the sender moved on without a reply.
	ErrUnknownChain = errors.New("unknown ratchet chain")
	// ErrUnknownOneTimeKey means a pre-key message names a one-time or
	// fallback key that the account does not hold.
	ErrUnknownOneTimeKey = errors.New("unknown one-time key")
	// ErrPreKeyReplay means a pre-key message has already opened a session
	// on this account: it is a replay, and its plaintext was delivered
	// then.
	ErrPreKeyReplay = errors.New("pre-key message already used")
	// ErrSessionMismatch means a pre-key message was not made for this
	// session, or does not come from the expected identity key.
	ErrSessionMismatch = errors.New("pre-key message does not match the session")
	// ErrBadPublicKey means a public key has the wrong length or encoding,
	// or gives an all-zero Diffie-Hellman result (a low-order point).
	ErrBadPublicKey = errs.BadPublicKey
	// ErrBadSignature means an Ed25519 signature did not verify.
	ErrBadSignature = errs.BadSignature
	// ErrBadPickleKey means a pickle did not authenticate under the key:
	// the key is wrong or the pickle was changed.
	ErrBadPickleKey = pickle.ErrBadKey
	// ErrCorruptedPickle means a pickle is malformed.
	ErrCorruptedPickle = pickle.ErrCorrupted
	// ErrUnknownPickleVersion means a pickle has a version this library
	// cannot read.
	ErrUnknownPickleVersion = pickle.ErrVersion
	// ErrPickleKeySize means a key for the souverain pickle format is not
	// 32 bytes long.
	ErrPickleKeySize = pickle.ErrKeySize
	// ErrKeyCount means a number of one-time keys to generate is out of
	// the range 0 to MaxOneTimeKeys.
	ErrKeyCount = errors.New("one-time key count out of range")
	// ErrBadKeyID means a one-time key ID is not the base64 of a 4-byte
	// number.
	ErrBadKeyID = errors.New("bad key ID")
	// ErrClosed means a method was called after Close wiped the account's
	// or session's secrets.
	ErrClosed = errs.Closed
	// ErrNil means a nil or zero value (a zero Account or Session, a nil
	// argument, an empty user or device ID) was given where a constructed
	// one is needed.
	ErrNil = errs.Nil
	// ErrSessionConfig means a pre-key message was made with a session
	// configuration other than the one expected.
	ErrSessionConfig = errs.SessionConfig
)

// opError adds an operation to an error of this package without saying
// "olm:" twice: "olm: inbound session: decrypt: bad message MAC".
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "olm: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "olm: ")
}

func (e *opError) Unwrap() error { return e.err }

// wrapOp returns err in the context of op.
func wrapOp(op string, err error) error { return &opError{op: op, err: err} }
