package crossign

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/souverain/e2ee/internal/b64"
	ied25519 "github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/signedjson"
)

// SeedSize is the size in bytes of a private cross-signing key: an RFC 8032
// Ed25519 seed.
const SeedSize = 32

// Usage is the role of a cross-signing key, as written in the "usage"
// member of its object.
type Usage string

// The three cross-signing roles (specification, "Cross-signing").
const (
	// UsageMaster is the master key, the user's identity. It signs the
	// self-signing and user-signing keys.
	UsageMaster Usage = "master"
	// UsageSelfSigning is the self-signing key, which signs the user's own
	// devices.
	UsageSelfSigning Usage = "self_signing"
	// UsageUserSigning is the user-signing key, which signs other users'
	// master keys.
	UsageUserSigning Usage = "user_signing"
)

// valid reports whether u is one of the three roles.
func (u Usage) valid() bool {
	return u == UsageMaster || u == UsageSelfSigning || u == UsageUserSigning
}

// SecretName returns the name under which secret storage keeps the private
// key of this role: "m.cross_signing.master", "m.cross_signing.self_signing"
// or "m.cross_signing.user_signing".
func (u Usage) SecretName() string { return "m.cross_signing." + string(u) }

// member returns the member name of the role in a /keys/query response and
// a /keys/device_signing/upload body.
func (u Usage) member() string {
	switch u {
	case UsageMaster:
		return "master_key"
	case UsageSelfSigning:
		return "self_signing_key"
	default:
		return "user_signing_key"
	}
}

// PrivateKey is a private cross-signing key of one role. It is secret.
// Create one with GeneratePrivateKey, NewPrivateKey or ParsePrivateKey; the
// zero value is not a key.
//
// PrivateKey implements crypto.Signer, as crypto/ed25519.PrivateKey does,
// so it signs JSON objects through signedjson. Formatting a PrivateKey with
// the fmt package prints only its role and public key. It is safe for
// concurrent use, Close included: Close wipes the key once the signatures
// in progress are done, and afterwards Sign fails with ErrClosed. Methods
// of the zero value fail with ErrNil or return zero values.
type PrivateKey struct {
	mu     *sync.RWMutex // nil in the zero value
	usage  Usage
	seed   [SeedSize]byte
	key    *ied25519.PrivateKey
	public olm.Ed25519PublicKey
	closed bool // set by Close, under mu
}

// GeneratePrivateKey returns a new random private key for the role usage,
// from crypto/rand. The error wraps ErrWrongUsage for an unknown role.
func GeneratePrivateKey(usage Usage) (*PrivateKey, error) {
	var seed [SeedSize]byte
	rand.Read(seed[:])
	defer clear(seed[:])
	return NewPrivateKey(usage, seed[:])
}

// NewPrivateKey returns the private key of the role usage whose seed is
// seed. The seed is copied. The error wraps ErrWrongUsage for an unknown
// role or ErrInvalidKey if seed is not SeedSize bytes.
func NewPrivateKey(usage Usage, seed []byte) (*PrivateKey, error) {
	if !usage.valid() {
		return nil, fmt.Errorf("crossign: private key: %w: %q", ErrWrongUsage, usage)
	}
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("crossign: private key: %w: seed of %d bytes, want %d", ErrInvalidKey, len(seed), SeedSize)
	}
	key, err := ied25519.NewKeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("crossign: private key: %w", ErrInvalidKey)
	}
	k := &PrivateKey{mu: new(sync.RWMutex), usage: usage, key: key, public: olm.Ed25519PublicKey(key.Public())}
	copy(k.seed[:], seed)
	return k, nil
}

// ParsePrivateKey decodes a private key of the role usage from the form in
// which secret storage keeps it (the secret usage.SecretName()): the
// unpadded base64 of the 32-byte seed. Padded base64 is accepted too. The
// decoding runs in constant time. The error wraps ErrWrongUsage or
// ErrInvalidKey and never contains the secret.
func ParsePrivateKey(usage Usage, secret string) (*PrivateKey, error) {
	seed, err := b64.Decode(secret)
	if err != nil {
		return nil, fmt.Errorf("crossign: parse private key: %w: not base64", ErrInvalidKey)
	}
	defer clear(seed)
	return NewPrivateKey(usage, seed)
}

// valid reports whether k was made by this package (it may be closed).
func (k *PrivateKey) valid() bool { return k != nil && k.mu != nil }

// isClosed reports whether Close has run on k, which is valid.
func (k *PrivateKey) isClosed() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.closed
}

// rlock read-locks k for op, or returns an error wrapping ErrNil (a nil or
// zero key) or ErrClosed, with nothing locked.
func (k *PrivateKey) rlock(op string) error {
	if !k.valid() {
		return fmt.Errorf("crossign: %s: private key: %w", op, ErrNil)
	}
	k.mu.RLock()
	if k.closed {
		k.mu.RUnlock()
		return fmt.Errorf("crossign: %s: %s private key: %w", op, k.usage, ErrClosed)
	}
	return nil
}

// Usage returns the key's role, which stays readable after Close; "" for
// a nil or zero key.
func (k *PrivateKey) Usage() Usage {
	if !k.valid() {
		return ""
	}
	return k.usage
}

// PublicKey returns the public key, which stays readable after Close; the
// zero key for a nil or zero PrivateKey.
func (k *PrivateKey) PublicKey() olm.Ed25519PublicKey {
	if !k.valid() {
		return olm.Ed25519PublicKey{}
	}
	return k.public
}

// KeyID returns "ed25519:<public key>", the key ID of the key's signatures.
func (k *PrivateKey) KeyID() string { return signedjson.KeyID(k.PublicKey().String()) }

// Seed returns a copy of the 32-byte seed. The result is secret. It is nil
// after Close and for a nil or zero key.
func (k *PrivateKey) Seed() []byte {
	if k.rlock("seed") != nil {
		return nil
	}
	defer k.mu.RUnlock()
	return append([]byte(nil), k.seed[:]...)
}

// Secret returns the seed in unpadded base64, the form in which secret
// storage keeps it under Usage().SecretName(). The result is secret. It is
// "" after Close and for a nil or zero key.
func (k *PrivateKey) Secret() string {
	if k.rlock("secret") != nil {
		return ""
	}
	defer k.mu.RUnlock()
	return b64.Encode(k.seed[:])
}

// Public returns the public key as a crypto/ed25519.PublicKey, for
// crypto.Signer. For a nil or zero key it is a nil ed25519.PublicKey, so
// that Sign's error (ErrNil) is the one a signer reports.
func (k *PrivateKey) Public() crypto.PublicKey {
	if !k.valid() {
		return ed25519.PublicKey(nil)
	}
	return ed25519.PublicKey(k.public.Bytes())
}

// Close wipes the seed and the expanded key, once the signatures in
// progress are done. It is idempotent; afterwards Sign fails with an error
// wrapping ErrClosed, Seed and Secret return nothing, and the role and
// public key stay readable.
func (k *PrivateKey) Close() {
	if !k.valid() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	wipe.Array32(&k.seed)
	*k.key = ied25519.PrivateKey{}
	k.closed = true
}

// Sign signs message with the key, implementing crypto.Signer as
// crypto/ed25519 does for plain Ed25519: rand is ignored and opts must be
// crypto.Hash(0) (Ed25519ph and Ed25519ctx are refused). message is the
// whole message, not a digest. A nil or zero key gives an error wrapping
// ErrNil, a closed one ErrClosed.
func (k *PrivateKey) Sign(rand io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := k.rlock("sign"); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	if opts == nil || opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("crossign: sign: only plain Ed25519 (crypto.Hash(0)) is supported")
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("crossign: sign: Ed25519ctx is not supported")
	}
	sig := k.key.Sign(message)
	return sig[:], nil
}

// String returns a description of the key that names its role and public
// key and never contains secret material.
func (k PrivateKey) String() string {
	if k.mu == nil {
		return "crossign.PrivateKey(invalid)"
	}
	return "crossign.PrivateKey(" + string(k.usage) + ", public: " + k.public.String() + ")"
}

// GoString is like String; it keeps %#v from printing the secret.
func (k PrivateKey) GoString() string { return k.String() }

// Format writes String for every verb and flag, so that no fmt verb prints
// the secret.
func (k PrivateKey) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// LogValue describes the key for log/slog as String does.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// PrivateKeys is a user's set of private cross-signing keys. Any of the
// three may be nil, as on a device that holds only some of them. Each must
// have the role of its field. Close closes all three.
type PrivateKeys struct {
	// UserID is the owner, e.g. "@alice:example.org".
	UserID      string
	Master      *PrivateKey
	SelfSigning *PrivateKey
	UserSigning *PrivateKey
}

// GenerateKeys returns three new random keys for userID.
func GenerateKeys(userID string) (*PrivateKeys, error) {
	if userID == "" {
		return nil, fmt.Errorf("crossign: generate keys: %w: empty user ID", ErrWrongUserID)
	}
	ks := &PrivateKeys{UserID: userID}
	var err error
	if ks.Master, err = GeneratePrivateKey(UsageMaster); err != nil {
		return nil, err
	}
	if ks.SelfSigning, err = GeneratePrivateKey(UsageSelfSigning); err != nil {
		return nil, err
	}
	if ks.UserSigning, err = GeneratePrivateKey(UsageUserSigning); err != nil {
		return nil, err
	}
	return ks, nil
}

// Close closes the keys of the set (see PrivateKey.Close). It is
// idempotent.
func (ks *PrivateKeys) Close() {
	if ks == nil {
		return
	}
	for _, k := range []*PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		k.Close()
	}
}

// key returns the key of role u, checking that it is present and has that
// role.
func (ks *PrivateKeys) key(u Usage) (*PrivateKey, error) {
	if ks == nil {
		return nil, fmt.Errorf("%w: nil private keys", ErrNil)
	}
	if ks.UserID == "" {
		return nil, fmt.Errorf("%w: private keys have no user ID", ErrWrongUserID)
	}
	var k *PrivateKey
	switch u {
	case UsageMaster:
		k = ks.Master
	case UsageSelfSigning:
		k = ks.SelfSigning
	default:
		k = ks.UserSigning
	}
	if k == nil {
		return nil, fmt.Errorf("%w: no private %s key", ErrMissingKey, u)
	}
	if !k.valid() {
		return nil, fmt.Errorf("%w: the %s field holds a zero PrivateKey", ErrNil, u)
	}
	if k.isClosed() {
		return nil, fmt.Errorf("%w: the %s key is closed", ErrClosed, u)
	}
	if k.Usage() != u {
		return nil, fmt.Errorf("%w: the %s field holds a %s key", ErrWrongUsage, u, k.Usage())
	}
	return k, nil
}

// String describes the set by its user and public keys, never its secrets.
func (ks PrivateKeys) String() string {
	return fmt.Sprintf("crossign.PrivateKeys{%s, master: %v, self_signing: %v, user_signing: %v}",
		ks.UserID, ks.Master, ks.SelfSigning, ks.UserSigning)
}

// GoString is like String.
func (ks PrivateKeys) GoString() string { return ks.String() }

// Format writes String for every verb and flag.
func (ks PrivateKeys) Format(f fmt.State, verb rune) { io.WriteString(f, ks.String()) }

// LogValue describes the set for log/slog as String does.
func (ks PrivateKeys) LogValue() slog.Value { return slog.StringValue(ks.String()) }
