package mautrix

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/pickle"
	solm "github.com/souverain/e2ee/olm"
)

// Session is an Olm session, mautrix-go's olm.Session backed by souverain's
// olm.Session. It is secret. The zero value, like NewBlankSession, is blank:
// it behaves as libolm's blank session (its ID is that of all-zero keys, it
// pickles as libolm does) and cannot encrypt or decrypt. A Session is safe
// for concurrent use: its methods take turns on a mutex of its own (calls
// made on the souverain session returned by Inner bypass it).
type Session struct {
	mu   sync.Mutex
	sess *solm.Session // nil while blank
	// pending is the plaintext of the pre-key message an inbound session
	// was created from, decrypted when the session was created, until
	// Decrypt asks for it.
	pending *pendingMessage
}

type pendingMessage struct {
	text      string
	plaintext []byte
}

var _ olm.Session = (*Session)(nil)

// NewBlankSession returns a blank session, to be filled by Unpickle.
func NewBlankSession() *Session { return &Session{} }

// SessionFromPickled decrypts a session pickled in libolm's format, by
// libolm, goolm or this driver. Errors wrap olm.ErrEmptyInput,
// olm.ErrNoKeyProvided, olm.ErrLibolmBadAccountKey (wrong key),
// olm.ErrLibolmCorruptedPickle or olm.ErrUnknownOlmPickleVersion.
func SessionFromPickled(pickled, key []byte) (*Session, error) {
	s := NewBlankSession()
	if err := s.Unpickle(pickled, key); err != nil {
		return nil, err
	}
	return s, nil
}

// Inner returns the souverain session, or nil while the session is blank.
// Its methods do not take s's mutex: the caller must not use it while s is
// in use elsewhere, and Unpickle replaces it with another.
func (s *Session) Inner() *solm.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess
}

// blankSessionBody is libolm's pickle of a blank session: version 1, not
// received, three all-zero keys, an all-zero root key, no chains.
var blankSessionBody = func() []byte {
	w := &pickle.Writer{}
	w.U32(1)
	w.Bool(false)
	w.Bytes(make([]byte, 4*32))
	w.U32(0)
	w.U32(0)
	w.U32(0)
	return w.Buf
}()

// blankSessionID is the ID libolm gives a blank session: that of three
// all-zero keys.
var blankSessionID = func() id.SessionID {
	h := sha256.Sum256(make([]byte, 3*32))
	return id.SessionID(b64.Encode(h[:]))
}()

// Pickle encrypts the session under key in libolm's pickle format (version
// 1), byte for byte what libolm writes for the same session. It returns the
// base64 text.
func (s *Session) Pickle(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, errorf("pickle session", olm.ErrNoKeyProvided)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return []byte(pickle.EncryptLibolm(key, blankSessionBody)), nil
	}
	text, err := s.sess.PickleLibolm(key)
	if err != nil {
		return nil, mapError("pickle session", err)
	}
	return []byte(text), nil
}

// Unpickle replaces the session with one decrypted from a libolm pickle, as
// written by libolm, goolm or this driver. On error the session is
// unchanged.
func (s *Session) Unpickle(pickled, key []byte) error {
	const op = "unpickle session"
	if len(key) == 0 {
		return errorf(op, olm.ErrNoKeyProvided)
	}
	if len(pickled) == 0 {
		return errorf(op, olm.ErrEmptyInput)
	}
	sess, err := solm.UnpickleLibolmSession(string(pickled), key)
	if err != nil {
		// souverain refuses a session without chains; libolm writes one
		// for a blank session, which unpickles to a blank session again.
		if errors.Is(err, solm.ErrCorruptedPickle) {
			if body, derr := pickle.DecryptLibolm(key, string(pickled)); derr == nil && bytes.Equal(body, blankSessionBody) {
				s.replace(nil)
				return nil
			}
		}
		return mapError(op, err)
	}
	s.replace(sess)
	return nil
}

// replace makes s the session sess (nil: blank), forgetting the plaintext
// of the pre-key message it was created from.
func (s *Session) replace(sess *solm.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess, s.pending = sess, nil
}

// ID returns the session ID, the same on both ends and in every driver.
func (s *Session) ID() id.SessionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return blankSessionID
	}
	return id.SessionID(s.sess.SessionID())
}

// HasReceivedMessage reports whether the session has decrypted a message;
// until it has, Encrypt makes pre-key messages.
func (s *Session) HasReceivedMessage() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess != nil && s.sess.HasReceivedMessage()
}

// MatchesInboundSession reports whether a pre-key message (unpadded base64)
// belongs to this session. A message that does not decode gives an error
// wrapping olm.ErrLibolmInvalidBase64, olm.ErrBadMessageFormat or
// olm.ErrWrongProtocolVersion.
func (s *Session) MatchesInboundSession(oneTimeKeyMsg string) (bool, error) {
	return s.matches("", oneTimeKeyMsg)
}

// MatchesInboundSessionFrom is MatchesInboundSession that also requires
// the message to come from theirIdentityKey (unpadded base64; empty: any,
// as in goolm).
func (s *Session) MatchesInboundSessionFrom(theirIdentityKey, oneTimeKeyMsg string) (bool, error) {
	return s.matches(theirIdentityKey, oneTimeKeyMsg)
}

func (s *Session) matches(theirIdentityKey, text string) (bool, error) {
	const op = "match inbound session"
	raw, err := decodeBase64(op, []byte(text))
	if err != nil {
		return false, err
	}
	m, err := solm.ParsePreKeyMessage(raw)
	if err != nil {
		return false, mapError(op, err)
	}
	if theirIdentityKey != "" {
		ik, err := parseCurveKey(op, theirIdentityKey)
		if err != nil {
			return false, err
		}
		if ik != m.IdentityKey() {
			return false, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess != nil && s.sess.Matches(m), nil
}

// EncryptMsgType returns the type of the next message Encrypt makes:
// id.OlmMsgTypePreKey until the session has received a message.
func (s *Session) EncryptMsgType() id.OlmMsgType {
	if s.HasReceivedMessage() {
		return id.OlmMsgTypeMsg
	}
	return id.OlmMsgTypePreKey
}

// Encrypt encrypts plaintext and returns the message type and the message
// in unpadded base64.
func (s *Session) Encrypt(plaintext []byte) (id.OlmMsgType, []byte, error) {
	const op = "encrypt"
	if len(plaintext) == 0 {
		return 0, nil, errorf(op, olm.ErrEmptyInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return 0, nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	m, err := s.sess.Encrypt(plaintext)
	if err != nil {
		return 0, nil, mapError(op, err)
	}
	return id.OlmMsgType(m.Type()), []byte(b64.Encode(m.Bytes())), nil
}

// Decrypt authenticates and decrypts a message (unpadded base64) of the
// given type. It is all or nothing: on error the session is unchanged.
// Errors wrap olm.ErrEmptyInput, olm.ErrLibolmInvalidBase64,
// olm.ErrBadMessageFormat, olm.ErrWrongProtocolVersion, olm.ErrBadMAC
// (also for messages whose key is gone or too far ahead, as in libolm) or
// olm.ErrBadMessageKeyID (a pre-key message of another session).
func (s *Session) Decrypt(message string, msgType id.OlmMsgType) ([]byte, error) {
	const op = "decrypt"
	if len(message) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	if p := s.pending; p != nil && msgType == id.OlmMsgTypePreKey && message == p.text {
		s.pending = nil
		return p.plaintext, nil
	}
	raw, err := decodeBase64(op, []byte(message))
	if err != nil {
		return nil, err
	}
	m, err := solm.ParseMessage(solm.MessageType(msgType), raw)
	if err != nil {
		return nil, mapError(op, err)
	}
	plaintext, err := s.sess.Decrypt(m)
	if err != nil {
		return nil, mapError(op, err)
	}
	return plaintext, nil
}

// Describe returns libolm's description of the session's ratchet, for logs:
// "sender chain index: N receiver chain indices: … skipped message keys: …".
// It holds no secrets. (libolm prints a stale index for a missing sender
// chain; this driver prints 0.)
func (s *Session) Describe() string {
	var senderIndex uint32
	var receivers, skipped []uint32
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		var err error
		senderIndex, receivers, skipped, err = s.indices()
		if err != nil {
			return "describe failed: " + err.Error()
		}
	}
	var b strings.Builder
	b.WriteString("sender chain index: ")
	b.WriteString(strconv.FormatUint(uint64(senderIndex), 10))
	b.WriteString(" receiver chain indices:")
	for _, i := range receivers {
		b.WriteString(" " + strconv.FormatUint(uint64(i), 10))
	}
	b.WriteString(" skipped message keys:")
	for _, i := range skipped {
		b.WriteString(" " + strconv.FormatUint(uint64(i), 10))
	}
	// At most 5 receiver chains and 40 skipped keys: the text stays under
	// the 600 bytes libolm's driver allows, so it is never cut.
	return b.String()
}

// indices reads the chain and skipped-key indices out of the session's
// libolm pickle, whose layout is public; the souverain session does not
// expose them otherwise.
func (s *Session) indices() (sender uint32, receivers, skipped []uint32, err error) {
	var key [32]byte
	rand.Read(key[:])
	text, err := s.sess.PickleLibolm(key[:])
	if err != nil {
		return 0, nil, nil, err
	}
	body, err := pickle.DecryptLibolm(key[:], text)
	if err != nil {
		return 0, nil, nil, err
	}
	defer clear(body)
	var scratch [3 * 32]byte // keys are read over and forgotten
	defer clear(scratch[:])
	r := pickle.NewReader(body)
	r.U32()                       // version
	r.Bool()                      // received
	r.Read(scratch[:])            // Alice's identity and base keys, Bob's one-time key
	r.Read(scratch[:32])          // root key
	for range r.Count(3*32 + 4) { // sender chain: ratchet key pair, chain key, index
		r.Read(scratch[:])
		sender = r.U32()
	}
	for range r.Count(2*32 + 4) { // receiver chains: ratchet key, chain key, index
		r.Read(scratch[:64])
		receivers = append(receivers, r.U32())
	}
	for range r.Count(2*32 + 4) { // skipped keys: ratchet key, message key, index
		r.Read(scratch[:64])
		skipped = append(skipped, r.U32())
	}
	return sender, receivers, skipped, r.Finish()
}
