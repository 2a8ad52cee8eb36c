package olm

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/souverain/e2ee/internal/canonicaljson"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
	"github.com/souverain/e2ee/internal/x25519"
)

// Limits on one-time keys, as vodozemac sets them: the server should hold
// MaxNumberOfOneTimeKeys of them, while the account keeps the private halves
// of up to MaxOneTimeKeys, dropping the oldest first, so that pre-key
// messages made with keys claimed long ago still decrypt. (libolm kept only
// 100.)
const (
	MaxNumberOfOneTimeKeys = 50
	MaxOneTimeKeys         = 5000
)

// MaxPreKeyRecords is the number of used pre-key messages an account
// remembers, to refuse their replay (ErrPreKeyReplay); when full it forgets
// the oldest. A record is only kept while the key it used is still held: a
// fallback key (which is not removed after use), or a one-time key created
// by NewInboundSessionKeepKey until RemoveOneTimeKeys. Clients replace a
// used fallback key at their next key upload, so a key sees a few sessions;
// 1024 records (36 bytes each, 36 KiB in a pickle) cover that many times
// over. A homeserver that floods one fallback key with more than that many
// new sessions before it is replaced can make the account forget the oldest
// record, so a client's store should also refuse session IDs it has seen
// (see NewInboundSession).
const MaxPreKeyRecords = 1024

// Algorithm names a device advertises in its device keys.
const (
	AlgorithmOlm    = "m.olm.v1.curve25519-aes-sha2"
	AlgorithmMegolm = "m.megolm.v1.aes-sha2"
)

// preKeyRecord remembers a pre-key message that opened a session on a key
// that the account still holds: the key's ID and the session's ID (the
// SHA-256 of the three public keys the message names). A replayed message
// names the same three keys.
type preKeyRecord struct {
	keyID     KeyID
	sessionID [32]byte
}

type oneTimeKey struct {
	id        KeyID
	published bool
	used      bool // fallback keys: a pre-key message has opened a session with it
	key       curveKey
}

// Account is a device's long-term Olm state: its Curve25519 and Ed25519
// identity keys, its one-time keys and its fallback keys. It is secret.
//
// An Account is safe for concurrent use: each method holds the account's
// lock while it runs (creating a session holds it for the session's
// handshake and first decryption). An Account value is a handle: copies of
// it share the one state. Close wipes its private keys when it is no longer
// needed.
type Account struct {
	st *account
}

// account is an Account's state, guarded by mu.
type account struct {
	mu     sync.Mutex
	closed bool
	// keysUnchecked is set for an account read from libolm's pickle
	// format until checkKeys has checked its identity key pairs; keysErr
	// keeps a failed check.
	keysUnchecked bool
	keysErr       error
	signing       *ed25519.PrivateKey
	identity      curveKey
	oneTimeKeys   []oneTimeKey // oldest first, at most MaxOneTimeKeys
	numFallback   int          // 0, 1 or 2
	fallback      [2]oneTimeKey
	nextKeyID     uint32 // the last key ID issued; the next is one more
	// usedPreKeys holds the pre-key messages that opened sessions on keys
	// still held, oldest first, at most MaxPreKeyRecords.
	usedPreKeys []preKeyRecord
}

// NewAccount creates an account with fresh identity keys read from
// crypto/rand. It has no one-time or fallback keys yet.
func NewAccount() (*Account, error) {
	// Random bytes that become private keys are read into the heap, not a
	// stack array: when a goroutine's stack grows, the runtime copies it
	// and frees the old one without clearing it.
	random := make([]byte, 64)
	rand.Read(random)
	defer clear(random)
	return newAccount(random)
}

// newAccount creates an account from 64 random bytes: the Ed25519 seed, then
// the Curve25519 private key, as libolm consumes them.
func newAccount(random []byte) (*Account, error) {
	if len(random) != 64 {
		panic("olm: newAccount needs 64 random bytes")
	}
	signing, err := ed25519.NewKeyFromSeed(random[:32])
	if err != nil {
		return nil, fmt.Errorf("olm: new account: %w", err)
	}
	st := &account{signing: signing}
	if err := st.identity.set(random[32:]); err != nil {
		return nil, fmt.Errorf("olm: new account: %w", err)
	}
	return &Account{st: st}, nil
}

// lock locks the account's state and returns it; the caller unlocks it. It
// returns an error wrapping ErrNil for a nil or zero Account and ErrClosed
// after Close, and then nothing is locked.
func (a *Account) lock(op string) (*account, error) {
	if a == nil || a.st == nil {
		return nil, fmt.Errorf("olm: %s: %w", op, ErrNil)
	}
	a.st.mu.Lock()
	if a.st.closed {
		a.st.mu.Unlock()
		return nil, fmt.Errorf("olm: %s: %w", op, ErrClosed)
	}
	return a.st, nil
}

// Close wipes the account's private keys and its record of pre-key
// messages. It is idempotent and always returns nil. Afterwards every method
// fails with an error wrapping ErrClosed, and the methods without an error
// result return zero values (zero keys and signatures, no keys, false).
func (a *Account) Close() error {
	if a == nil || a.st == nil {
		return nil
	}
	st := a.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	st.closed = true
	if st.signing != nil {
		st.signing.Clear()
	}
	st.identity.clear()
	for i := range st.oneTimeKeys {
		st.oneTimeKeys[i].key.clear()
	}
	clear(st.oneTimeKeys)
	st.oneTimeKeys = nil
	for i := range st.fallback {
		st.fallback[i].key.clear()
	}
	st.fallback = [2]oneTimeKey{}
	st.numFallback = 0
	clear(st.usedPreKeys)
	st.usedPreKeys = nil
	return nil
}

// Curve25519Key returns the account's Curve25519 identity key.
func (a *Account) Curve25519Key() Curve25519PublicKey {
	st, err := a.lock("curve25519 key")
	if err != nil {
		return Curve25519PublicKey{}
	}
	defer st.mu.Unlock()
	return st.identity.pub
}

// Ed25519Key returns the account's Ed25519 identity (fingerprint) key.
func (a *Account) Ed25519Key() Ed25519PublicKey {
	st, err := a.lock("ed25519 key")
	if err != nil {
		return Ed25519PublicKey{}
	}
	defer st.mu.Unlock()
	return Ed25519PublicKey(st.signing.Public())
}

// IdentityKeys returns both identity keys.
func (a *Account) IdentityKeys() (Curve25519PublicKey, Ed25519PublicKey) {
	st, err := a.lock("identity keys")
	if err != nil {
		return Curve25519PublicKey{}, Ed25519PublicKey{}
	}
	defer st.mu.Unlock()
	return st.identity.pub, Ed25519PublicKey(st.signing.Public())
}

// Sign signs message with the Ed25519 identity key. Signatures are those of
// libolm for the same key. A zero or closed account returns the zero
// signature, which verifies under no key.
func (a *Account) Sign(message []byte) Ed25519Signature {
	st, err := a.lock("sign")
	if err != nil {
		return Ed25519Signature{}
	}
	defer st.mu.Unlock()
	return st.sign(message)
}

func (a *account) sign(message []byte) Ed25519Signature {
	if a.checkKeys() != nil {
		return Ed25519Signature{}
	}
	return Ed25519Signature(a.signing.Sign(message))
}

// checkKeys checks, once, that the identity key pairs of an account read
// from libolm's pickle format match: that the Ed25519 public key is the
// signing scalar times the base point (a signature made with another public
// key in its hash would let two signatures of one message reveal the
// scalar), and that the Curve25519 public key is the private key's. It
// costs two fixed-base scalar multiplications, paid before the first
// signature or Diffie-Hellman instead of when the pickle is read. A failed
// check is kept: such an account signs nothing and opens no session, with
// errors wrapping ErrCorruptedPickle.
func (a *account) checkKeys() error {
	if !a.keysUnchecked {
		return a.keysErr
	}
	a.keysUnchecked = false
	exp, pub := a.signing.Expanded(), a.signing.Public()
	_, err := ed25519.NewKeyFromExpanded(exp[:], pub[:])
	clear(exp[:])
	if err != nil {
		a.keysErr = fmt.Errorf("ed25519 identity key does not match its private key: %w", ErrCorruptedPickle)
		return a.keysErr
	}
	if x25519.PublicKey(&a.identity.priv) != a.identity.pub {
		a.keysErr = fmt.Errorf("curve25519 identity key does not match its private key: %w", ErrCorruptedPickle)
	}
	return a.keysErr
}

// MaxNumberOfOneTimeKeys returns the number of one-time keys the server
// should hold for this device: MaxNumberOfOneTimeKeys.
func (a *Account) MaxNumberOfOneTimeKeys() int { return MaxNumberOfOneTimeKeys }

// GenerateOneTimeKeys creates n one-time keys from crypto/rand. Each gets the
// next key ID. When the account holds more than MaxOneTimeKeys, the oldest
// keys are dropped. n must be between 0 and MaxOneTimeKeys (otherwise the
// error wraps ErrKeyCount).
func (a *Account) GenerateOneTimeKeys(n int) error {
	if n < 0 || n > MaxOneTimeKeys {
		return fmt.Errorf("olm: generate %d one-time keys, not in 0..%d: %w", n, MaxOneTimeKeys, ErrKeyCount)
	}
	random := make([]byte, 32*n)
	rand.Read(random)
	defer clear(random)
	st, err := a.lock("generate one-time keys")
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	return st.generateOneTimeKeys(random)
}

// generateOneTimeKeys creates one key per 32 random bytes.
func (a *account) generateOneTimeKeys(random []byte) error {
	if len(random)%32 != 0 {
		panic("olm: generateOneTimeKeys needs a multiple of 32 random bytes")
	}
	n := len(random) / 32
	keys := make([]oneTimeKey, n)
	for i := range keys {
		keys[i].id = KeyID(a.nextKeyID + uint32(i) + 1)
		if err := keys[i].key.set(random[32*i : 32*i+32]); err != nil {
			for j := range keys {
				keys[j].key.clear()
			}
			return fmt.Errorf("olm: generate one-time keys: %w", err)
		}
	}
	a.nextKeyID += uint32(n)
	if len(a.oneTimeKeys)+n > cap(a.oneTimeKeys) {
		// Grow by hand, clearing the old array: append would leave a copy
		// of every private key in it.
		grown := make([]oneTimeKey, len(a.oneTimeKeys), max(2*cap(a.oneTimeKeys), len(a.oneTimeKeys)+n))
		copy(grown, a.oneTimeKeys)
		for i := range a.oneTimeKeys {
			a.oneTimeKeys[i].key.clear()
		}
		a.oneTimeKeys = grown
	}
	a.oneTimeKeys = append(a.oneTimeKeys, keys...)
	for i := range keys {
		keys[i].key.clear()
	}
	if over := len(a.oneTimeKeys) - MaxOneTimeKeys; over > 0 {
		for i := range over {
			a.oneTimeKeys[i].key.clear()
			a.forgetPreKeys(a.oneTimeKeys[i].id)
		}
		n := copy(a.oneTimeKeys, a.oneTimeKeys[over:])
		clear(a.oneTimeKeys[n:])
		a.oneTimeKeys = a.oneTimeKeys[:n]
	}
	return nil
}

// OneTimeKeys returns the one-time keys not yet marked as published, by key
// ID.
func (a *Account) OneTimeKeys() map[KeyID]Curve25519PublicKey {
	st, err := a.lock("one-time keys")
	if err != nil {
		return map[KeyID]Curve25519PublicKey{}
	}
	defer st.mu.Unlock()
	return st.unpublishedKeys()
}

func (a *account) unpublishedKeys() map[KeyID]Curve25519PublicKey {
	m := make(map[KeyID]Curve25519PublicKey)
	for _, k := range a.oneTimeKeys {
		if !k.published {
			m[k.id] = k.key.pub
		}
	}
	return m
}

// MarkKeysAsPublished marks every one-time key and the current fallback key
// as published, after a successful /keys/upload.
func (a *Account) MarkKeysAsPublished() {
	st, err := a.lock("mark keys as published")
	if err != nil {
		return
	}
	defer st.mu.Unlock()
	st.markKeysAsPublished()
}

func (a *account) markKeysAsPublished() {
	for i := range a.oneTimeKeys {
		a.oneTimeKeys[i].published = true
	}
	if a.numFallback > 0 {
		a.fallback[0].published = true
	}
}

// GenerateFallbackKey creates a new fallback key from crypto/rand. The
// current one becomes the previous one, and the previous one is forgotten.
func (a *Account) GenerateFallbackKey() error {
	random := make([]byte, 32) // in the heap: see NewAccount
	rand.Read(random)
	defer clear(random)
	st, err := a.lock("generate fallback key")
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	return st.generateFallbackKey(random)
}

func (a *account) generateFallbackKey(random []byte) error {
	if len(random) != 32 {
		return fmt.Errorf("olm: generate fallback key: %w: private key of %d bytes", ErrBadPublicKey, len(random))
	}
	a.nextKeyID++
	if a.numFallback == 2 {
		a.fallback[1].key.clear()
		a.forgetPreKeys(a.fallback[1].id)
	}
	a.fallback[1] = a.fallback[0]
	a.fallback[0] = oneTimeKey{id: KeyID(a.nextKeyID)}
	a.fallback[0].key.set(random) // cannot fail: 32 bytes
	a.numFallback = min(a.numFallback+1, 2)
	return nil
}

// FallbackKeyInfo describes an account's current fallback key.
type FallbackKeyInfo struct {
	// ID is the key's ID, as in "signed_curve25519:<ID>".
	ID KeyID
	// Key is the public key.
	Key Curve25519PublicKey
	// Published reports whether MarkKeysAsPublished has been called since
	// the key was generated.
	Published bool
	// Used reports whether a pre-key message has opened a session with
	// the key (since the account was created or read from souverain's own
	// pickle format; libolm's format does not keep it, so an account read
	// from it reports false until the key is used again).
	Used bool
}

// CurrentFallbackKey returns the account's current fallback key, published
// or not; ok is false only when the account has none (or is zero or
// closed). A client generates a new fallback key when it has none, or when
// the current one has been used (here, or as the server reports with
// device_unused_fallback_key_types), not on every sync: peers that claimed
// the current key still need it, and the previous one is kept until
// ForgetOldFallbackKey.
func (a *Account) CurrentFallbackKey() (info FallbackKeyInfo, ok bool) {
	st, err := a.lock("current fallback key")
	if err != nil {
		return FallbackKeyInfo{}, false
	}
	defer st.mu.Unlock()
	if st.numFallback == 0 {
		return FallbackKeyInfo{}, false
	}
	k := &st.fallback[0]
	return FallbackKeyInfo{ID: k.id, Key: k.key.pub, Published: k.published, Used: k.used}, true
}

// FallbackKey is the former name of UnpublishedFallbackKey.
//
// Deprecated: ok false does not mean that the account has no fallback key;
// use UnpublishedFallbackKey, or CurrentFallbackKey to know whether one
// exists and has been used.
func (a *Account) FallbackKey() (id KeyID, key Curve25519PublicKey, ok bool) {
	return a.UnpublishedFallbackKey()
}

// UnpublishedFallbackKey returns the current fallback key if it has not been
// marked as published, to upload it; ok is false otherwise, also when a
// published fallback key exists (see CurrentFallbackKey).
func (a *Account) UnpublishedFallbackKey() (id KeyID, key Curve25519PublicKey, ok bool) {
	st, err := a.lock("unpublished fallback key")
	if err != nil {
		return 0, Curve25519PublicKey{}, false
	}
	defer st.mu.Unlock()
	return st.unpublishedFallbackKey()
}

func (a *account) unpublishedFallbackKey() (id KeyID, key Curve25519PublicKey, ok bool) {
	if a.numFallback == 0 || a.fallback[0].published {
		return 0, Curve25519PublicKey{}, false
	}
	return a.fallback[0].id, a.fallback[0].key.pub, true
}

// ForgetOldFallbackKey forgets the previous fallback key. The specification
// advises doing so once the new one has been in use for a while (an hour).
func (a *Account) ForgetOldFallbackKey() {
	st, err := a.lock("forget old fallback key")
	if err != nil {
		return
	}
	defer st.mu.Unlock()
	if st.numFallback == 2 {
		st.fallback[1].key.clear()
		st.forgetPreKeys(st.fallback[1].id)
		st.fallback[1] = oneTimeKey{}
		st.numFallback = 1
	}
}

// findKey returns the one-time or fallback key with the public key pub,
// and its index in oneTimeKeys (-1 for a fallback key).
func (a *account) findKey(pub Curve25519PublicKey) (*oneTimeKey, int) {
	for i := range a.oneTimeKeys {
		if a.oneTimeKeys[i].key.pub == pub {
			return &a.oneTimeKeys[i], i
		}
	}
	for i := range a.numFallback {
		if a.fallback[i].key.pub == pub {
			return &a.fallback[i], -1
		}
	}
	return nil, -1
}

// removeOneTimeKey removes oneTimeKeys[i] in place, with its records.
func (a *account) removeOneTimeKey(i int) {
	a.oneTimeKeys[i].key.clear()
	a.forgetPreKeys(a.oneTimeKeys[i].id)
	last := len(a.oneTimeKeys) - 1
	copy(a.oneTimeKeys[i:], a.oneTimeKeys[i+1:])
	a.oneTimeKeys[last] = oneTimeKey{}
	a.oneTimeKeys = a.oneTimeKeys[:last]
}

// preKeyUsed reports whether a pre-key message with this session ID has
// opened a session already. At most MaxPreKeyRecords comparisons.
func (a *account) preKeyUsed(id *[32]byte) bool {
	for i := range a.usedPreKeys {
		if a.usedPreKeys[i].sessionID == *id {
			return true
		}
	}
	return false
}

// recordPreKey remembers a pre-key message that opened a session on the key
// keyID, forgetting the oldest record when MaxPreKeyRecords are held.
func (a *account) recordPreKey(keyID KeyID, id *[32]byte) {
	if len(a.usedPreKeys) >= MaxPreKeyRecords {
		n := copy(a.usedPreKeys, a.usedPreKeys[len(a.usedPreKeys)-MaxPreKeyRecords+1:])
		a.usedPreKeys = a.usedPreKeys[:n]
	}
	a.usedPreKeys = append(a.usedPreKeys, preKeyRecord{keyID: keyID, sessionID: *id})
}

// forgetPreKeys drops the records of a key the account no longer holds: a
// message on that key is refused with ErrUnknownOneTimeKey anyway.
func (a *account) forgetPreKeys(keyID KeyID) {
	kept := a.usedPreKeys[:0]
	for _, r := range a.usedPreKeys {
		if r.keyID != keyID {
			kept = append(kept, r)
		}
	}
	clear(a.usedPreKeys[len(kept):])
	a.usedPreKeys = kept
}

// NewOutboundSession opens a version 1 session to the device with identity
// key theirIdentityKey, using one of its one-time or fallback keys (whose
// signature the caller must have checked). It reads 64 bytes from
// crypto/rand.
func (a *Account) NewOutboundSession(theirIdentityKey, theirOneTimeKey Curve25519PublicKey) (*Session, error) {
	return a.NewOutboundSessionWithConfig(SessionConfigV1(), theirIdentityKey, theirOneTimeKey)
}

// NewOutboundSessionWithConfig is NewOutboundSession with a chosen protocol
// version.
func (a *Account) NewOutboundSessionWithConfig(config SessionConfig, theirIdentityKey, theirOneTimeKey Curve25519PublicKey) (*Session, error) {
	random := make([]byte, 64) // in the heap: see NewAccount
	rand.Read(random)
	defer clear(random)
	st, err := a.lock("outbound session")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	if err := st.checkKeys(); err != nil {
		return nil, wrapOp("outbound session", err)
	}
	var s *Session
	wipe.Do(func() {
		s, err = newOutboundSession(config, &st.identity, theirIdentityKey, theirOneTimeKey, random)
	})
	return s, err
}

// NewInboundSession creates a version 1 session from a pre-key message sent
// by the device with identity key theirIdentityKey, and decrypts the message.
// The session exists only if the message decrypts: on any error nothing
// changes. On success the one-time key the message used is removed from the
// account (a fallback key stays).
//
// A pre-key message opens a session once (SECURITY 18): its replay is
// refused with ErrPreKeyReplay while the account still holds the key it
// used (a fallback key), and with ErrUnknownOneTimeKey once a one-time key
// is gone. The record of used messages is bounded (MaxPreKeyRecords) and
// kept by Pickle; libolm's pickle format has no room for it, so
// PickleLibolm drops it.
//
// The intended flow for a received pre-key message: first look for a
// session of the sender's identity key for which Session.Matches reports
// true, and decrypt with it (Alice sends pre-key messages until Bob
// replies, so later messages of a session Bob holds are pre-key messages
// too; the session decrypts each once). Only when none matches, call
// NewInboundSession, and store the session and the account together. A
// store that also remembers the session IDs it has created (Session.SessionID)
// covers what the account's bounded record and libolm pickles cannot.
//
// Errors wrap ErrSessionMismatch (the message comes from another identity
// key), ErrUnknownOneTimeKey, ErrPreKeyReplay, ErrSessionConfig,
// ErrBadPublicKey, or the errors of Session.Decrypt.
func (a *Account) NewInboundSession(theirIdentityKey Curve25519PublicKey, m *PreKeyMessage) (*Session, []byte, error) {
	return a.NewInboundSessionWithConfig(SessionConfigV1(), theirIdentityKey, m)
}

// NewInboundSessionWithConfig is NewInboundSession for a session of the
// given protocol version; a message of another version is refused.
func (a *Account) NewInboundSessionWithConfig(config SessionConfig, theirIdentityKey Curve25519PublicKey, m *PreKeyMessage) (*Session, []byte, error) {
	st, err := a.lock("inbound session")
	if err != nil {
		return nil, nil, err
	}
	defer st.mu.Unlock()
	var (
		s         *Session
		plaintext []byte
	)
	wipe.Do(func() { s, plaintext, err = st.newInboundSession(config, theirIdentityKey, m) })
	return s, plaintext, err
}

// NewInboundSessionKeepKey is NewInboundSession for callers that follow
// libolm's order of steps (the mautrix-go driver): create the session and
// decrypt its first message, store it, then remove the one-time key with
// RemoveOneTimeKeys. It checks and decrypts the message exactly as
// NewInboundSession does, so that a forged pre-key message fails here and
// changes nothing, but it leaves the one-time key in the account. The
// record of used pre-key messages holds meanwhile: until RemoveOneTimeKeys,
// the same message is refused with ErrPreKeyReplay (and afterwards with
// ErrUnknownOneTimeKey). The session is a version 1 session.
func (a *Account) NewInboundSessionKeepKey(theirIdentityKey Curve25519PublicKey, m *PreKeyMessage) (*Session, []byte, error) {
	st, err := a.lock("inbound session")
	if err != nil {
		return nil, nil, err
	}
	defer st.mu.Unlock()
	var (
		s         *Session
		plaintext []byte
	)
	wipe.Do(func() { s, plaintext, err = st.newInboundSessionKeep(SessionConfigV1(), theirIdentityKey, m, true) })
	return s, plaintext, err
}

// RemoveOneTimeKeys removes from the account the one-time key that s, an
// inbound session of this account, was created with: the second step after
// NewInboundSessionKeepKey. A fallback key stays, and is no error. The
// session may have been pickled and read back since: it names its key.
// Errors wrap ErrUnknownOneTimeKey (the account does not hold the key: it
// was removed already, or s is an outbound session or another account's),
// ErrNil or ErrClosed.
func (a *Account) RemoveOneTimeKeys(s *Session) error {
	const op = "remove one-time keys"
	st, err := a.lock(op)
	if err != nil {
		return err
	}
	defer st.mu.Unlock()
	ss, err := s.lock(op)
	if err != nil {
		return err
	}
	key := ss.bobOneTime
	ss.mu.Unlock()
	k, index := st.findKey(key)
	switch {
	case k == nil:
		return fmt.Errorf("olm: %s: %w", op, ErrUnknownOneTimeKey)
	case index >= 0:
		st.removeOneTimeKey(index)
	}
	return nil
}

func (a *account) newInboundSession(config SessionConfig, theirIdentityKey Curve25519PublicKey, m *PreKeyMessage) (*Session, []byte, error) {
	return a.newInboundSessionKeep(config, theirIdentityKey, m, false)
}

// newInboundSessionKeep creates an inbound session; keep leaves a one-time
// key in the account (recording the message, as for a fallback key).
func (a *account) newInboundSessionKeep(config SessionConfig, theirIdentityKey Curve25519PublicKey, m *PreKeyMessage, keep bool) (*Session, []byte, error) {
	if m == nil || m.message == nil {
		return nil, nil, fmt.Errorf("olm: inbound session: %w", ErrBadMessageFormat)
	}
	if m.identityKey != theirIdentityKey {
		return nil, nil, fmt.Errorf("olm: inbound session: identity key: %w", ErrSessionMismatch)
	}
	if m.message.version != config.messageVersion() {
		return nil, nil, fmt.Errorf("olm: inbound session: message version %d for a version %d session: %w", m.message.version, config.Version(), ErrSessionConfig)
	}
	if err := a.checkKeys(); err != nil {
		return nil, nil, wrapOp("inbound session", err)
	}
	oneTime, index := a.findKey(m.oneTimeKey)
	if oneTime == nil {
		return nil, nil, fmt.Errorf("olm: inbound session: %w", ErrUnknownOneTimeKey)
	}
	id := sessionIDHash(m.identityKey, m.baseKey, m.oneTimeKey)
	if a.preKeyUsed(&id) {
		return nil, nil, fmt.Errorf("olm: inbound session: %w", ErrPreKeyReplay)
	}
	s, err := newInboundSession(config, &a.identity, &oneTime.key, m)
	if err != nil {
		return nil, nil, wrapOp("inbound session", err)
	}
	plaintext, err := s.st.decrypt(m.message)
	if err != nil {
		s.Close()
		return nil, nil, wrapOp("inbound session", err)
	}
	switch {
	case index >= 0 && !keep:
		a.removeOneTimeKey(index)
	case index >= 0:
		a.recordPreKey(oneTime.id, &id)
	default:
		oneTime.used = true
		a.recordPreKey(oneTime.id, &id)
	}
	return s, plaintext, nil
}

// DeviceKeys returns the signed device_keys object for /keys/upload: the
// algorithms this library speaks, both identity keys under
// "<algorithm>:<deviceID>", and a signature by the Ed25519 key over the
// object's canonical JSON, under the user ID.
func (a *Account) DeviceKeys(userID, deviceID string) ([]byte, error) {
	if userID == "" || deviceID == "" {
		return nil, fmt.Errorf("olm: device keys: empty user or device ID: %w", ErrNil)
	}
	st, err := a.lock("device keys")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	obj := map[string]any{
		"algorithms": []any{AlgorithmOlm, AlgorithmMegolm},
		"device_id":  deviceID,
		"keys": map[string]any{
			"curve25519:" + deviceID: st.identity.pub.String(),
			"ed25519:" + deviceID:    Ed25519PublicKey(st.signing.Public()).String(),
		},
		"user_id": userID,
	}
	return st.signJSON(obj, userID, deviceID)
}

// SignedOneTimeKeys returns the unpublished one-time keys as the
// "signed_curve25519:<key ID>" objects of /keys/upload, each signed by the
// device under the user ID.
func (a *Account) SignedOneTimeKeys(userID, deviceID string) (map[string]json.RawMessage, error) {
	st, err := a.lock("signed one-time keys")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	out := make(map[string]json.RawMessage)
	for id, key := range st.unpublishedKeys() {
		b, err := st.signJSON(map[string]any{"key": key.String()}, userID, deviceID)
		if err != nil {
			return nil, err
		}
		out["signed_curve25519:"+id.String()] = b
	}
	return out, nil
}

// SignedFallbackKeys returns the unpublished fallback key, if any, as the
// "signed_curve25519:<key ID>" object (with "fallback": true) of the
// fallback_keys field of /keys/upload.
func (a *Account) SignedFallbackKeys(userID, deviceID string) (map[string]json.RawMessage, error) {
	st, err := a.lock("signed fallback keys")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	out := make(map[string]json.RawMessage)
	if id, key, ok := st.unpublishedFallbackKey(); ok {
		b, err := st.signJSON(map[string]any{"key": key.String(), "fallback": true}, userID, deviceID)
		if err != nil {
			return nil, err
		}
		out["signed_curve25519:"+id.String()] = b
	}
	return out, nil
}

// signJSON signs the canonical JSON of obj (which has no signatures or
// unsigned fields) and returns it with the signature added.
func (a *account) signJSON(obj map[string]any, userID, deviceID string) ([]byte, error) {
	if userID == "" || deviceID == "" {
		return nil, fmt.Errorf("olm: sign JSON: empty user or device ID: %w", ErrNil)
	}
	if err := a.checkKeys(); err != nil {
		return nil, wrapOp("sign JSON", err)
	}
	canonical, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("olm: sign JSON: %w", err)
	}
	sig := a.sign(canonical)
	obj["signatures"] = map[string]any{userID: map[string]any{"ed25519:" + deviceID: sig.String()}}
	out, err := canonicaljson.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("olm: sign JSON: %w", err)
	}
	return out, nil
}

// Format prints the account's public identity keys and never its secrets,
// whatever the verb.
func (a Account) Format(f fmt.State, verb rune) {
	st, err := a.lock("format")
	switch {
	case errors.Is(err, ErrClosed):
		fmt.Fprint(f, "olm.Account{closed}")
		return
	case err != nil:
		fmt.Fprint(f, "olm.Account{}")
		return
	}
	curve, ed := st.identity.pub, Ed25519PublicKey(st.signing.Public())
	st.mu.Unlock()
	fmt.Fprintf(f, "olm.Account{Curve25519: %s, Ed25519: %s}", curve, ed)
}
