package megolm

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math"
	"sync"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/ed25519"
)

// SessionConfig selects the protocol version of a session. Version 1 is
// libolm's and the default; version 2 (vodozemac's full-length MAC) is used
// only when asked for by name, because libolm and goolm cannot read it.
type SessionConfig struct {
	version int
}

// SessionConfigV1 returns the configuration of libolm's sessions: messages
// of version 3 with 8-byte MACs.
func SessionConfigV1() SessionConfig { return SessionConfig{version: 1} }

// SessionConfigV2 returns vodozemac's version 2: messages of version 4 with
// 32-byte MACs.
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

func (c SessionConfig) macLen() int {
	if c.Version() == 2 {
		return cipher.FullMACSize
	}
	return cipher.TruncatedMACSize
}

func sessionID(pub []byte) string { return base64.RawStdEncoding.EncodeToString(pub) }

// GroupSession is an outbound Megolm session: the sender's side of a room
// key. It is secret. A GroupSession is safe for concurrent use: a lock
// guards it, and each message index is handed out once, whichever
// goroutines call Encrypt. Copies of a GroupSession value share one state.
type GroupSession struct {
	st *groupState
}

type groupState struct {
	mu      sync.Mutex
	config  SessionConfig
	ratchet ratchet
	signing *ed25519.PrivateKey
}

// NewGroupSession creates a version 1 outbound session with a random
// ratchet and a fresh Ed25519 signing key, read from crypto/rand.
func NewGroupSession() (*GroupSession, error) {
	return NewGroupSessionWithConfig(SessionConfigV1())
}

// NewGroupSessionWithConfig is NewGroupSession for the given protocol
// version.
func NewGroupSessionWithConfig(config SessionConfig) (*GroupSession, error) {
	var random [RatchetSize + 32]byte
	rand.Read(random[:])
	defer clear(random[:])
	return newGroupSession(config, random[:])
}

// newGroupSession creates a session from 160 random bytes: the ratchet, then
// the signing key's seed, as libolm consumes them.
func newGroupSession(config SessionConfig, random []byte) (*GroupSession, error) {
	if len(random) != RatchetSize+32 {
		panic("megolm: newGroupSession needs 160 random bytes")
	}
	signing, err := ed25519.NewKeyFromSeed(random[RatchetSize:])
	if err != nil {
		return nil, fmt.Errorf("megolm: new group session: %w", err)
	}
	st := &groupState{config: config, signing: signing}
	st.ratchet.setBytes(random[:RatchetSize])
	return &GroupSession{st: st}, nil
}

// Config returns the session's configuration.
func (s *GroupSession) Config() SessionConfig {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.config
}

// SessionID returns the session's ID: its Ed25519 signing key in unpadded
// base64.
func (s *GroupSession) SessionID() string {
	s.st.mu.Lock()
	pub := s.st.signing.Public()
	s.st.mu.Unlock()
	return sessionID(pub[:])
}

// MessageIndex returns the index the next message will have.
func (s *GroupSession) MessageIndex() uint32 {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.ratchet.counter
}

// SessionKey returns the signed key to share in m.room_key: the ratchet at
// the current index, so that receivers read this message and every later
// one.
func (s *GroupSession) SessionKey() *SessionKey {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	k := &SessionKey{}
	encodeKey(k.raw[:exportedKeySize], sessionKeyVersion, &s.st.ratchet, s.st.signing.Public())
	sig := s.st.signing.Sign(k.raw[:exportedKeySize])
	copy(k.raw[exportedKeySize:], sig[:])
	return k
}

// Encrypt encrypts plaintext at the current message index, signs the message
// and moves the ratchet on. A plaintext whose message would exceed
// MaxMessageSize (about 65450 bytes) is refused with ErrMessageTooLarge,
// since no receiver of this package would accept it. The last index,
// 2^32−1, is never used: once the session reaches it, Encrypt returns an
// error wrapping ErrIndexExhausted and a new session must be shared.
//
// Concurrent calls are serialized: each message gets its own index, in the
// order in which the calls take the session's lock.
func (s *GroupSession) Encrypt(plaintext []byte) ([]byte, error) {
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ratchet.counter == math.MaxUint32 {
		return nil, fmt.Errorf("megolm: encrypt: %w", ErrIndexExhausted)
	}
	if n := messageLen(st.config, st.ratchet.counter, len(plaintext)); n > MaxMessageSize {
		return nil, fmt.Errorf("megolm: encrypt: message of %d bytes: %w", n, ErrMessageTooLarge)
	}
	msg := encryptMessage(st.config.messageVersion(), &st.ratchet, st.signing, plaintext)
	st.ratchet.advance()
	return msg, nil
}

// Format prints the session ID and message index, never the key.
func (s GroupSession) Format(f fmt.State, verb rune) {
	if s.st == nil {
		fmt.Fprint(f, "megolm.GroupSession{}")
		return
	}
	fmt.Fprintf(f, "megolm.GroupSession{SessionID: %s, MessageIndex: %d}", s.SessionID(), s.MessageIndex())
}
