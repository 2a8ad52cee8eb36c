package keybackup

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/olm"
)

// SecretStorageAlgorithm is the secret storage (4S) algorithm this package
// implements: HKDF-SHA-256, AES-256-CTR and HMAC-SHA-256 (Matrix
// specification, "Secrets").
const SecretStorageAlgorithm = "m.secret_storage.v1.aes-hmac-sha2"

// The names of the secrets Matrix clients keep in secret storage; each is
// also the type of the account data event that holds it.
const (
	// SecretCrossSigningMaster is the private master cross-signing key
	// (its Ed25519 seed, base64).
	SecretCrossSigningMaster = "m.cross_signing.master"
	// SecretCrossSigningSelfSigning is the private self-signing key.
	SecretCrossSigningSelfSigning = "m.cross_signing.self_signing"
	// SecretCrossSigningUserSigning is the private user-signing key.
	SecretCrossSigningUserSigning = "m.cross_signing.user_signing"
	// SecretMegolmBackup is the backup decryption key (BackupKey, base64).
	SecretMegolmBackup = "m.megolm_backup.v1"
)

// Sizes and limits for secret storage.
const (
	// SecretIVSize is the size of the AES-CTR IV of a secret.
	SecretIVSize = 16
	// SecretMACSize is the size of a secret's MAC: full HMAC-SHA-256.
	SecretMACSize = 32
	// MaxSecretSize bounds the ciphertext of a secret and the JSON of key
	// descriptions and secret contents, checked before any other work.
	// Secrets are keys of a few dozen bytes.
	MaxSecretSize = 64 << 10
	// keyIDLength is the length of the random key IDs this package makes,
	// as Element makes them.
	keyIDLength = 32
)

// KeyDescription describes a secret storage key: the content of the
// account data event m.secret_storage.key.<key ID>. IV and MAC let a
// candidate key be checked; they are optional (both or neither). It is
// public.
type KeyDescription struct {
	// Name is a human-readable name, optional.
	Name string
	// Algorithm is SecretStorageAlgorithm.
	Algorithm string
	// Passphrase says how to derive the key from a passphrase; nil if the
	// key is not derived from one.
	Passphrase *Passphrase
	// IV is the 16-byte IV of the key check, or nil.
	IV []byte
	// MAC is the 32-byte MAC of the key check, or nil.
	MAC []byte
}

type keyDescriptionJSON struct {
	Name       string      `json:"name,omitempty"`
	Algorithm  string      `json:"algorithm"`
	Passphrase *Passphrase `json:"passphrase,omitempty"`
	IV         *string     `json:"iv,omitempty"`
	MAC        *string     `json:"mac,omitempty"`
}

// ParseKeyDescription decodes a key description. Base64 may be padded or
// unpadded. Errors wrap ErrTooLarge, ErrBadFormat (including an IV other
// than 16 bytes, a MAC other than 32, or only one of the two), or
// ErrUnsupportedAlgorithm. The passphrase parameters are checked when used.
func ParseKeyDescription(data []byte) (*KeyDescription, error) {
	var d KeyDescription
	if err := d.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return &d, nil
}

// UnmarshalJSON decodes a key description as ParseKeyDescription does.
func (d *KeyDescription) UnmarshalJSON(data []byte) error {
	if len(data) > MaxSecretSize {
		return fmt.Errorf("keybackup: key description of %d bytes: %w", len(data), ErrTooLarge)
	}
	var w keyDescriptionJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("keybackup: key description: %w: %v", ErrBadFormat, err)
	}
	if w.Algorithm != SecretStorageAlgorithm {
		return fmt.Errorf("keybackup: key description: algorithm %q: %w", w.Algorithm, ErrUnsupportedAlgorithm)
	}
	if (w.IV == nil) != (w.MAC == nil) {
		return fmt.Errorf("keybackup: key description: iv without mac or mac without iv: %w", ErrBadFormat)
	}
	out := KeyDescription{Name: w.Name, Algorithm: w.Algorithm, Passphrase: w.Passphrase}
	if w.IV != nil {
		iv, err := b64.Decode(*w.IV)
		if err != nil || len(iv) != SecretIVSize {
			return fmt.Errorf("keybackup: key description: iv: %w", ErrBadFormat)
		}
		mac, err := b64.Decode(*w.MAC)
		if err != nil || len(mac) != SecretMACSize {
			return fmt.Errorf("keybackup: key description: mac: %w", ErrBadFormat)
		}
		out.IV, out.MAC = iv, mac
	}
	*d = out
	return nil
}

// MarshalJSON encodes d with unpadded base64.
func (d *KeyDescription) MarshalJSON() ([]byte, error) {
	w := keyDescriptionJSON{Name: d.Name, Algorithm: d.Algorithm, Passphrase: d.Passphrase}
	if d.IV != nil || d.MAC != nil {
		iv, mac := b64.Encode(d.IV), b64.Encode(d.MAC)
		w.IV, w.MAC = &iv, &mac
	}
	return json.Marshal(w)
}

// HasCheck reports whether d carries the IV and MAC that let CheckKey tell
// a wrong key.
func (d *KeyDescription) HasCheck() bool { return d != nil && d.IV != nil && d.MAC != nil }

// CheckKey checks a 32-byte key against the IV and MAC of d: it encrypts 32
// zero bytes under the key's HKDF expansion with the empty name and
// compares the MAC of the result, in constant time. It returns an error
// wrapping ErrWrongKey for a wrong key and ErrBadFormat for a key that is
// not 32 bytes or a description with malformed check values. If d has no
// check values it returns nil, as the specification says to assume the key
// is right; decrypting a secret with a wrong key still fails (ErrBadMAC).
func (d *KeyDescription) CheckKey(key []byte) error {
	if d == nil {
		return fmt.Errorf("keybackup: check key: key description: %w", ErrNil)
	}
	if len(key) != KeySize {
		return fmt.Errorf("keybackup: check key: key of %d bytes: %w", len(key), ErrBadFormat)
	}
	if !d.HasCheck() {
		return nil
	}
	if len(d.IV) != SecretIVSize || len(d.MAC) != SecretMACSize {
		return fmt.Errorf("keybackup: check key: malformed description: %w", ErrBadFormat)
	}
	mac := keyCheckMAC(key, [SecretIVSize]byte(d.IV))
	if !hmac.Equal(mac[:], d.MAC) {
		return fmt.Errorf("keybackup: check key: %w", ErrWrongKey)
	}
	return nil
}

// keyCheckMAC returns the MAC of the key check: 32 zero bytes encrypted as
// the secret with the empty name.
func keyCheckMAC(key []byte, iv [SecretIVSize]byte) [SecretMACSize]byte {
	var zeros [32]byte
	es := encryptSecret(key, "", zeros[:], iv)
	return es.MAC
}

// Unlock returns the secret storage key with ID id and the 32 bytes of key,
// after checking key with CheckKey.
func (d *KeyDescription) Unlock(id string, key []byte) (*SecretStorageKey, error) {
	if err := d.CheckKey(key); err != nil {
		return nil, err
	}
	k := &SecretStorageKey{mu: new(sync.RWMutex), id: id, desc: d.clone()}
	copy(k.key[:], key)
	return k, nil
}

// UnlockWithRecoveryKey decodes a recovery key typed by the user and
// unlocks the key with it. Errors are those of DecodeRecoveryKeyUnchecked and
// CheckKey.
func (d *KeyDescription) UnlockWithRecoveryKey(id, recoveryKey string) (*SecretStorageKey, error) {
	key, err := DecodeRecoveryKeyUnchecked(recoveryKey)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return d.Unlock(id, key)
}

// UnlockWithPassphrase derives the key from passphrase with d's
// parameters and unlocks it. Errors wrap ErrNoPassphrase when d has no
// passphrase parameters, those of Passphrase.DeriveKey (the iteration count
// is capped at MaxPBKDF2Iterations before any work), or ErrWrongPassphrase
// when the key fails the check.
func (d *KeyDescription) UnlockWithPassphrase(id, passphrase string) (*SecretStorageKey, error) {
	if d == nil {
		return nil, fmt.Errorf("keybackup: unlock %q: key description: %w", id, ErrNil)
	}
	if d.Passphrase == nil {
		return nil, fmt.Errorf("keybackup: unlock %q: %w", id, ErrNoPassphrase)
	}
	key, err := d.Passphrase.DeriveKey(passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	k, err := d.Unlock(id, key)
	if errors.Is(err, ErrWrongKey) {
		return nil, fmt.Errorf("keybackup: unlock %q: %w", id, ErrWrongPassphrase)
	}
	return k, err
}

func (d *KeyDescription) clone() KeyDescription {
	c := *d
	if d.Passphrase != nil {
		p := *d.Passphrase
		c.Passphrase = &p
	}
	c.IV = append([]byte(nil), d.IV...)
	c.MAC = append([]byte(nil), d.MAC...)
	if d.IV == nil {
		c.IV, c.MAC = nil, nil
	}
	return c
}

// SecretStorageKey is an unlocked secret storage key: its ID, its 32 bytes
// and its description. The key is secret; formatting a SecretStorageKey
// with the fmt package prints only its ID. It is safe for concurrent use,
// Close included: Close waits for the calls in progress, and every call
// after it fails with ErrClosed. The zero value is not a key: its methods
// fail with ErrNil.
type SecretStorageKey struct {
	mu     *sync.RWMutex // nil in the zero value
	id     string
	key    [KeySize]byte
	desc   KeyDescription
	closed bool // set by Close, under mu
}

// rlock read-locks k for op, or returns an error wrapping ErrNil (a nil or
// zero key) or ErrClosed, with nothing locked.
func (k *SecretStorageKey) rlock(op string) error {
	if k == nil || k.mu == nil {
		return fmt.Errorf("keybackup: %s: secret storage key: %w", op, ErrNil)
	}
	k.mu.RLock()
	if k.closed {
		k.mu.RUnlock()
		return fmt.Errorf("keybackup: %s: secret storage key: %w", op, ErrClosed)
	}
	return nil
}

// GenerateSecretStorageKey creates a random key with a random ID and a
// description named name that carries the key check. Store the description
// as account data m.secret_storage.key.<ID> and show the user RecoveryKey.
func GenerateSecretStorageKey(name string) (*SecretStorageKey, error) {
	var key [KeySize]byte
	rand.Read(key[:]) // never fails (Go 1.24+)
	defer clear(key[:])
	return newSecretStorageKey(randomString(keyIDLength), name, key[:], nil, randomIV()), nil
}

// NewSecretStorageKeyFromPassphrase creates a key derived from passphrase
// with a fresh random salt and the given PBKDF2 iteration count (0 means
// MinPBKDF2Iterations), with a random ID and a description that carries the
// passphrase parameters and the key check. An iteration count below
// MinPBKDF2Iterations gives an error wrapping ErrIterations.
func NewSecretStorageKeyFromPassphrase(name, passphrase string, iterations int) (*SecretStorageKey, error) {
	n, err := checkCreateIterations(iterations)
	if err != nil {
		return nil, err
	}
	return newSecretStorageKeyFromPassphrase(name, passphrase, n)
}

// newSecretStorageKeyFromPassphrase is NewSecretStorageKeyFromPassphrase
// without the minimum, for tests.
func newSecretStorageKeyFromPassphrase(name, passphrase string, iterations int) (*SecretStorageKey, error) {
	p := newPassphrase(iterations)
	key, err := p.DeriveKey(passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return newSecretStorageKey(randomString(keyIDLength), name, key, p, randomIV()), nil
}

// newSecretStorageKey builds a key and its description with the key check
// made with iv.
func newSecretStorageKey(id, name string, key []byte, p *Passphrase, iv [SecretIVSize]byte) *SecretStorageKey {
	iv[8] &= 0x7f
	mac := keyCheckMAC(key, iv)
	k := &SecretStorageKey{mu: new(sync.RWMutex), id: id, desc: KeyDescription{
		Name: name, Algorithm: SecretStorageAlgorithm, Passphrase: p,
		IV: iv[:], MAC: mac[:],
	}}
	copy(k.key[:], key)
	return k
}

// randomIV returns 16 random bytes with bit 63 cleared, as the
// specification asks, so that the 64-bit counter never wraps.
func randomIV() [SecretIVSize]byte {
	var iv [SecretIVSize]byte
	rand.Read(iv[:]) // never fails (Go 1.24+)
	iv[8] &= 0x7f
	return iv
}

// ID returns the key ID: the <key ID> of m.secret_storage.key.<key ID>
// and the key of the "encrypted" map of secrets. It stays readable after
// Close; a nil key gives "".
func (k *SecretStorageKey) ID() string {
	if k == nil {
		return ""
	}
	return k.id
}

// Description returns a copy of the key's description, which is public
// and stays readable after Close. A nil key gives an empty description.
func (k *SecretStorageKey) Description() *KeyDescription {
	if k == nil {
		return &KeyDescription{}
	}
	d := k.desc.clone()
	return &d
}

// Bytes returns a copy of the 32 key bytes. They are secret. After Close,
// or for a zero key, it returns nil.
func (k *SecretStorageKey) Bytes() []byte {
	if k.rlock("bytes") != nil {
		return nil
	}
	defer k.mu.RUnlock()
	return append([]byte(nil), k.key[:]...)
}

// RecoveryKey returns the key as a recovery key. It is secret. After
// Close, or for a zero key, it returns "".
func (k *SecretStorageKey) RecoveryKey() string {
	if k.rlock("recovery key") != nil {
		return ""
	}
	defer k.mu.RUnlock()
	s, _ := EncodeRecoveryKey(k.key[:]) // always 32 bytes
	return s
}

// String describes the key by its ID, never printing the secret.
func (k SecretStorageKey) String() string {
	return "keybackup.SecretStorageKey{id: " + k.id + "}"
}

// GoString is String, so that %#v does not print the secret either.
func (k SecretStorageKey) GoString() string { return k.String() }

// Format writes String for every verb and flag.
func (k SecretStorageKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue describes the key for log/slog by its ID.
func (k SecretStorageKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Close overwrites the key bytes, after the calls in progress finish. It
// is idempotent; afterwards every method but ID and Description fails with
// an error wrapping ErrClosed (or returns nothing).
func (k *SecretStorageKey) Close() {
	if k == nil || k.mu == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	wipe.Array32(&k.key)
	k.closed = true
}

// EncryptedSecret is a secret encrypted with one secret storage key:
//
//	{"iv": b64 (16 bytes), "ciphertext": b64, "mac": b64 (32 bytes)}
//
// The MAC covers the ciphertext only, not the IV. It is public.
type EncryptedSecret struct {
	// IV is the AES-CTR IV; new ones have bit 63 cleared.
	IV [SecretIVSize]byte
	// Ciphertext is the secret's text, AES-256-CTR encrypted.
	Ciphertext []byte
	// MAC is the HMAC-SHA-256 of the ciphertext.
	MAC [SecretMACSize]byte
}

type encryptedSecretJSON struct {
	Ciphertext string `json:"ciphertext"`
	IV         string `json:"iv"`
	MAC        string `json:"mac"`
}

// ParseEncryptedSecret decodes an encrypted secret. Base64 may be padded
// or unpadded. Errors wrap ErrTooLarge or ErrBadFormat.
func ParseEncryptedSecret(data []byte) (*EncryptedSecret, error) {
	var es EncryptedSecret
	if err := es.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return &es, nil
}

// UnmarshalJSON decodes an encrypted secret as ParseEncryptedSecret does.
func (es *EncryptedSecret) UnmarshalJSON(data []byte) error {
	if len(data) > MaxSecretSize {
		return fmt.Errorf("keybackup: encrypted secret of %d bytes: %w", len(data), ErrTooLarge)
	}
	var w encryptedSecretJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("keybackup: encrypted secret: %w: %v", ErrBadFormat, err)
	}
	iv, err1 := b64.Decode(w.IV)
	ct, err2 := b64.Decode(w.Ciphertext)
	mac, err3 := b64.Decode(w.MAC)
	switch {
	case err1 != nil || len(iv) != SecretIVSize:
		return fmt.Errorf("keybackup: encrypted secret: iv: %w", ErrBadFormat)
	case err2 != nil:
		return fmt.Errorf("keybackup: encrypted secret: ciphertext: %w", ErrBadFormat)
	case err3 != nil || len(mac) != SecretMACSize:
		return fmt.Errorf("keybackup: encrypted secret: mac: %w", ErrBadFormat)
	}
	copy(es.IV[:], iv)
	copy(es.MAC[:], mac)
	es.Ciphertext = ct
	return nil
}

// MarshalJSON encodes es with unpadded base64.
func (es *EncryptedSecret) MarshalJSON() ([]byte, error) {
	return json.Marshal(encryptedSecretJSON{
		Ciphertext: b64.Encode(es.Ciphertext),
		IV:         b64.Encode(es.IV[:]),
		MAC:        b64.Encode(es.MAC[:]),
	})
}

// secretKeys expands a secret storage key for the secret called name:
// HKDF-SHA-256 with 32 zero bytes of salt and the name as info, into an
// AES-256 key and an HMAC-SHA-256 key.
func secretKeys(key []byte, name string) (aesKey, macKey [32]byte) {
	// internal/cipher.HKDF rather than crypto/hkdf: the latter's HMAC
	// leaves the key in a freed SHA-256 block buffer on every call
	// (TestCloseWipesMemory).
	var salt [32]byte // the specification's salt: 32 zero bytes
	var out [64]byte
	cipher.HKDF(out[:], key, &salt, name)
	copy(aesKey[:], out[:32])
	copy(macKey[:], out[32:])
	wipe.Array64(&out)
	return aesKey, macKey
}

// encryptSecret encrypts plaintext as the secret called name under key.
func encryptSecret(key []byte, name string, plaintext []byte, iv [SecretIVSize]byte) *EncryptedSecret {
	aesKey, macKey := secretKeys(key, name)
	defer clear(aesKey[:])
	defer clear(macKey[:])
	block, _ := aes.NewCipher(aesKey[:]) // 32-byte key: no error
	es := &EncryptedSecret{IV: iv, Ciphertext: make([]byte, len(plaintext))}
	xorCTR64(block, iv, es.Ciphertext, plaintext)
	h := hmac.New(sha256.New, macKey[:])
	h.Write(es.Ciphertext)
	h.Sum(es.MAC[:0])
	return es
}

// errSecretDecrypt is the one error of every failed secret decryption.
var errSecretDecrypt = fmt.Errorf("keybackup: decrypt secret: %w", ErrBadMAC)

// Encrypt encrypts the secret called name (for example
// SecretCrossSigningMaster) under k with a fresh random IV whose bit 63 is
// cleared. Errors wrap ErrTooLarge.
func (k *SecretStorageKey) Encrypt(name string, secret []byte) (*EncryptedSecret, error) {
	return k.encrypt(name, secret, randomIV())
}

func (k *SecretStorageKey) encrypt(name string, secret []byte, iv [SecretIVSize]byte) (*EncryptedSecret, error) {
	if err := k.rlock("encrypt secret"); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	if len(secret) > MaxSecretSize/2 {
		return nil, fmt.Errorf("keybackup: encrypt secret of %d bytes: %w", len(secret), ErrTooLarge)
	}
	return encryptSecret(k.key[:], name, secret, iv), nil
}

// Decrypt checks the MAC of the secret called name and decrypts it. The
// MAC binds the secret to its name: a secret stored under another name
// fails. Every failure gives the same error value, which wraps ErrBadMAC.
// The MAC does not cover the IV, so validate the secret against its public
// counterpart (DecryptBackupKey and DecryptCrossSigningKey do). A nil es
// or a zero k gives ErrNil, a closed k ErrClosed.
func (k *SecretStorageKey) Decrypt(name string, es *EncryptedSecret) ([]byte, error) {
	if err := k.rlock("decrypt secret"); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	if es == nil {
		return nil, fmt.Errorf("keybackup: decrypt secret: %w", ErrNil)
	}
	if len(es.Ciphertext) > MaxSecretSize {
		return nil, fmt.Errorf("keybackup: decrypt secret of %d bytes: %w", len(es.Ciphertext), ErrTooLarge)
	}
	aesKey, macKey := secretKeys(k.key[:], name)
	defer clear(aesKey[:])
	defer clear(macKey[:])
	h := hmac.New(sha256.New, macKey[:])
	h.Write(es.Ciphertext)
	var mac [SecretMACSize]byte
	h.Sum(mac[:0])
	if !hmac.Equal(mac[:], es.MAC[:]) {
		return nil, errSecretDecrypt
	}
	block, _ := aes.NewCipher(aesKey[:])
	out := make([]byte, len(es.Ciphertext))
	xorCTR64(block, es.IV, out, es.Ciphertext)
	return out, nil
}

// encryptKey encrypts a private key as the base64 text clients store.
func (k *SecretStorageKey) encryptKey(name string, key []byte) (*EncryptedSecret, error) {
	text := b64.AppendEncode(nil, key)
	defer clear(text)
	return k.Encrypt(name, text)
}

// decryptKey decrypts a secret that holds a base64 private key of size
// bytes; malformed content gives the one decryption error.
func (k *SecretStorageKey) decryptKey(name string, es *EncryptedSecret, size int) ([]byte, error) {
	text, err := k.Decrypt(name, es)
	if err != nil {
		return nil, err
	}
	defer clear(text)
	key, err := b64.Decode(string(text))
	if err != nil || len(key) != size {
		clear(key)
		return nil, errSecretDecrypt
	}
	return key, nil
}

// EncryptBackupKey encrypts a backup key as the secret SecretMegolmBackup,
// in unpadded base64.
func (k *SecretStorageKey) EncryptBackupKey(bk *BackupKey) (*EncryptedSecret, error) {
	if err := bk.rlock("encrypt backup key"); err != nil {
		return nil, err
	}
	defer bk.mu.RUnlock()
	return k.encryptKey(SecretMegolmBackup, bk.priv[:])
}

// DecryptBackupKey decrypts the secret SecretMegolmBackup and checks that
// the key in it has the public key of the trusted backup. A failed
// decryption gives ErrBadMAC; a key for another public key (a changed IV
// or a swapped secret) gives ErrWrongKey.
func (k *SecretStorageKey) DecryptBackupKey(es *EncryptedSecret, want BackupPublicKey) (*BackupKey, error) {
	b, err := k.decryptKey(SecretMegolmBackup, es, KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	bk, err := NewBackupKey(b)
	if err != nil {
		return nil, errSecretDecrypt
	}
	if err := bk.Matches(want); err != nil {
		bk.Close()
		return nil, err
	}
	return bk, nil
}

// EncryptCrossSigningKey encrypts the 32-byte Ed25519 seed of a
// cross-signing key as the secret called name (one of the
// SecretCrossSigning names), in unpadded base64.
func (k *SecretStorageKey) EncryptCrossSigningKey(name string, seed []byte) (*EncryptedSecret, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keybackup: cross-signing key of %d bytes: %w", len(seed), ErrBadFormat)
	}
	return k.encryptKey(name, seed)
}

// DecryptCrossSigningKey decrypts the secret called name, which holds the
// Ed25519 seed of a cross-signing key, and checks that the seed gives the
// public key want. It returns the 32-byte seed, which is secret. A failed
// decryption gives ErrBadMAC; a seed for another public key gives
// ErrWrongKey.
func (k *SecretStorageKey) DecryptCrossSigningKey(name string, es *EncryptedSecret, want olm.Ed25519PublicKey) ([]byte, error) {
	seed, err := k.decryptKey(name, es, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv, err := ed25519.NewKeyFromSeed(seed)
	if err != nil {
		clear(seed)
		return nil, errSecretDecrypt
	}
	pub := priv.Public()
	if subtle.ConstantTimeCompare(pub[:], want[:]) != 1 {
		clear(seed)
		return nil, fmt.Errorf("keybackup: %s: key does not match public key %s: %w", name, want, ErrWrongKey)
	}
	return seed, nil
}

// SecretContent is the content of the account data event that holds a
// secret: the secret encrypted under one or more keys, by key ID.
type SecretContent struct {
	// Encrypted maps key IDs to the secret encrypted under that key.
	Encrypted map[string]*EncryptedSecret `json:"encrypted"`
}

// ParseSecretContent decodes the content of a secret's account data event.
// Errors wrap ErrTooLarge or ErrBadFormat.
func ParseSecretContent(data []byte) (*SecretContent, error) {
	if len(data) > MaxSecretSize {
		return nil, fmt.Errorf("keybackup: secret content of %d bytes: %w", len(data), ErrTooLarge)
	}
	var c SecretContent
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("keybackup: secret content: %w", asFormat(err))
	}
	return &c, nil
}

// asFormat keeps errors of this package and turns others (encoding/json's)
// into ErrBadFormat.
func asFormat(err error) error {
	if isOurs(err) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrBadFormat, err)
}

func isOurs(err error) bool {
	return errors.Is(err, ErrBadFormat) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrBadPublicKey) || errors.Is(err, ErrUnsupportedAlgorithm)
}

// For returns the secret encrypted under the key with ID keyID, or an error
// wrapping ErrWrongKey if the secret is not encrypted for that key.
func (c *SecretContent) For(keyID string) (*EncryptedSecret, error) {
	if c == nil {
		return nil, fmt.Errorf("keybackup: secret content: %w", ErrNil)
	}
	es := c.Encrypted[keyID]
	if es == nil {
		return nil, fmt.Errorf("keybackup: secret not encrypted for key %q: %w", keyID, ErrWrongKey)
	}
	return es, nil
}
