package dehydrated

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"

	"github.com/souverain/e2ee/internal/b64"
)

// KeySize is the size of a dehydration key.
const KeySize = 32

// Names of the secret-storage entry that holds the dehydration key, as
// base64 of its 32 bytes. MSC3814 reserves SecretName; matrix-rust-sdk and
// Element Web use UnstableSecretName until the proposal is merged.
const (
	SecretName         = "m.dehydrated_device"
	UnstableSecretName = "org.matrix.msc3814"
)

// Key is the 32-byte key a dehydrated device is encrypted under. It is
// secret; formatting a Key with the fmt package never prints it.
type Key struct {
	b [KeySize]byte
}

// GenerateKey returns a new random key from crypto/rand.
func GenerateKey() *Key {
	k := new(Key)
	rand.Read(k.b[:])
	return k
}

// NewKey returns the key with the given 32 bytes (copied). The error wraps
// ErrKeySize.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("dehydrated: key of %d bytes: %w", len(b), ErrKeySize)
	}
	k := new(Key)
	copy(k.b[:], b)
	return k, nil
}

// KeyFromSecret returns the key stored in secret storage under SecretName
// or UnstableSecretName (after the caller decrypted that secret): the base64
// of 32 bytes, padded or not, used as is, with no further derivation, as
// matrix-rust-sdk reads it. The error wraps ErrKeySize.
func KeyFromSecret(secret string) (*Key, error) {
	b, err := b64.Decode(secret)
	if err != nil {
		return nil, fmt.Errorf("dehydrated: key from secret: not base64: %w", ErrKeySize)
	}
	defer clear(b)
	return NewKey(b)
}

// Secret returns the key as the value to store in secret storage: unpadded
// base64 of its bytes, as matrix-rust-sdk writes it.
func (k *Key) Secret() string { return b64.Encode(k.b[:]) }

// Bytes returns a copy of the key's bytes. The result is secret.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// Equal reports, in constant time, whether k and other are the same key.
func (k *Key) Equal(other *Key) bool {
	return subtle.ConstantTimeCompare(k.b[:], other.b[:]) == 1
}

// Clear overwrites the key with zeros.
func (k *Key) Clear() { clear(k.b[:]) }

// Format prints "dehydrated.Key{…}" whatever the verb, never the key.
func (k Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, "dehydrated.Key{…}") }

// LogValue describes the key for log/slog without its bytes.
func (k Key) LogValue() slog.Value { return slog.StringValue("dehydrated.Key{…}") }
