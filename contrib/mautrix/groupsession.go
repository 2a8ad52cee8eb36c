package mautrix

import (
	"fmt"
	"sync"

	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
)

// blankPickleKey is the key libolm's and goolm's drivers use when
// mautrix-go unpickles a group session with an empty key.
var blankPickleKey = []byte(" ")

// InboundGroupSession is the receiving side of a Megolm session,
// mautrix-go's olm.InboundGroupSession backed by souverain's
// megolm.InboundGroupSession. It is secret. The zero value, like
// NewBlankInboundGroupSession, is blank until Unpickle fills it. An
// InboundGroupSession is safe for concurrent use: its methods take turns
// on a mutex of its own, since mautrix-go serialises decryption per session
// but exports the session (key requests, key export and backup), reads its
// index and pickles it in the store outside that lock. Calls made on the
// souverain session returned by Inner bypass the mutex.
type InboundGroupSession struct {
	mu   sync.Mutex
	sess *megolm.InboundGroupSession // nil while blank
}

var _ olm.InboundGroupSession = (*InboundGroupSession)(nil)

// NewInboundGroupSession creates a session from the session key of an
// m.room_key event (unpadded base64), after checking its signature. Errors
// wrap olm.ErrEmptyInput, olm.ErrLibolmBadSessionKey or olm.ErrBadSignature.
func NewInboundGroupSession(sessionKey []byte) (*InboundGroupSession, error) {
	const op = "new inbound group session"
	if len(sessionKey) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	k, err := megolm.ParseSessionKey(string(sessionKey))
	if err != nil {
		return nil, mapError(op, err)
	}
	s, err := megolm.NewInboundGroupSession(k)
	if err != nil {
		return nil, mapError(op, err)
	}
	return &InboundGroupSession{sess: s}, nil
}

// InboundGroupSessionImport creates a session from an exported session key
// (forwarded keys, key backup, key export files), unverified until a
// message decrypts. Errors wrap olm.ErrEmptyInput or
// olm.ErrLibolmBadSessionKey.
func InboundGroupSessionImport(sessionKey []byte) (*InboundGroupSession, error) {
	const op = "import inbound group session"
	if len(sessionKey) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	k, err := megolm.ParseExportedSessionKey(string(sessionKey))
	if err != nil {
		return nil, mapError(op, err)
	}
	s, err := megolm.ImportInboundGroupSession(k)
	if err != nil {
		return nil, mapError(op, err)
	}
	return &InboundGroupSession{sess: s}, nil
}

// InboundGroupSessionFromPickled decrypts a session pickled in libolm's
// format (versions 1 and 2), by libolm, goolm or this driver. An empty key
// stands for " ", as in libolm's and goolm's drivers.
func InboundGroupSessionFromPickled(pickled, key []byte) (*InboundGroupSession, error) {
	if len(pickled) == 0 {
		return nil, errorf("unpickle inbound group session", olm.ErrEmptyInput)
	}
	if len(key) == 0 {
		key = blankPickleKey
	}
	s := NewBlankInboundGroupSession()
	if err := s.Unpickle(pickled, key); err != nil {
		return nil, err
	}
	return s, nil
}

// NewBlankInboundGroupSession returns a blank session, to be filled by
// Unpickle.
func NewBlankInboundGroupSession() *InboundGroupSession { return &InboundGroupSession{} }

// Inner returns the souverain session, or nil while the session is blank.
func (s *InboundGroupSession) Inner() *megolm.InboundGroupSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess
}

// Pickle encrypts the session under key in libolm's pickle format (version
// 2), byte for byte what libolm writes. It returns the base64 text.
func (s *InboundGroupSession) Pickle(key []byte) ([]byte, error) {
	const op = "pickle inbound group session"
	if len(key) == 0 {
		return nil, errorf(op, olm.ErrNoKeyProvided)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	text, err := s.sess.PickleLibolm(key)
	if err != nil {
		return nil, mapError(op, err)
	}
	return []byte(text), nil
}

// Unpickle replaces the session with one decrypted from a libolm pickle. On
// error the session is unchanged. Errors wrap olm.ErrNoKeyProvided,
// olm.ErrEmptyInput, olm.ErrLibolmBadAccountKey (wrong key),
// olm.ErrLibolmCorruptedPickle or olm.ErrUnknownOlmPickleVersion.
func (s *InboundGroupSession) Unpickle(pickled, key []byte) error {
	const op = "unpickle inbound group session"
	if len(key) == 0 {
		return errorf(op, olm.ErrNoKeyProvided)
	}
	if len(pickled) == 0 {
		return errorf(op, olm.ErrEmptyInput)
	}
	sess, err := megolm.UnpickleLibolmInboundGroupSession(string(pickled), key)
	if err != nil {
		return mapError(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess = sess
	return nil
}

// Decrypt checks the signature and MAC of a Megolm message (unpadded
// base64) and decrypts it, returning the plaintext and the message index.
// Errors wrap olm.ErrEmptyInput, olm.ErrLibolmInvalidBase64,
// olm.ErrBadMessageFormat, olm.ErrWrongProtocolVersion, olm.ErrBadSignature,
// olm.ErrUnknownMessageIndex (sent before the key we hold) or olm.ErrBadMAC.
func (s *InboundGroupSession) Decrypt(message []byte) ([]byte, uint, error) {
	const op = "group decrypt"
	raw, err := decodeBase64(op, message)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, 0, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	plaintext, index, err := s.sess.Decrypt(raw)
	if err != nil {
		return nil, 0, mapError(op, err)
	}
	return plaintext, uint(index), nil
}

// ID returns the session ID, the sender's signing key in unpadded base64,
// or "" while the session is blank.
func (s *InboundGroupSession) ID() id.SessionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return ""
	}
	return id.SessionID(s.sess.SessionID())
}

// FirstKnownIndex returns the lowest message index the session decrypts.
func (s *InboundGroupSession) FirstKnownIndex() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return 0
	}
	return s.sess.FirstKnownIndex()
}

// IsVerified reports whether the session came from a signed session key or
// has decrypted a message.
func (s *InboundGroupSession) IsVerified() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess != nil && s.sess.IsVerified()
}

// Export returns the session's key at messageIndex in the export format
// (unpadded base64), for InboundGroupSessionImport. An index before the
// first known one gives an error wrapping olm.ErrUnknownMessageIndex.
func (s *InboundGroupSession) Export(messageIndex uint32) ([]byte, error) {
	const op = "export inbound group session"
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	k, err := s.sess.ExportAt(messageIndex)
	if err != nil {
		return nil, mapError(op, err)
	}
	return []byte(k.Encode()), nil
}

// OutboundGroupSession is the sending side of a Megolm session,
// mautrix-go's olm.OutboundGroupSession backed by souverain's
// megolm.GroupSession. It is secret. The zero value, like
// NewBlankOutboundGroupSession, is blank until Unpickle fills it. An
// OutboundGroupSession is safe for concurrent use: its methods take turns
// on a mutex of its own (calls made on the souverain session returned by
// Inner bypass it).
type OutboundGroupSession struct {
	mu   sync.Mutex
	sess *megolm.GroupSession // nil while blank
}

var _ olm.OutboundGroupSession = (*OutboundGroupSession)(nil)

// NewOutboundGroupSession creates a session with a random ratchet and
// signing key from crypto/rand.
func NewOutboundGroupSession() (*OutboundGroupSession, error) {
	s, err := megolm.NewGroupSession()
	if err != nil {
		return nil, mapError("new outbound group session", err)
	}
	return &OutboundGroupSession{sess: s}, nil
}

// OutboundGroupSessionFromPickled decrypts a session pickled in libolm's
// format, by libolm, goolm or this driver. An empty key stands for " ", as
// in goolm's driver.
func OutboundGroupSessionFromPickled(pickled, key []byte) (*OutboundGroupSession, error) {
	if len(pickled) == 0 {
		return nil, errorf("unpickle outbound group session", olm.ErrEmptyInput)
	}
	if len(key) == 0 {
		key = blankPickleKey
	}
	s := NewBlankOutboundGroupSession()
	if err := s.Unpickle(pickled, key); err != nil {
		return nil, err
	}
	return s, nil
}

// NewBlankOutboundGroupSession returns a blank session, to be filled by
// Unpickle.
func NewBlankOutboundGroupSession() *OutboundGroupSession { return &OutboundGroupSession{} }

// Inner returns the souverain session, or nil while the session is blank.
func (s *OutboundGroupSession) Inner() *megolm.GroupSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess
}

// Pickle encrypts the session under key in libolm's pickle format (version
// 1), byte for byte what libolm writes. It returns the base64 text.
func (s *OutboundGroupSession) Pickle(key []byte) ([]byte, error) {
	const op = "pickle outbound group session"
	if len(key) == 0 {
		return nil, errorf(op, olm.ErrNoKeyProvided)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	text, err := s.sess.PickleLibolm(key)
	if err != nil {
		return nil, mapError(op, err)
	}
	return []byte(text), nil
}

// Unpickle replaces the session with one decrypted from a libolm pickle. On
// error the session is unchanged.
func (s *OutboundGroupSession) Unpickle(pickled, key []byte) error {
	const op = "unpickle outbound group session"
	if len(key) == 0 {
		return errorf(op, olm.ErrNoKeyProvided)
	}
	if len(pickled) == 0 {
		return errorf(op, olm.ErrEmptyInput)
	}
	sess, err := megolm.UnpickleLibolmGroupSession(string(pickled), key)
	if err != nil {
		return mapError(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess = sess
	return nil
}

// Encrypt encrypts plaintext at the current message index, signs it, moves
// the ratchet on and returns the message in unpadded base64. Once every
// index is used it fails with an error wrapping olm.ErrMsgIndexTooHigh.
func (s *OutboundGroupSession) Encrypt(plaintext []byte) ([]byte, error) {
	const op = "group encrypt"
	if len(plaintext) == 0 {
		return nil, errorf(op, olm.ErrEmptyInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil, fmt.Errorf("souverain: %s: %w", op, ErrBlank)
	}
	ct, err := s.sess.Encrypt(plaintext)
	if err != nil {
		return nil, mapError(op, err)
	}
	return []byte(b64.Encode(ct)), nil
}

// ID returns the session ID, its signing key in unpadded base64, or ""
// while the session is blank.
func (s *OutboundGroupSession) ID() id.SessionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return ""
	}
	return id.SessionID(s.sess.SessionID())
}

// MessageIndex returns the index the next message will have.
func (s *OutboundGroupSession) MessageIndex() uint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return 0
	}
	return uint(s.sess.MessageIndex())
}

// Key returns the signed session key at the current index in unpadded
// base64, for m.room_key events, or "" while the session is blank.
func (s *OutboundGroupSession) Key() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return ""
	}
	return s.sess.SessionKey().Encode()
}
