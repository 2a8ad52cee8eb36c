package keybackup

import (
	"errors"
	"fmt"
	"github.com/souverain/e2ee/internal/errs"
)

// Errors returned by this package, always wrapped with context; test for
// them with errors.Is.
var (
	// ErrBadMAC means a decryption failed: the key is wrong or the data was
	// changed. Every failure to decrypt a backed-up session or a secret
	// (MAC, padding, or the JSON inside) gives this one error, so that
	// failures cannot be told apart by their error.
	ErrBadMAC = errors.New("decryption failed: wrong key or damaged data")
	// ErrWrongKey means a key does not match what it is checked against:
	// the check values of a secret storage key description, or the public
	// key of a backup.
	ErrWrongKey = errors.New("wrong key")
	// ErrWrongPassphrase means a passphrase gives a key that fails the
	// check of a key export file or a secret storage key description. A
	// changed or truncated export file gives this error too: the format
	// cannot tell the two apart. It wraps ErrWrongKey.
	ErrWrongPassphrase = fmt.Errorf("wrong passphrase: %w", ErrWrongKey)
	// ErrBadFormat means an input could not be decoded: JSON, base64,
	// lengths, or the framing of a key export file.
	ErrBadFormat = errors.New("bad format")
	// ErrUnsupportedAlgorithm means an input names an algorithm or format
	// version this package does not implement.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	// ErrBadPublicKey means a Curve25519 public key is malformed or of
	// small order (it would make the shared secret public).
	ErrBadPublicKey = errs.BadPublicKey
	// ErrUntrusted means a backup's auth_data carries no valid signature by
	// any of the keys trusted to sign it, and its public key does not match
	// a private key we hold.
	ErrUntrusted = errors.New("backup not trusted")
	// ErrIterations means a PBKDF2 iteration count is out of range: above
	// MaxPBKDF2Iterations or below 1 when read, below MinPBKDF2Iterations
	// when creating.
	ErrIterations = errors.New("PBKDF2 iteration count out of range")
	// ErrNoPassphrase means a secret storage key description has no
	// passphrase information, so the key cannot come from a passphrase.
	ErrNoPassphrase = errors.New("key has no passphrase")
	// ErrTooLarge means an input is longer than the limit for its kind.
	ErrTooLarge = errors.New("input too large")
	// ErrNil means a nil or zero value was passed where a constructed one
	// is needed (a nil SessionData, a zero BackupKey). It is shared with
	// the other packages of the module.
	ErrNil = errs.Nil
	// ErrClosed means a key was used after Close wiped it. It is shared
	// with the other packages of the module.
	ErrClosed = errs.Closed
)

// Errors for recovery keys, each wrapping ErrBadFormat. They tell the user
// what is wrong with what they typed.
var (
	// ErrRecoveryKeyLength means a recovery key has the wrong number of
	// characters, or decodes to the wrong number of bytes.
	ErrRecoveryKeyLength = fmt.Errorf("recovery key: wrong length: %w", ErrBadFormat)
	// ErrRecoveryKeyCharacter means a recovery key contains a character
	// outside the base58 alphabet (such as 0, O, I or l).
	ErrRecoveryKeyCharacter = fmt.Errorf("recovery key: invalid character: %w", ErrBadFormat)
	// ErrRecoveryKeyPrefix means a recovery key does not start with the
	// bytes 0x8B 0x01.
	ErrRecoveryKeyPrefix = fmt.Errorf("recovery key: wrong prefix: %w", ErrBadFormat)
	// ErrRecoveryKeyParity means a recovery key fails its parity check: a
	// character was mistyped.
	ErrRecoveryKeyParity = fmt.Errorf("recovery key: parity check failed: %w", ErrBadFormat)
)
