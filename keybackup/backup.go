package keybackup

import (
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/internal/x25519"
)

// BackupAlgorithm is the server-side backup algorithm this package
// implements.
//
// Its MAC is computed over the empty string instead of the ciphertext, a
// libolm bug that every implementation copies (see MSC4048): it only shows
// that the key is right. Anyone who knows a backup's public key can write
// entries into it, and a changed ciphertext decrypts to garbage that only
// the padding and JSON checks may catch. Treat restored sessions as
// unauthenticated: their messages cannot be attributed to a verified
// sender by the backup alone.
const BackupAlgorithm = "m.megolm_backup.v1.curve25519-aes-sha2"

// Sizes for the backup algorithm.
const (
	// PublicKeySize is the size of a Curve25519 public key.
	PublicKeySize = 32
	// BackupMACSize is the size of session_data's mac: HMAC-SHA-256
	// truncated to 8 bytes.
	BackupMACSize = 8
	// MaxSessionDataSize bounds the JSON of one session_data object and its
	// ciphertext, checked before any other work. A backed-up session is
	// under 1 KiB; the Matrix specification limits events to 64 KiB.
	MaxSessionDataSize = 64 << 10
)

// BackupPublicKey is the Curve25519 public key of a backup, the
// auth_data's public_key. It is public. Sessions are encrypted to it with
// Encrypt or EncryptSession.
type BackupPublicKey [PublicKeySize]byte

// NewBackupPublicKey returns the key held in b, which must be 32 bytes.
func NewBackupPublicKey(b []byte) (BackupPublicKey, error) {
	var p BackupPublicKey
	if len(b) != PublicKeySize {
		return p, fmt.Errorf("keybackup: public key of %d bytes: %w", len(b), ErrBadPublicKey)
	}
	copy(p[:], b)
	return p, nil
}

// ParseBackupPublicKey decodes a key from base64, unpadded as Matrix writes
// it, or padded.
func ParseBackupPublicKey(s string) (BackupPublicKey, error) {
	b, err := b64.Decode(s)
	if err != nil {
		return BackupPublicKey{}, fmt.Errorf("keybackup: public key: %w", ErrBadPublicKey)
	}
	return NewBackupPublicKey(b)
}

// Bytes returns a copy of the 32 key bytes.
func (p BackupPublicKey) Bytes() []byte { return append([]byte(nil), p[:]...) }

// String returns the key in unpadded base64.
func (p BackupPublicKey) String() string { return b64.Encode(p[:]) }

// MarshalText returns the key in unpadded base64, so that the key is a
// JSON string.
func (p BackupPublicKey) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a key from base64.
func (p *BackupPublicKey) UnmarshalText(text []byte) error {
	k, err := ParseBackupPublicKey(string(text))
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// Encrypt encrypts plaintext to the backup key, as libolm's
// olm_pk_encrypt does, with a fresh ephemeral key from crypto/rand. It
// returns an error wrapping ErrBadPublicKey for a key of small order, or
// ErrTooLarge for a plaintext that would exceed MaxSessionDataSize.
func (p BackupPublicKey) Encrypt(plaintext []byte) (*SessionData, error) {
	var random [32]byte
	rand.Read(random[:]) // never fails (Go 1.24+)
	defer clear(random[:])
	return p.encrypt(plaintext, random[:])
}

// encrypt is Encrypt with the ephemeral private key given, as libolm takes
// it: 32 random bytes, clamped by X25519.
func (p BackupPublicKey) encrypt(plaintext, random []byte) (*SessionData, error) {
	if len(plaintext) > MaxSessionDataSize/2 {
		return nil, fmt.Errorf("keybackup: encrypt: plaintext of %d bytes: %w", len(plaintext), ErrTooLarge)
	}
	if len(random) != 32 {
		return nil, fmt.Errorf("keybackup: encrypt: ephemeral key of %d bytes: %w", len(random), ErrBadFormat)
	}
	eph := (*[32]byte)(random)
	shared, err := x25519.SharedSecret(eph, (*[32]byte)(&p))
	if err != nil { // all-zero result: a low-order public key
		return nil, fmt.Errorf("keybackup: encrypt: %w: low-order point", ErrBadPublicKey)
	}
	keys := derivePK(shared[:])
	clear(shared[:])
	defer keys.clear()

	block, _ := aes.NewCipher(keys.aesKey[:]) // 32-byte key: no error
	n := len(plaintext) + aes.BlockSize - len(plaintext)%aes.BlockSize
	ct := make([]byte, n)
	copy(ct, plaintext)
	pad := byte(n - len(plaintext))
	for i := len(plaintext); i < n; i++ {
		ct[i] = pad
	}
	stdcipher.NewCBCEncrypter(block, keys.iv[:]).CryptBlocks(ct, ct)

	d := &SessionData{Ciphertext: ct}
	d.Ephemeral = x25519.PublicKey(eph)
	mac := keys.mac()
	copy(d.MAC[:], mac[:BackupMACSize])
	return d, nil
}

// pkKeys are the keys libolm's PK encryption expands from the shared
// secret: HKDF-SHA-256 with no salt and the empty info into AES key, HMAC
// key and IV. All secret.
type pkKeys struct {
	aesKey [32]byte
	macKey [32]byte
	iv     [16]byte
}

func derivePK(shared []byte) pkKeys {
	var out [80]byte
	cipher.HKDF(out[:], shared, nil, "")
	var k pkKeys
	copy(k.aesKey[:], out[:32])
	copy(k.macKey[:], out[32:64])
	copy(k.iv[:], out[64:])
	clear(out[:])
	return k
}

// mac is libolm's PK MAC: HMAC-SHA-256 of the empty string, the
// "ciphertext" libolm passes by mistake.
func (k *pkKeys) mac() [32]byte {
	return cipher.HMAC(&k.macKey, nil)
}

func (k *pkKeys) clear() {
	clear(k.aesKey[:])
	clear(k.macKey[:])
	clear(k.iv[:])
}

// BackupKey is the private key of a backup, the "backup decryption key":
// a Curve25519 private key of 32 bytes. It is secret; formatting it with
// the fmt package prints only its public key. Users keep it as a recovery
// key, or in secret storage under SecretMegolmBackup. A BackupKey is safe
// for concurrent use, Close included: Close waits for the decryptions in
// progress, and every call after it fails with ErrClosed. The zero value
// is not a key: its methods fail with ErrNil.
type BackupKey struct {
	mu     *sync.RWMutex // nil in the zero value
	priv   [KeySize]byte // as given; X25519 clamps it when used, as libolm does
	pub    BackupPublicKey
	closed bool // set by Close, under mu
}

// GenerateBackupKey returns a new random backup key from crypto/rand.
func GenerateBackupKey() (*BackupKey, error) {
	var b [KeySize]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	defer clear(b[:])
	return NewBackupKey(b[:])
}

// NewBackupKey returns the backup key with the 32 private bytes in b (as
// libolm's olm_pk_key_from_private takes them). It copies b.
func NewBackupKey(b []byte) (*BackupKey, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("keybackup: backup key of %d bytes: %w", len(b), ErrBadFormat)
	}
	k := &BackupKey{mu: new(sync.RWMutex)}
	copy(k.priv[:], b)
	k.pub = x25519.PublicKey(&k.priv)
	return k, nil
}

// ParseBackupKey decodes a backup key from base64 (unpadded or padded), the
// form secret storage and secret sharing carry it in, with a constant-time
// decoder.
func ParseBackupKey(s string) (*BackupKey, error) {
	b, err := b64.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("keybackup: backup key: %w", ErrBadFormat)
	}
	defer clear(b)
	return NewBackupKey(b)
}

// BackupKeyFromRecoveryKey decodes the recovery key a user typed and
// checks it against want, the public key of the backup (its auth_data's
// public_key): the recovery key's parity byte misses about 0.3% of
// single-character typos, and a mistyped key must not reach the backup
// (SECURITY requirement 50). Errors are those of
// DecodeRecoveryKeyUnchecked (wrapping ErrBadFormat), or wrap ErrWrongKey
// for a well-formed key of another backup or a typo the parity missed.
func BackupKeyFromRecoveryKey(recoveryKey string, want BackupPublicKey) (*BackupKey, error) {
	k, err := BackupKeyFromRecoveryKeyUnchecked(recoveryKey)
	if err != nil {
		return nil, err
	}
	if err := k.Matches(want); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// BackupKeyFromRecoveryKeyUnchecked decodes a backup key from its recovery
// key, checked only by the recovery key's format (see
// DecodeRecoveryKeyUnchecked). Use it only when the backup's public key is
// not at hand, and call Matches before use.
func BackupKeyFromRecoveryKeyUnchecked(recoveryKey string) (*BackupKey, error) {
	b, err := DecodeRecoveryKeyUnchecked(recoveryKey)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return NewBackupKey(b)
}

// rlock read-locks k for op, or returns an error wrapping ErrNil (a nil or
// zero key) or ErrClosed, with nothing locked.
func (k *BackupKey) rlock(op string) error {
	if k == nil || k.mu == nil {
		return fmt.Errorf("keybackup: %s: backup key: %w", op, ErrNil)
	}
	k.mu.RLock()
	if k.closed {
		k.mu.RUnlock()
		return fmt.Errorf("keybackup: %s: backup key: %w", op, ErrClosed)
	}
	return nil
}

// PublicKey returns the backup's public key, which stays readable after
// Close. A zero or nil key gives the zero public key.
func (k *BackupKey) PublicKey() BackupPublicKey {
	if k == nil {
		return BackupPublicKey{}
	}
	return k.pub
}

// Bytes returns a copy of the 32 private bytes. They are secret. After
// Close, or for a zero key, it returns nil.
func (k *BackupKey) Bytes() []byte {
	if k.rlock("bytes") != nil {
		return nil
	}
	defer k.mu.RUnlock()
	return append([]byte(nil), k.priv[:]...)
}

// Encode returns the private key in unpadded base64, the form stored in
// secret storage under SecretMegolmBackup. It is secret. After Close, or
// for a zero key, it returns "".
func (k *BackupKey) Encode() string {
	if k.rlock("encode") != nil {
		return ""
	}
	defer k.mu.RUnlock()
	return b64.Encode(k.priv[:])
}

// RecoveryKey returns the private key as a recovery key. It is secret.
// After Close, or for a zero key, it returns "".
func (k *BackupKey) RecoveryKey() string {
	if k.rlock("recovery key") != nil {
		return ""
	}
	defer k.mu.RUnlock()
	s, _ := EncodeRecoveryKey(k.priv[:]) // always 32 bytes
	return s
}

// Matches returns nil if pub is this key's public key and an error
// wrapping ErrWrongKey if not (ErrNil or ErrClosed for a zero or closed
// key). Use it to check a recovery key typed by the user, or a key taken
// from secret storage, against the backup's auth_data.
func (k *BackupKey) Matches(pub BackupPublicKey) error {
	if err := k.rlock("match"); err != nil {
		return err
	}
	defer k.mu.RUnlock()
	if subtle.ConstantTimeCompare(k.pub[:], pub[:]) != 1 {
		return fmt.Errorf("keybackup: backup key does not match public key %s: %w", pub, ErrWrongKey)
	}
	return nil
}

// String describes the key by its public key, never printing the secret.
func (k BackupKey) String() string { return "keybackup.BackupKey{public: " + k.pub.String() + "}" }

// GoString is String, so that %#v does not print the secret either.
func (k BackupKey) GoString() string { return k.String() }

// Format writes String for every verb and flag.
func (k BackupKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue describes the key for log/slog by its public key.
func (k BackupKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Close overwrites the private bytes held by k, after the decryptions in
// progress finish. It is idempotent; afterwards every method but
// PublicKey fails with an error wrapping ErrClosed (or returns nothing).
func (k *BackupKey) Close() {
	if k == nil || k.mu == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	wipe.Array32(&k.priv)
	k.closed = true
}

// errSessionDecrypt is the one error of every failed session decryption:
// bad MAC (wrong key), low-order ephemeral key, bad padding, bad JSON.
var errSessionDecrypt = fmt.Errorf("keybackup: decrypt session data: %w", ErrBadMAC)

// Decrypt checks the MAC of d and decrypts it, as libolm's olm_pk_decrypt
// does, except that a non-canonical ephemeral key (which libolm accepts as
// another encoding of the same key) is refused. Every failure, including a
// wrong key, a changed ephemeral key or MAC, and bad padding, gives the
// same error value, which wraps ErrBadMAC;
// a malformed d (wrong ciphertext length) gives ErrBadFormat, a nil d or a
// zero k ErrNil, a closed k ErrClosed. The MAC only
// shows that the key is right (see BackupAlgorithm); the padding check is
// constant time.
func (k *BackupKey) Decrypt(d *SessionData) ([]byte, error) {
	if err := k.rlock("decrypt"); err != nil {
		return nil, err
	}
	defer k.mu.RUnlock()
	if d == nil {
		return nil, fmt.Errorf("keybackup: decrypt: session data: %w", ErrNil)
	}
	if len(d.Ciphertext) == 0 || len(d.Ciphertext)%aes.BlockSize != 0 || len(d.Ciphertext) > MaxSessionDataSize {
		return nil, fmt.Errorf("keybackup: decrypt: ciphertext of %d bytes: %w", len(d.Ciphertext), ErrBadFormat)
	}
	if !canonicalU(&d.Ephemeral) {
		return nil, errSessionDecrypt
	}
	shared, err := x25519.SharedSecret(&k.priv, &d.Ephemeral)
	if err != nil { // low-order ephemeral key
		return nil, errSessionDecrypt
	}
	keys := derivePK(shared[:])
	clear(shared[:])
	defer keys.clear()

	mac := keys.mac()
	if subtle.ConstantTimeCompare(mac[:BackupMACSize], d.MAC[:]) != 1 {
		return nil, errSessionDecrypt
	}
	block, _ := aes.NewCipher(keys.aesKey[:])
	out := make([]byte, len(d.Ciphertext))
	stdcipher.NewCBCDecrypter(block, keys.iv[:]).CryptBlocks(out, d.Ciphertext)
	n, ok := unpad(out)
	if !ok {
		clear(out)
		return nil, errSessionDecrypt
	}
	return out[:n], nil
}

// canonicalU reports whether u is the canonical encoding of an X25519
// public key: below 2^255 - 19, top bit clear. X25519 ignores the top bit
// and reduces larger values, so without this check 2 to 20 encodings of the
// same ephemeral key would decrypt alike. Keys made by X25519 (libolm,
// vodozemac, this package) are always canonical. u is public.
func canonicalU(u *[PublicKeySize]byte) bool {
	if u[31]&0x80 != 0 {
		return false
	}
	if u[31] != 0x7f || u[0] < 0xed {
		return true
	}
	for _, b := range u[1:31] {
		if b != 0xff {
			return true
		}
	}
	return false
}

// unpad returns the length of b without its PKCS#7 padding and whether the
// padding is valid, in time that depends only on len(b) (a positive
// multiple of 16).
func unpad(b []byte) (int, bool) {
	pad := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		eq := subtle.ConstantTimeByteEq(b[len(b)-i], byte(pad))
		good &= (inPad ^ 1) | eq
	}
	// On bad padding pad may exceed 16; the length is only used when good.
	return len(b) - subtle.ConstantTimeSelect(good, pad, 0), good == 1
}

// DecryptSession decrypts d and decodes the backed-up session in it.
// Every failure after parsing gives the one error of Decrypt (wrapping
// ErrBadMAC): bad MAC, padding or JSON, and also a session of another
// algorithm than MegolmAlgorithm or without sender or session key. Since
// the v1 MAC does not cover the ciphertext, telling these apart would let
// whoever controls the server probe the plaintext.
func (k *BackupKey) DecryptSession(d *SessionData) (*BackedUpSession, error) {
	pt, err := k.Decrypt(d)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var s BackedUpSession
	if err := json.Unmarshal(pt, &s); err != nil {
		return nil, errSessionDecrypt
	}
	if s.validate() != nil {
		return nil, errSessionDecrypt
	}
	return &s, nil
}

// EncryptSession encodes s as JSON and encrypts it to the backup key.
// Errors are those of Encrypt, or wrap ErrBadFormat if s is incomplete or
// ErrNil if it is nil.
func (p BackupPublicKey) EncryptSession(s *BackedUpSession) (*SessionData, error) {
	if s == nil {
		return nil, fmt.Errorf("keybackup: encrypt session: %w", ErrNil)
	}
	pt, err := s.MarshalPlaintext()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return p.Encrypt(pt)
}

// SessionData is the encrypted form of one backed-up session, the
// session_data of a KeyBackupData:
//
//	{"ciphertext": b64, "ephemeral": b64 (32 bytes), "mac": b64 (8 bytes)}
//
// The ciphertext is AES-256-CBC with PKCS#7 padding, so a positive multiple
// of 16 bytes. It is public.
type SessionData struct {
	// Ephemeral is the sender's ephemeral Curve25519 public key.
	Ephemeral [PublicKeySize]byte
	// Ciphertext is the AES-256-CBC encryption of the session's JSON.
	Ciphertext []byte
	// MAC is libolm's 8-byte MAC (of the empty string).
	MAC [BackupMACSize]byte
}

// sessionDataJSON is the wire form of SessionData.
type sessionDataJSON struct {
	Ciphertext string `json:"ciphertext"`
	Ephemeral  string `json:"ephemeral"`
	MAC        string `json:"mac"`
}

// ParseSessionData decodes a session_data object. Base64 may be unpadded or
// padded; unknown fields are ignored. Errors wrap ErrTooLarge (input over
// MaxSessionDataSize) or ErrBadFormat.
func ParseSessionData(data []byte) (*SessionData, error) {
	var d SessionData
	if err := d.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return &d, nil
}

// UnmarshalJSON decodes a session_data object as ParseSessionData does.
func (d *SessionData) UnmarshalJSON(data []byte) error {
	if len(data) > MaxSessionDataSize {
		return fmt.Errorf("keybackup: session data of %d bytes: %w", len(data), ErrTooLarge)
	}
	var w sessionDataJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("keybackup: session data: %w: %v", ErrBadFormat, err)
	}
	eph, err1 := b64.Decode(w.Ephemeral)
	ct, err2 := b64.Decode(w.Ciphertext)
	mac, err3 := b64.Decode(w.MAC)
	switch {
	case err1 != nil || len(eph) != PublicKeySize:
		return fmt.Errorf("keybackup: session data: ephemeral key: %w", ErrBadFormat)
	case err3 != nil || len(mac) != BackupMACSize:
		return fmt.Errorf("keybackup: session data: mac: %w", ErrBadFormat)
	case err2 != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0:
		return fmt.Errorf("keybackup: session data: ciphertext: %w", ErrBadFormat)
	}
	copy(d.Ephemeral[:], eph)
	copy(d.MAC[:], mac)
	d.Ciphertext = ct
	return nil
}

// MarshalJSON encodes d with unpadded base64, which libolm requires.
func (d *SessionData) MarshalJSON() ([]byte, error) {
	if d == nil {
		return []byte("null"), nil
	}
	return json.Marshal(sessionDataJSON{
		Ciphertext: b64.Encode(d.Ciphertext),
		Ephemeral:  b64.Encode(d.Ephemeral[:]),
		MAC:        b64.Encode(d.MAC[:]),
	})
}
