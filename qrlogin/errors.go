package qrlogin

import (
	"errors"

	"github.com/souverain/e2ee/internal/errs"
)

// Errors returned, wrapped, by this package. Callers branch on them with
// errors.Is. Sentinels that share a name with another package's are the
// same value (olm.ErrBadPublicKey == qrlogin.ErrBadPublicKey).
var (
	// ErrBadPublicKey: a public key has the wrong length or encoding, or
	// is a low-order point that would give a shared secret anyone can
	// compute.
	ErrBadPublicKey = errs.BadPublicKey
	// ErrBadMessageFormat: a channel message could not be decoded (bad
	// base64, too short, missing separator).
	ErrBadMessageFormat = errs.BadMessageFormat
	// ErrBadMessageMAC: a channel message failed authentication: it was
	// tampered with, replayed, reordered, encrypted under another key or
	// with other associated data.
	ErrBadMessageMAC = errs.BadMessageMAC
	// ErrMessageTooLarge: an encoded message or QR code is longer than
	// MaxMessageSize or MaxQRCodeDataSize.
	ErrMessageTooLarge = errs.MessageTooLarge
	// ErrClosed: a channel was used after Close, or an unestablished
	// ECIES or HPKE value was used again after it established a channel.
	ErrClosed = errs.Closed
	// ErrNil: a nil value was given where a constructed one is needed.
	ErrNil = errs.Nil
	// ErrCheckCodeMismatch: the check code the user entered is not the
	// one this channel derived; someone may be in the middle.
	ErrCheckCodeMismatch = errors.New("check code mismatch")
	// ErrBadQRCode: QR code data could not be decoded or built: wrong
	// prefix, unknown version or intent, truncated or trailing bytes, a
	// field that is not valid UTF-8 or not a valid URL.
	ErrBadQRCode = errors.New("bad QR code data")
	// ErrTooManyMessages: a channel direction has used all 2^64 nonces.
	ErrTooManyMessages = errors.New("too many messages on this channel")
)
