package crossign

import (
	"errors"

	"github.com/souverain/e2ee/internal/errs"
	"github.com/souverain/e2ee/signedjson"
)

// Errors returned by this package, always wrapped with context; test for
// them with errors.Is. Each names one reason why a key, a device or a user
// is not trusted, so that a caller can act on it.
var (
	// ErrMalformed means an object or a /keys/query response is not what
	// the specification describes: bad JSON, a missing or mistyped member,
	// a duplicate member name, a number canonical JSON forbids, an input
	// that is too large. It is signedjson.ErrMalformed.
	ErrMalformed = signedjson.ErrMalformed
	// ErrDuplicateKey means a JSON object has the same member name twice.
	// Errors wrapping it also wrap ErrMalformed.
	ErrDuplicateKey = signedjson.ErrDuplicateKey
	// ErrNumber means a number is a fraction or outside [-(2^53)+1,
	// 2^53-1]. Errors wrapping it also wrap ErrMalformed.
	ErrNumber = signedjson.ErrNumber
	// ErrInvalidKey means a public key is not canonical unpadded base64 of
	// 32 bytes or not a usable Ed25519 point, or a private key is not a
	// 32-byte seed. It is signedjson.ErrInvalidKey.
	ErrInvalidKey = signedjson.ErrInvalidKey
	// ErrMissingSignature means a signature that the chain of trust needs
	// is absent: a self-signing or user-signing key without its master
	// key's signature, a device without its self-signing key's signature
	// or without its own. It is signedjson.ErrMissingSignature.
	ErrMissingSignature = signedjson.ErrMissingSignature
	// ErrBadSignature means a signature is present but does not verify, is
	// not canonical unpadded base64, or is malleable. It is
	// signedjson.ErrBadSignature.
	ErrBadSignature = signedjson.ErrBadSignature
	// ErrWrongSigner means the signature a key or device needs is missing
	// but it carries one by another known key instead: a sibling key of
	// the same user (say the user-signing key where the self-signing key
	// must sign), a key of another user, or the right key filed under
	// another user's ID.
	ErrWrongSigner = errors.New("signed by the wrong key")
	// ErrWrongUsage means a cross-signing key's "usage" is not exactly the
	// role it is published or used for.
	ErrWrongUsage = errors.New("wrong key usage")
	// ErrWrongUserID means an object's "user_id" is not the user it is
	// published for, or a key is used for a user it does not belong to.
	ErrWrongUserID = errors.New("wrong user ID")
	// ErrWrongDeviceID means a device keys object's "device_id" is not the
	// device ID it is published under.
	ErrWrongDeviceID = errors.New("wrong device ID")
	// ErrKeyIDMismatch means a key ID does not match its key: a
	// cross-signing key filed under "ed25519:<X>" whose value is not X, or
	// a device key filed under another device's ID.
	ErrKeyIDMismatch = errors.New("key ID does not match the key")
	// ErrKeyConfusion means a device ID is a base64 spelling (any alphabet
	// or padding) of the public key of one of its user's cross-signing
	// keys. Device IDs and
	// cross-signing key IDs share one namespace, so such a device is
	// refused (specification, "Key and signature security";
	// CVE-2022-39250).
	ErrKeyConfusion = errors.New("device ID equals a cross-signing key")
	// ErrIdentityChanged means a user's master key is not the one last
	// seen (pinned) and the new one has not been verified: the identity
	// was reset, or someone is impersonating the user. Warn before
	// talking further.
	ErrIdentityChanged = errors.New("master key changed since last seen")
	// ErrMissingKey means the response holds no such key: the user has no
	// master or self-signing key, or the device is not listed.
	ErrMissingKey = errors.New("missing key")
	// ErrNotVerified means a master key is well formed but we have not
	// verified it: for our own, we hold neither its private key nor a
	// signature by one of our verified devices; for another user's, our
	// user-signing key has not signed it and it was not verified now.
	ErrNotVerified = errors.New("not verified")
	// ErrOwnIdentityNotVerified means another user cannot count as
	// verified because our own identity (our master key and the
	// user-signing key it signed) is not verified.
	ErrOwnIdentityNotVerified = errors.New("our own identity is not verified")
	// ErrNil means a nil or zero value was passed where a constructed one
	// is needed: a nil Device, Key, QueryResponse or account, a zero
	// PrivateKey. It is signedjson.ErrNil.
	ErrNil = signedjson.ErrNil
	// ErrClosed means a private key was used after Close wiped it. It is
	// shared with the other packages of the module.
	ErrClosed = errs.Closed
)
