package mautrix

import (
	"errors"
	"fmt"

	"maunium.net/go/mautrix/crypto/olm"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/megolm"
	solm "github.com/souverain/e2ee/olm"
)

// ErrBlank is returned by the methods of a blank object (from
// olm.NewBlankAccount and its siblings) that need keys, until Unpickle has
// filled it. It wraps olm.ErrBadInput.
var ErrBlank = fmt.Errorf("souverain: object is blank, unpickle it first: %w", olm.ErrBadInput)

// errorMap turns the sentinels of souverain's packages into those of
// maunium.net/go/mautrix/crypto/olm that libolm's driver returns for the
// same condition (libolm/error.go maps libolm's error codes to them). The
// first match wins, so more specific conditions come first.
var errorMap = []struct{ ours, theirs error }{
	// Pickles. libolm reports a wrong key as BAD_ACCOUNT_KEY for every kind
	// of object.
	{pickle.ErrBadKey, olm.ErrLibolmBadAccountKey},
	{pickle.ErrVersion, olm.ErrUnknownOlmPickleVersion},
	{pickle.ErrCorrupted, olm.ErrLibolmCorruptedPickle},

	// Olm.
	{solm.ErrBadMessageMAC, olm.ErrBadMAC},
	{solm.ErrBadMessageVersion, olm.ErrWrongProtocolVersion},
	{solm.ErrSessionConfig, olm.ErrWrongProtocolVersion},
	{solm.ErrMessageTooLarge, olm.ErrBadMessageFormat},
	{solm.ErrBadMessageFormat, olm.ErrBadMessageFormat},
	// libolm answers a message it cannot place in the ratchet (too far
	// ahead, key already used or dropped, chain it cannot start) with
	// BAD_MESSAGE_MAC, having found no key that authenticates it.
	{solm.ErrMessageGap, olm.ErrBadMAC},
	{solm.ErrMessageKeyNotFound, olm.ErrBadMAC},
	{solm.ErrUnknownChain, olm.ErrBadMAC},
	{solm.ErrUnknownOneTimeKey, olm.ErrBadMessageKeyID},
	// A pre-key message that opened a session already, met again before
	// RemoveOneTimeKeys (or on a fallback key): libolm would open a second
	// session from it, and refuses it with BAD_MESSAGE_KEY_ID only once
	// the one-time key is removed. The replay gets that error throughout.
	{solm.ErrPreKeyReplay, olm.ErrBadMessageKeyID},
	{solm.ErrSessionMismatch, olm.ErrBadMessageKeyID},
	{solm.ErrBadPublicKey, olm.ErrBadInput},
	{solm.ErrBadSignature, olm.ErrBadSignature},

	// Megolm.
	{megolm.ErrUnknownMessageIndex, olm.ErrUnknownMessageIndex},
	{megolm.ErrBadSignature, olm.ErrBadSignature},
	{megolm.ErrBadMessageMAC, olm.ErrBadMAC},
	{megolm.ErrBadMessageVersion, olm.ErrWrongProtocolVersion},
	{megolm.ErrSessionConfig, olm.ErrWrongProtocolVersion},
	{megolm.ErrMessageTooLarge, olm.ErrBadMessageFormat},
	{megolm.ErrBadMessageFormat, olm.ErrBadMessageFormat},
	{megolm.ErrBadSessionKey, olm.ErrLibolmBadSessionKey},
	{megolm.ErrIndexExhausted, olm.ErrMsgIndexTooHigh},

	{b64.ErrInvalid, olm.ErrLibolmInvalidBase64},
}

// mapError returns err wrapped so that errors.Is finds both the olm error
// mautrix-go's callers test for and souverain's own sentinel. An error with
// no counterpart is returned wrapped with op only.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, m := range errorMap {
		if errors.Is(err, m.ours) {
			return fmt.Errorf("souverain: %s: %w: %w", op, m.theirs, err)
		}
	}
	return fmt.Errorf("souverain: %s: %w", op, err)
}

// errorf returns an error wrapping one of mautrix-go's olm sentinels.
func errorf(op string, sentinel error) error {
	return fmt.Errorf("souverain: %s: %w", op, sentinel)
}

// decodeBase64 decodes the unpadded (or padded) base64 that mautrix-go
// passes for messages, keys and session keys.
func decodeBase64(op string, text []byte) ([]byte, error) {
	if len(text) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	b, err := b64.Decode(string(text))
	if err != nil {
		return nil, mapError(op, err)
	}
	return b, nil
}
