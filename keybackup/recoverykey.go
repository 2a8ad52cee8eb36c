package keybackup

import (
	"fmt"
	"strings"
)

// Recovery key layout (Matrix specification, appendix "Cryptographic key
// representation"): the bytes 0x8B 0x01, the 32-byte key, and a parity byte
// that makes the XOR of all 35 bytes zero, in base58 with a space after
// every fourth character.
const (
	// KeySize is the size in bytes of the keys a recovery key carries:
	// backup decryption keys and secret storage keys.
	KeySize = 32
	// RecoveryKeyChars is the number of base58 characters of a recovery
	// key, not counting spaces. Every 35-byte string that starts with
	// 0x8B 0x01 encodes to exactly 48 characters.
	RecoveryKeyChars = 48

	recoveryPrefix0 = 0x8B
	recoveryPrefix1 = 0x01
	recoveryBytes   = 2 + KeySize + 1

	// maxRecoveryKeyInput bounds the text DecodeRecoveryKeyUnchecked looks at, so
	// that pasted garbage costs nothing: 48 characters with generous
	// whitespace.
	maxRecoveryKeyInput = 1024
)

// EncodeRecoveryKey returns the recovery key for a 32-byte key: 12 groups
// of 4 base58 characters separated by single spaces. It returns an error
// wrapping ErrBadFormat if key is not 32 bytes.
func EncodeRecoveryKey(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", fmt.Errorf("keybackup: encode recovery key: key of %d bytes: %w", len(key), ErrBadFormat)
	}
	var raw [recoveryBytes]byte
	raw[0], raw[1] = recoveryPrefix0, recoveryPrefix1
	copy(raw[2:], key)
	var parity byte
	for _, b := range raw[:recoveryBytes-1] {
		parity ^= b
	}
	raw[recoveryBytes-1] = parity
	enc := base58Encode(raw[:])
	clear(raw[:])

	var sb strings.Builder
	sb.Grow(len(enc) + len(enc)/4)
	for i := 0; i < len(enc); i++ {
		if i > 0 && i%4 == 0 {
			sb.WriteByte(' ')
		}
		sb.WriteByte(enc[i])
	}
	return sb.String(), nil
}

// isSpace reports whether c is ASCII whitespace, which DecodeRecoveryKeyUnchecked
// ignores wherever it occurs.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// DecodeRecoveryKeyUnchecked returns the 32-byte key in a recovery key,
// checked only by the recovery key's own format: use it when there is
// nothing to check the key against. Whitespace
// anywhere in s is ignored. The checks come in this order, each with its
// own error (all wrapping ErrBadFormat): ErrRecoveryKeyLength for other
// than 48 base58 characters, ErrRecoveryKeyCharacter for a character
// outside the alphabet (its position is given, not the character),
// ErrRecoveryKeyLength again if the characters do not decode to 35 bytes,
// ErrRecoveryKeyPrefix, and ErrRecoveryKeyParity.
//
// The parity byte catches most typing mistakes, not all: about 0.3% of
// single-character typos change several bytes whose changes cancel out in
// the XOR. Hence "unchecked": prefer BackupKeyFromRecoveryKey and
// KeyDescription.UnlockWithRecoveryKey, which check the key against what
// it unlocks.
func DecodeRecoveryKeyUnchecked(s string) ([]byte, error) {
	if len(s) > maxRecoveryKeyInput {
		return nil, fmt.Errorf("keybackup: decode: %w", ErrRecoveryKeyLength)
	}
	compact := make([]byte, 0, RecoveryKeyChars)
	n := 0
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			continue
		}
		n++
		if n <= RecoveryKeyChars {
			compact = append(compact, s[i])
		}
	}
	if n != RecoveryKeyChars {
		clear(compact)
		return nil, fmt.Errorf("keybackup: decode: %d characters, want %d: %w", n, RecoveryKeyChars, ErrRecoveryKeyLength)
	}
	raw, at, ok := base58Decode(compact)
	clear(compact)
	if !ok {
		return nil, fmt.Errorf("keybackup: decode: character %d: %w", at+1, ErrRecoveryKeyCharacter)
	}
	defer clear(raw)
	if len(raw) != recoveryBytes {
		return nil, fmt.Errorf("keybackup: decode: %d bytes, want %d: %w", len(raw), recoveryBytes, ErrRecoveryKeyLength)
	}
	if raw[0] != recoveryPrefix0 || raw[1] != recoveryPrefix1 {
		return nil, fmt.Errorf("keybackup: decode: %w", ErrRecoveryKeyPrefix)
	}
	var parity byte
	for _, b := range raw {
		parity ^= b
	}
	if parity != 0 {
		return nil, fmt.Errorf("keybackup: decode: %w", ErrRecoveryKeyParity)
	}
	return append([]byte(nil), raw[2:2+KeySize]...), nil
}
