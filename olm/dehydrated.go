package olm

import (
	stdcipher "crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/pickle"
	"github.com/souverain/e2ee/internal/wipe"
	"golang.org/x/crypto/chacha20poly1305"
)

// ErrNotDehydratable means the account cannot be written as a dehydrated
// device: its Ed25519 identity key is held only in libolm's expanded form,
// while the dehydrated device format stores the 32-byte seed. Accounts read
// from libolm's pickles are such accounts (and stay so through souverain's
// own pickle); vodozemac refuses accounts from libolm the same way. A fresh
// account (NewAccount), and one rehydrated, read from vodozemac's pickle
// with a seed, or read from souverain's own pickle of an account with a
// seed, keep their seed. (Own pickles written before the seed was stored
// open without one.)
var ErrNotDehydratable = errors.New("account has no Ed25519 seed (only an expanded key, as from libolm): it cannot be dehydrated")

// dehydratedVersion is the version of vodozemac's dehydrated device pickle.
const dehydratedVersion = 1

// Sizes of the dehydrated device nonce and key.
const (
	DehydrationKeySize   = chacha20poly1305.KeySize
	DehydrationNonceSize = chacha20poly1305.NonceSize
)

// Dehydrate encrypts the account as a dehydrated device (MSC3814), in the
// format vodozemac's Account::to_dehydrated_device writes and Element's
// crypto stack reads as the device_pickle of org.matrix.msc3814.v2. It
// returns the ciphertext and the nonce, both unpadded base64.
//
// The plaintext holds the version (4 bytes big-endian, 1), the Curve25519
// identity private key (32 bytes), the Ed25519 seed (32 bytes), the number
// of one-time keys (4 bytes big-endian) and their private keys (32 bytes
// each, oldest first), then 1 byte saying whether a fallback key follows and
// its private key. It is encrypted with ChaCha20-Poly1305 under key with a
// random 12-byte nonce and no additional data. Key IDs and published flags
// are not stored.
//
// The error wraps ErrNotDehydratable for an account from a libolm pickle.
func (a *Account) Dehydrate(key *[DehydrationKeySize]byte) (ciphertext, nonce string, err error) {
	var n [DehydrationNonceSize]byte
	rand.Read(n[:])
	return a.dehydrate(key, n)
}

func (a *Account) dehydrate(key *[DehydrationKeySize]byte, nonce [DehydrationNonceSize]byte) (string, string, error) {
	if key == nil {
		return "", "", fmt.Errorf("olm: dehydrate: nil key")
	}
	st, err := a.lock("dehydrate")
	if err != nil {
		return "", "", err
	}
	defer st.mu.Unlock()
	var ct []byte
	// Under GOEXPERIMENT=runtimesecret the plaintext and the cipher state
	// are erased from the heap and the stack once done.
	wipe.Do(func() {
		var body []byte
		body, err = st.marshalDehydrated()
		if err != nil {
			return
		}
		defer clear(body)
		var aead stdcipher.AEAD
		aead, err = chacha20poly1305.New(key[:])
		if err != nil {
			err = fmt.Errorf("olm: dehydrate: %w", err)
			return
		}
		ct = aead.Seal(nil, nonce[:], body, nil)
	})
	if err != nil {
		return "", "", err
	}
	return b64.Encode(ct), b64.Encode(nonce[:]), nil
}

// marshalDehydrated writes the plaintext of a dehydrated device.
func (a *account) marshalDehydrated() ([]byte, error) {
	seed, ok := a.signing.Seed()
	if !ok {
		return nil, fmt.Errorf("olm: dehydrate: %w", ErrNotDehydratable)
	}
	defer clear(seed[:])
	w := &pickle.Writer{Buf: make([]byte, 0, 4+32+32+4+32*len(a.oneTimeKeys)+1+32)}
	w.U32(dehydratedVersion)
	w.Bytes(a.identity.priv[:])
	w.Bytes(seed[:])
	w.U32(uint32(len(a.oneTimeKeys)))
	for i := range a.oneTimeKeys {
		w.Bytes(a.oneTimeKeys[i].key.priv[:])
	}
	w.Bool(a.numFallback > 0)
	if a.numFallback > 0 {
		w.Bytes(a.fallback[0].key.priv[:])
	}
	return w.Buf, nil
}

// RehydrateAccount decrypts a dehydrated device written by Dehydrate or by
// vodozemac (Element's crypto stack), given its ciphertext and nonce
// (base64, padded or not) and the 32-byte key. The account it returns has
// the device's identity keys, its one-time keys (all marked published, with
// key IDs 0, 1, … as vodozemac numbers them) and its fallback key, so it can
// open the Olm sessions that other devices started with it.
//
// Errors wrap ErrBadPickleKey (wrong key or changed ciphertext),
// ErrCorruptedPickle (bad base64, a nonce that is not 12 bytes, a malformed
// plaintext) or ErrUnknownPickleVersion.
func RehydrateAccount(ciphertext, nonce string, key *[DehydrationKeySize]byte) (*Account, error) {
	if key == nil {
		return nil, fmt.Errorf("olm: rehydrate: nil key")
	}
	if len(ciphertext) > pickle.MaxLen {
		return nil, fmt.Errorf("olm: rehydrate: %w: %d bytes is longer than %d", ErrCorruptedPickle, len(ciphertext), pickle.MaxLen)
	}
	n, err := b64.Decode(nonce)
	if err != nil || len(n) != DehydrationNonceSize {
		return nil, fmt.Errorf("olm: rehydrate: %w: the nonce is not 12 bytes of base64", ErrCorruptedPickle)
	}
	ct, err := b64.Decode(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("olm: rehydrate: %w: %v", ErrCorruptedPickle, err)
	}
	var a *Account
	wipe.Do(func() {
		var aead stdcipher.AEAD
		aead, err = chacha20poly1305.New(key[:])
		if err != nil {
			err = fmt.Errorf("olm: rehydrate: %w", err)
			return
		}
		var body []byte
		body, err = aead.Open(nil, n, ct, nil)
		if err != nil {
			err = fmt.Errorf("olm: rehydrate: %w", ErrBadPickleKey)
			return
		}
		defer clear(body)
		a, err = unmarshalDehydrated(body)
	})
	return a, err
}

// unmarshalDehydrated decodes the plaintext of a dehydrated device.
func unmarshalDehydrated(body []byte) (*Account, error) {
	r := pickle.NewReader(body)
	version := r.U32()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("olm: rehydrate: %w", err)
	}
	if version != dehydratedVersion {
		return nil, fmt.Errorf("olm: rehydrate: version %d: %w", version, ErrUnknownPickleVersion)
	}
	var curvePriv, seed [32]byte
	defer clear(curvePriv[:])
	defer clear(seed[:])
	r.Read(curvePriv[:])
	r.Read(seed[:])
	n := r.Count(32)
	// Read the private keys now, derive the public ones once the whole
	// plaintext has been checked, and only for the newest MaxOneTimeKeys.
	privs := make([][32]byte, n)
	defer clear(privs)
	for i := range privs {
		r.Read(privs[i][:])
	}
	var priv [32]byte
	defer clear(priv[:])
	hasFallback := r.U8()
	if hasFallback > 1 {
		return nil, fmt.Errorf("olm: rehydrate: fallback flag %d: %w", hasFallback, ErrCorruptedPickle)
	}
	if hasFallback == 1 {
		r.Read(priv[:])
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("olm: rehydrate: %w", err)
	}
	signing, err := ed25519.NewKeyFromSeed(seed[:])
	if err != nil {
		return nil, fmt.Errorf("olm: rehydrate: %w: %v", ErrCorruptedPickle, err)
	}
	identity, err := vzCurveKey(curvePriv[:])
	if err != nil {
		return nil, fmt.Errorf("olm: rehydrate: %w", err)
	}
	a := &account{signing: signing, identity: identity}
	first := max(0, n-MaxOneTimeKeys)
	a.oneTimeKeys = make([]oneTimeKey, 0, n-first)
	for i := first; i < n; i++ {
		k, err := vzCurveKey(privs[i][:])
		if err != nil {
			return nil, fmt.Errorf("olm: rehydrate: %w", err)
		}
		a.oneTimeKeys = append(a.oneTimeKeys, oneTimeKey{id: KeyID(i), published: true, key: k})
	}
	if n > 0 {
		a.nextKeyID = uint32(n - 1)
	}
	if hasFallback == 1 {
		k, err := vzCurveKey(priv[:])
		if err != nil {
			return nil, fmt.Errorf("olm: rehydrate: %w", err)
		}
		a.fallback[0] = oneTimeKey{id: 0, published: true, key: k}
		a.numFallback = 1
	}
	return &Account{st: a}, nil
}
