package megolm

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/souverain/e2ee/internal/cipher"
	"github.com/souverain/e2ee/internal/ed25519"
	"github.com/souverain/e2ee/internal/wipe"
)

// Algorithm is the name of Megolm in Matrix events (m.room.encrypted,
// m.room_key, backups and key exports).
const Algorithm = "m.megolm.v1.aes-sha2"

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
	closed  bool
	config  SessionConfig
	ratchet ratchet
	signing *ed25519.PrivateKey
}

// lock locks the session's state and returns it; the caller unlocks it. It
// returns an error wrapping ErrNil for a nil or zero GroupSession and
// ErrClosed after Close, and then nothing is locked.
func (s *GroupSession) lock(op string) (*groupState, error) {
	if s == nil || s.st == nil {
		return nil, fmt.Errorf("megolm: %s: %w", op, ErrNil)
	}
	s.st.mu.Lock()
	if s.st.closed {
		s.st.mu.Unlock()
		return nil, fmt.Errorf("megolm: %s: %w", op, ErrClosed)
	}
	return s.st, nil
}

// Close wipes the session's ratchet and signing key. It is idempotent and
// always returns nil. Afterwards every method fails with an error wrapping
// ErrClosed, and the methods without an error result return zero values:
// an empty session ID, index 0 and a nil session key.
func (s *GroupSession) Close() error {
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
	wipe.Do(func() {
		st.ratchet.clear()
		st.ratchet.counter = 0
		st.signing.Clear()
		st.signing = nil
	})
	return nil
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

// Config returns the session's configuration (the zero SessionConfig after
// Close).
func (s *GroupSession) Config() SessionConfig {
	st, err := s.lock("config")
	if err != nil {
		return SessionConfig{}
	}
	defer st.mu.Unlock()
	return st.config
}

// SessionID returns the session's ID: its Ed25519 signing key in unpadded
// base64 ("" after Close).
func (s *GroupSession) SessionID() string {
	st, err := s.lock("session ID")
	if err != nil {
		return ""
	}
	pub := st.signing.Public()
	st.mu.Unlock()
	return sessionID(pub[:])
}

// SigningKey returns the session's Ed25519 public signing key, whose
// unpadded base64 is the session ID (the zero key after Close).
func (s *GroupSession) SigningKey() Ed25519PublicKey {
	st, err := s.lock("signing key")
	if err != nil {
		return Ed25519PublicKey{}
	}
	defer st.mu.Unlock()
	return st.signing.Public()
}

// MessageIndex returns the index the next message will have (0 after
// Close).
func (s *GroupSession) MessageIndex() uint32 {
	st, err := s.lock("message index")
	if err != nil {
		return 0
	}
	defer st.mu.Unlock()
	return st.ratchet.counter
}

// SessionKey returns the signed key to share in m.room_key: the ratchet at
// the current index, so that receivers read this message and every later
// one. It returns nil after Close or for a zero GroupSession; the methods of
// a nil *SessionKey return zero values ("" for Encode).
func (s *GroupSession) SessionKey() *SessionKey {
	st, err := s.lock("session key")
	if err != nil {
		return nil
	}
	defer st.mu.Unlock()
	k := &SessionKey{state: keyValid}
	encodeKey(k.raw[:exportedKeySize], sessionKeyVersion, &st.ratchet, st.signing.Public())
	sig := st.signing.Sign(k.raw[:exportedKeySize])
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
// order in which the calls take the session's lock. After Close, errors wrap
// ErrClosed; for a zero GroupSession, ErrNil.
func (s *GroupSession) Encrypt(plaintext []byte) ([]byte, error) {
	st, err := s.lock("encrypt")
	if err != nil {
		return nil, err
	}
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
	st, err := s.lock("format")
	if err != nil {
		if errors.Is(err, ErrClosed) {
			fmt.Fprint(f, "megolm.GroupSession{closed}")
		} else {
			fmt.Fprint(f, "megolm.GroupSession{}")
		}
		return
	}
	st.mu.Unlock()
	fmt.Fprintf(f, "megolm.GroupSession{SessionID: %s, MessageIndex: %d}", s.SessionID(), s.MessageIndex())
}
