package megolm

import (
	"errors"
	"github.com/souverain/e2ee/internal/errs"

	"github.com/souverain/e2ee/internal/pickle"
)

// Errors returned by this package, always wrapped with context; test for
// them with errors.Is.
var (
	// ErrBadSignature means the Ed25519 signature of a message or session
	// key did not verify under the session's signing key.
	ErrBadSignature = errs.BadSignature
	// ErrBadMessageMAC means a message's MAC did not verify.
	ErrBadMessageMAC = errs.BadMessageMAC
	// ErrBadMessageFormat means a message could not be decoded.
	ErrBadMessageFormat = errs.BadMessageFormat
	// ErrBadMessageVersion means a message has a version byte the session
	// does not speak (3 for version 1 sessions, 4 for version 2).
	ErrBadMessageVersion = errs.BadMessageVersion
	// ErrMessageTooLarge means a message is longer than MaxMessageSize.
	ErrMessageTooLarge = errs.MessageTooLarge
	// ErrUnknownMessageIndex means a message or export index lies before
	// the session's first known index.
	ErrUnknownMessageIndex = errors.New("unknown message index")
	// ErrBadSessionKey means a session key or exported session key is
	// malformed: wrong length, version or encoding.
	ErrBadSessionKey = errors.New("bad session key")
	// ErrClosed means a session or key was used after Close wiped it.
	ErrClosed = errs.Closed
	// ErrNil means a nil or zero value was given where one made by this
	// package is needed: a zero GroupSession, InboundGroupSession,
	// SessionKey or ExportedSessionKey, or a nil pointer to one.
	ErrNil = errs.Nil
	// ErrBadProvenance means a session was to be created with a provenance
	// its input cannot prove (ProvenanceDirect from an exported key) or with
	// a value that names no provenance.
	ErrBadProvenance = errors.New("provenance not proven by the input")
	// ErrIndexExhausted means an outbound session has used every message
	// index; a new session must be created.
	ErrIndexExhausted = errors.New("message indices exhausted")
	// ErrSessionConfig means a session of the other protocol version was
	// given, or a version 2 session was to be written in libolm's format.
	ErrSessionConfig = errs.SessionConfig
	// ErrBadPickleKey means a pickle did not authenticate under the key.
	ErrBadPickleKey = pickle.ErrBadKey
	// ErrCorruptedPickle means a pickle is malformed.
	ErrCorruptedPickle = pickle.ErrCorrupted
	// ErrUnknownPickleVersion means a pickle has a version this library
	// cannot read.
	ErrUnknownPickleVersion = pickle.ErrVersion
	// ErrPickleKeySize means a key for the souverain pickle format is not
	// 32 bytes long.
	ErrPickleKeySize = pickle.ErrKeySize
)
