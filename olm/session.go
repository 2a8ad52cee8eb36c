package olm

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/wipe"
)

// Limits on what a session keeps and computes. The values are libolm's
// (src/ratchet.cpp, include/olm/ratchet.hh) and vodozemac's; a message beyond
// a limit is refused with an error, it never takes a slow path.
const (
	// MaxReceiverChains is the number of receiver chains a session keeps;
	// the oldest is dropped when a new one starts (libolm and vodozemac: 5).
	MaxReceiverChains = 5
	// MaxSkippedMessageKeys is the number of message keys kept per
	// receiver chain for messages that were skipped and may still arrive;
	// the oldest of the chain is dropped first (vodozemac: 40 per chain;
	// SECURITY 14). Servers deliver to-device messages in order, so more
	// would only add risk. A session holds at most MaxReceiverChains ×
	// MaxSkippedMessageKeys = 200 in all, dropping the oldest first; as in
	// libolm, the keys of a chain that was dropped stay in that count until
	// they are the oldest (they no longer decrypt anything), which keeps the
	// state identical to libolm's whenever libolm's limit is not reached.
	// libolm keeps 40 per session, and so does its pickle format:
	// Session.PickleLibolm writes the newest 40 and drops the others.
	MaxSkippedMessageKeys = 40
	// MaxMessageGap is how far ahead of its chain a message index may be:
	// at most that many chain steps are computed for one message (libolm
	// and vodozemac: 2000).
	MaxMessageGap = 2000
)

// maxSkippedPerSession is the number of skipped message keys a session
// holds in all (see MaxSkippedMessageKeys).
const maxSkippedPerSession = MaxReceiverChains * MaxSkippedMessageKeys

// HKDF info strings and chain-key seeds of the Olm specification.
const (
	infoRoot    = "OLM_ROOT"
	infoRatchet = "OLM_RATCHET"
	seedMessage = 0x01
	seedChain   = 0x02
)

// SessionConfig selects the protocol version of a session. Version 1 is
// libolm's and the default everywhere in this package; version 2 (vodozemac's
// full-length MAC) is only used when asked for by name, because libolm and
// goolm cannot read it.
type SessionConfig struct {
	version int
}

// SessionConfigV1 returns the configuration of libolm's sessions: messages
// of version 3 with 8-byte MACs.
func SessionConfigV1() SessionConfig { return SessionConfig{version: 1} }

// SessionConfigV2 returns vodozemac's version 2: messages of version 4 with
// 32-byte MACs. Only vodozemac-based peers that enable it can read them.
func SessionConfigV2() SessionConfig { return SessionConfig{version: 2} }

// Version returns 1 or 2.
func (c SessionConfig) Version() int {
	if c.version == 2 {
		return 2
	}
	return 1
}

func (c SessionConfig) messageVersion() byte {
	if c.Version() == 2 {
		return versionFullMAC
	}
	return versionTruncatedMAC
}

type chainKey struct {
	key   [32]byte
	index uint32
}

// advance moves the chain key one step: C' = HMAC-SHA-256(C, 0x02).
func (c *chainKey) advance() {
	c.key = cipher.HMACByte(&c.key, seedChain)
	c.index++
}

// messageKey returns M = HMAC-SHA-256(C, 0x01).
func (c *chainKey) messageKey() [32]byte {
	return cipher.HMACByte(&c.key, seedMessage)
}

type senderChain struct {
	ratchet curveKey
	chain   chainKey
}

// clear wipes the chain's ratchet private key and chain key.
func (c *senderChain) clear() {
	c.ratchet.clear()
	clear(c.chain.key[:])
}

type receiverChain struct {
	ratchetKey Curve25519PublicKey
	chain      chainKey
}

type skippedKey struct {
	ratchetKey Curve25519PublicKey
	key        [32]byte
	index      uint32
}

// Session is an Olm session: a double ratchet between two devices. It is
// secret.
//
// A Session is safe for concurrent use: each method holds the session's
// lock while it runs, so that two goroutines never use one message key or
// chain step. A Session value is a handle: copies of it share the one state.
// Close wipes its ratchet when it is no longer needed.
type Session struct {
	st *session
}

// session is a Session's state, guarded by mu.
type session struct {
	mu            sync.Mutex
	closed        bool
	config        SessionConfig
	received      bool
	aliceIdentity Curve25519PublicKey
	aliceBase     Curve25519PublicKey
	bobOneTime    Curve25519PublicKey
	rootKey       [32]byte
	sender        *senderChain    // nil until the next message is sent
	receivers     []receiverChain // newest first, at most MaxReceiverChains
	skipped       []skippedKey    // newest first, at most MaxSkippedMessageKeys per receiver chain
}

func sessionID(aliceIdentity, aliceBase, bobOneTime Curve25519PublicKey) string {
	h := sessionIDHash(aliceIdentity, aliceBase, bobOneTime)
	return base64.RawStdEncoding.EncodeToString(h[:])
}

// sessionIDHash returns SHA-256(Alice's identity key ‖ base key ‖ Bob's
// one-time key), the session ID before base64.
func sessionIDHash(aliceIdentity, aliceBase, bobOneTime Curve25519PublicKey) [32]byte {
	var b [3 * Curve25519KeySize]byte
	copy(b[:], aliceIdentity[:])
	copy(b[32:], aliceBase[:])
	copy(b[64:], bobOneTime[:])
	return sha256.Sum256(b[:])
}

// lock locks the session's state and returns it; the caller unlocks it. It
// returns an error wrapping ErrNil for a nil or zero Session and ErrClosed
// after Close, and then nothing is locked.
func (s *Session) lock(op string) (*session, error) {
	if s == nil || s.st == nil {
		return nil, fmt.Errorf("olm: %s: %w", op, ErrNil)
	}
	s.st.mu.Lock()
	if s.st.closed {
		s.st.mu.Unlock()
		return nil, fmt.Errorf("olm: %s: %w", op, ErrClosed)
	}
	return s.st, nil
}

// Close wipes the session's ratchet: root key, chain keys, ratchet private
// key and skipped message keys. It is idempotent and always returns nil.
// Afterwards every method fails with an error wrapping ErrClosed, and the
// methods without an error result return zero values (an empty session ID,
// false).
func (s *Session) Close() error {
	if s == nil || s.st == nil {
		return nil
	}
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	st.closed = true
	clear(st.rootKey[:])
	if st.sender != nil {
		st.sender.clear()
		st.sender = nil
	}
	clear(st.receivers)
	st.receivers = nil
	clear(st.skipped)
	st.skipped = nil
	return nil
}

// SessionID returns the session's ID: the unpadded base64 of
// SHA-256(Alice's identity key ‖ base key ‖ Bob's one-time key), the same on
// both ends and the same as libolm's.
func (s *Session) SessionID() string {
	st, err := s.lock("session ID")
	if err != nil {
		return ""
	}
	defer st.mu.Unlock()
	return sessionID(st.aliceIdentity, st.aliceBase, st.bobOneTime)
}

// Config returns the session's configuration.
func (s *Session) Config() SessionConfig {
	st, err := s.lock("config")
	if err != nil {
		return SessionConfig{}
	}
	defer st.mu.Unlock()
	return st.config
}

// HasReceivedMessage reports whether the session has decrypted a message.
// Until it has, Encrypt produces pre-key messages.
func (s *Session) HasReceivedMessage() bool {
	st, err := s.lock("has received message")
	if err != nil {
		return false
	}
	defer st.mu.Unlock()
	return st.received
}

// Matches reports whether a pre-key message was made for this session: its
// one-time key, base key and identity key are the session's.
func (s *Session) Matches(m *PreKeyMessage) bool {
	st, err := s.lock("matches")
	if err != nil {
		return false
	}
	defer st.mu.Unlock()
	return st.matches(m)
}

func (s *session) matches(m *PreKeyMessage) bool {
	return m != nil && m.oneTimeKey == s.bobOneTime && m.baseKey == s.aliceBase && m.identityKey == s.aliceIdentity
}

// deriveRoot expands the triple Diffie-Hellman secret into the first root
// key and chain key.
func deriveRoot(secret []byte) (root, chain [32]byte) {
	var out [64]byte
	cipher.HKDF(out[:], secret, nil, infoRoot)
	copy(root[:], out[:32])
	copy(chain[:], out[32:])
	clear(out[:])
	return root, chain
}

// advanceRoot derives the next root key and a new chain key from the
// current root key and a ratchet Diffie-Hellman result.
func advanceRoot(root [32]byte, shared []byte) (newRoot, chain [32]byte) {
	var out [64]byte
	cipher.HKDF(out[:], shared, &root, infoRatchet)
	copy(newRoot[:], out[:32])
	copy(chain[:], out[32:])
	clear(out[:])
	return newRoot, chain
}

// newOutboundSession runs Alice's side of the handshake with 64 random
// bytes: the base key, then the first ratchet key.
func newOutboundSession(config SessionConfig, identity *curveKey, theirIdentity, theirOneTime Curve25519PublicKey, random []byte) (*Session, error) {
	if len(random) != 64 {
		panic("olm: newOutboundSession needs 64 random bytes")
	}
	var base curveKey // the base key is used here only, and cleared
	defer base.clear()
	if err := base.set(random[:32]); err != nil {
		return nil, err
	}
	sender := &senderChain{}
	if err := sender.ratchet.set(random[32:]); err != nil {
		return nil, err
	}
	secret := make([]byte, 0, 96)
	defer clear(secret[:cap(secret)])
	for _, p := range []struct {
		k     *curveKey
		their Curve25519PublicKey
	}{{identity, theirOneTime}, {&base, theirIdentity}, {&base, theirOneTime}} {
		s, err := p.k.dh(p.their)
		if err != nil {
			sender.clear()
			return nil, fmt.Errorf("olm: outbound session: %w", err)
		}
		secret = append(secret, s[:]...)
		clear(s[:])
	}
	st := &session{
		config:        config,
		aliceIdentity: identity.pub,
		aliceBase:     base.pub,
		bobOneTime:    theirOneTime,
		sender:        sender,
	}
	st.rootKey, sender.chain.key = deriveRoot(secret)
	return &Session{st: st}, nil
}

// newInboundSession runs Bob's side of the handshake for a pre-key message.
// It does not decrypt; the caller commits the session only once the first
// message has decrypted.
func newInboundSession(config SessionConfig, identity, oneTime *curveKey, m *PreKeyMessage) (*Session, error) {
	secret := make([]byte, 0, 96)
	for _, p := range []struct {
		k     *curveKey
		their Curve25519PublicKey
	}{{oneTime, m.identityKey}, {identity, m.baseKey}, {oneTime, m.baseKey}} {
		s, err := p.k.dh(p.their)
		if err != nil {
			return nil, fmt.Errorf("olm: inbound session: %w", err)
		}
		secret = append(secret, s[:]...)
	}
	root, chain := deriveRoot(secret)
	clear(secret)
	return &Session{st: &session{
		config:        config,
		aliceIdentity: m.identityKey,
		aliceBase:     m.baseKey,
		bobOneTime:    oneTime.pub,
		rootKey:       root,
		receivers:     []receiverChain{{ratchetKey: m.message.ratchetKey, chain: chainKey{key: chain}}},
	}}, nil
}

// Encrypt encrypts plaintext for the other end. Until the session has
// received a message, the result is a *PreKeyMessage; after that, a
// *NormalMessage. A plaintext whose message would exceed MaxMessageSize is
// refused with ErrMessageTooLarge and the session is unchanged. When the session must start a new sending chain, Encrypt
// reads 32 bytes from crypto/rand for the new ratchet key.
func (s *Session) Encrypt(plaintext []byte) (Message, error) {
	st, err := s.lock("encrypt")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	var random []byte
	if st.sender == nil {
		random = make([]byte, 32)
		rand.Read(random)
		defer clear(random)
	}
	var out Message
	wipe.Do(func() { out, err = st.encrypt(plaintext, random) })
	return out, err
}

// encrypt is Encrypt with the ratchet key's random bytes given; random is
// only used when a new sending chain starts.
func (s *session) encrypt(plaintext, random []byte) (Message, error) {
	sender := s.sender
	root := s.rootKey
	defer clear(root[:])
	if sender == nil {
		if len(random) != 32 {
			panic("olm: encrypt needs 32 random bytes for a new chain")
		}
		if len(s.receivers) == 0 {
			return nil, fmt.Errorf("olm: encrypt: session has no chain: %w", ErrCorruptedPickle)
		}
		sender = &senderChain{}
		if err := sender.ratchet.set(random); err != nil {
			return nil, err
		}
		shared, err := sender.ratchet.dh(s.receivers[0].ratchetKey)
		if err != nil {
			sender.clear()
			return nil, fmt.Errorf("olm: encrypt: %w", err)
		}
		root, sender.chain.key = advanceRoot(root, shared[:])
		clear(shared[:])
	}
	mk := sender.chain.messageKey()
	keys := cipher.Derive(mk[:], cipher.InfoOlm)
	clear(mk[:])
	msg := encryptNormal(s.config.messageVersion(), sender.ratchet.pub, sender.chain.index, &keys, plaintext)
	keys.Clear()
	var out Message = msg
	if !s.received {
		out = newPreKeyMessage(s.bobOneTime, s.aliceBase, s.aliceIdentity, msg)
	}
	if n := len(out.Bytes()); n > MaxMessageSize {
		if sender != s.sender {
			sender.clear()
			clear(root[:])
		}
		return nil, fmt.Errorf("olm: encrypt: message of %d bytes: %w", n, ErrMessageTooLarge)
	}
	// Commit.
	sender.chain.advance()
	s.sender = sender
	s.rootKey = root
	return out, nil
}

// Decrypt authenticates and decrypts a message from the other end. It is
// all or nothing: on any error the session is left exactly as it was. A
// pre-key message must match the session (see Matches).
//
// Errors wrap ErrBadMessageMAC, ErrBadMessageFormat, ErrBadMessageVersion,
// ErrMessageGap, ErrMessageKeyNotFound, ErrUnknownChain, ErrSessionMismatch
// or ErrBadPublicKey.
func (s *Session) Decrypt(m Message) ([]byte, error) {
	st, err := s.lock("decrypt")
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	var nm *NormalMessage
	switch m := m.(type) {
	case *PreKeyMessage:
		if m == nil || m.message == nil {
			return nil, fmt.Errorf("olm: decrypt: %w", ErrBadMessageFormat)
		}
		if !st.matches(m) {
			return nil, fmt.Errorf("olm: decrypt: %w", ErrSessionMismatch)
		}
		nm = m.message
	case *NormalMessage:
		if m == nil || m.raw == nil {
			return nil, fmt.Errorf("olm: decrypt: %w", ErrBadMessageFormat)
		}
		nm = m
	default:
		return nil, fmt.Errorf("olm: decrypt: message of type %T: %w", m, ErrBadMessageFormat)
	}
	var plaintext []byte
	wipe.Do(func() { plaintext, err = st.decrypt(nm) })
	return plaintext, err
}

func (s *session) decrypt(m *NormalMessage) ([]byte, error) {
	if m.version != s.config.messageVersion() {
		return nil, fmt.Errorf("olm: decrypt: message version %d in a version %d session: %w", m.version, s.config.Version(), ErrBadMessageVersion)
	}
	ci := -1
	for i := range s.receivers {
		if s.receivers[i].ratchetKey == m.ratchetKey {
			ci = i
			break
		}
	}

	if ci >= 0 && m.index < s.receivers[ci].chain.index {
		return s.decryptSkipped(m)
	}

	var (
		chain   chainKey
		newRoot [32]byte
	)
	if ci >= 0 {
		chain = s.receivers[ci].chain
	} else {
		// A new chain: the other end has turned the ratchet with a new key.
		if s.sender == nil {
			return nil, fmt.Errorf("olm: decrypt: %w", ErrUnknownChain)
		}
		shared, err := s.sender.ratchet.dh(m.ratchetKey)
		if err != nil {
			return nil, fmt.Errorf("olm: decrypt: ratchet key: %w", err)
		}
		newRoot, chain.key = advanceRoot(s.rootKey, shared[:])
		clear(shared[:])
	}
	// The copies of the chain key and the new root key are cleared on
	// every way out.
	defer clear(chain.key[:])
	defer clear(newRoot[:])
	if m.index-chain.index > MaxMessageGap {
		return nil, fmt.Errorf("olm: decrypt: index %d is %d past the chain: %w", m.index, m.index-chain.index, ErrMessageGap)
	}

	// Walk a copy of the chain to the message, keeping the newest skipped
	// keys; nothing is stored until the message has authenticated.
	var newSkipped []skippedKey
	for chain.index < m.index {
		if m.index-chain.index <= MaxSkippedMessageKeys {
			newSkipped = append(newSkipped, skippedKey{ratchetKey: m.ratchetKey, key: chain.messageKey(), index: chain.index})
		}
		chain.advance()
	}
	mk := chain.messageKey()
	plaintext, err := s.open(m, mk)
	clear(mk[:])
	if err != nil {
		for i := range newSkipped {
			clear(newSkipped[i].key[:])
		}
		return nil, err
	}

	// Commit.
	chain.advance()
	if ci >= 0 {
		s.receivers[ci].chain = chain
	} else {
		s.rootKey = newRoot
		s.pushReceiver(receiverChain{ratchetKey: m.ratchetKey, chain: chain})
		s.sender.clear()
		s.sender = nil
	}
	if len(newSkipped) > 0 {
		s.addSkipped(m.ratchetKey, newSkipped)
		clear(newSkipped)
	}
	s.received = true
	return plaintext, nil
}

// pushReceiver puts a new receiver chain first, dropping the oldest when
// MaxReceiverChains are kept. The list is shifted in place in an array of
// capacity MaxReceiverChains, so that the dropped chain's key is overwritten
// and no old copy of the list is left behind.
func (s *session) pushReceiver(c receiverChain) {
	rs := s.receivers
	if cap(rs) < MaxReceiverChains {
		grown := make([]receiverChain, len(rs), MaxReceiverChains)
		copy(grown, rs)
		clear(rs)
		rs = grown
	}
	if len(rs) < MaxReceiverChains {
		rs = rs[:len(rs)+1]
	}
	copy(rs[1:], rs[:len(rs)-1])
	rs[0] = c
	s.receivers = rs
}

// addSkipped stores the keys of messages skipped on the chain of ratchetKey
// (added is oldest first; the list is newest first) and keeps the newest
// MaxSkippedMessageKeys of that chain, and the newest maxSkippedPerSession
// in all. The list is changed in place and
// evicted keys are cleared; when it must grow, the old array is cleared.
func (s *session) addSkipped(ratchetKey Curve25519PublicKey, added []skippedKey) {
	n, k := len(s.skipped), len(added)
	if cap(s.skipped) < n+k {
		grown := make([]skippedKey, n, min(max(2*cap(s.skipped), n+k), maxSkippedPerSession+MaxSkippedMessageKeys))
		copy(grown, s.skipped)
		clear(s.skipped)
		s.skipped = grown
	}
	s.skipped = s.skipped[:n+k]
	copy(s.skipped[k:], s.skipped[:n])
	for i := range added {
		s.skipped[k-1-i] = added[i]
	}
	kept, count := 0, 0
	for i := range s.skipped {
		if s.skipped[i].ratchetKey == ratchetKey {
			if count++; count > MaxSkippedMessageKeys {
				continue
			}
		}
		s.skipped[kept] = s.skipped[i]
		kept++
	}
	kept = min(kept, maxSkippedPerSession)
	clear(s.skipped[kept:])
	s.skipped = s.skipped[:kept]
}

// decryptSkipped decrypts a message whose chain has moved past it, with a
// stored skipped key, and deletes the key once it has been used.
func (s *session) decryptSkipped(m *NormalMessage) ([]byte, error) {
	for i := range s.skipped {
		k := &s.skipped[i]
		if k.index != m.index || k.ratchetKey != m.ratchetKey {
			continue
		}
		plaintext, err := s.open(m, k.key)
		if err != nil {
			return nil, err
		}
		// Remove the used key in place, so that no copy of it is left.
		last := len(s.skipped) - 1
		copy(s.skipped[i:], s.skipped[i+1:])
		s.skipped[last] = skippedKey{}
		s.skipped = s.skipped[:last]
		s.received = true
		return plaintext, nil
	}
	return nil, fmt.Errorf("olm: decrypt: index %d: %w", m.index, ErrMessageKeyNotFound)
}

// open checks the MAC of m under the message key and decrypts it.
func (s *session) open(m *NormalMessage, messageKey [32]byte) ([]byte, error) {
	keys := cipher.Derive(messageKey[:], cipher.InfoOlm)
	defer keys.Clear()
	data, mac := m.authenticated()
	if !keys.VerifyMAC(data, mac) {
		return nil, fmt.Errorf("olm: decrypt: %w", ErrBadMessageMAC)
	}
	plaintext, err := keys.Decrypt(m.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("olm: decrypt: %w: %v", ErrBadMessageFormat, err)
	}
	return plaintext, nil
}

// Format prints the session's ID and never its secrets, whatever the verb.
func (s Session) Format(f fmt.State, verb rune) {
	st, err := s.lock("format")
	switch {
	case errors.Is(err, ErrClosed):
		fmt.Fprint(f, "olm.Session{closed}")
		return
	case err != nil:
		fmt.Fprint(f, "olm.Session{}")
		return
	}
	id := sessionID(st.aliceIdentity, st.aliceBase, st.bobOneTime)
	st.mu.Unlock()
	fmt.Fprintf(f, "olm.Session{ID: %s}", id)
}
