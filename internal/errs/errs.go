// Package errs holds the sentinel errors that several public packages share,
// so that errors.Is works across them: olm.ErrBadSignature,
// megolm.ErrBadSignature and signedjson.ErrBadSignature are one value.
//
// Each public package re-exports the ones it returns under its own name, with
// its own doc comment; callers never import this package.
package errs

import "errors"

var (
	// BadSignature: an Ed25519 signature did not verify.
	BadSignature = errors.New("bad signature")
	// BadPublicKey: a public key has the wrong length or encoding, or is a
	// low-order point.
	BadPublicKey = errors.New("bad public key")
	// BadMessageMAC: a message failed authentication.
	BadMessageMAC = errors.New("bad message MAC")
	// BadMessageFormat: a message could not be decoded.
	BadMessageFormat = errors.New("bad message format")
	// BadMessageVersion: a message has a version byte the session does not speak.
	BadMessageVersion = errors.New("bad message version")
	// MessageTooLarge: an input is longer than the package's limit.
	MessageTooLarge = errors.New("message too large")
	// SessionConfig: a session or message of the other protocol version.
	SessionConfig = errors.New("session configuration mismatch")
	// Closed: a method was called after Close wiped the value's secrets.
	Closed = errors.New("used after Close")
	// Nil: a nil or zero value was given where a constructed one is needed.
	Nil = errors.New("nil or zero value")
)
