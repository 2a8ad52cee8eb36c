package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Session is a libolm OlmSession: one end of an Olm double ratchet. It owns
// C memory; call Free when done.
type Session struct {
	ptr     *C.OlmSession
	cleanup runtime.Cleanup
}

func freeSession(p *C.OlmSession) {
	live.Add(-1)
	C.olm_clear_session(p)
	C.free(unsafe.Pointer(p))
}

func allocSession() *Session {
	p := C.olm_session(C.malloc(C.olm_session_size()))
	live.Add(1)
	s := &Session{ptr: p}
	s.cleanup = runtime.AddCleanup(s, freeSession, p)
	return s
}

// Free wipes and releases the session's C memory. Further calls return
// [ErrFreed] (or panic, for methods without an error result). Free is
// idempotent.
func (s *Session) Free() {
	if s == nil || s.ptr == nil {
		return
	}
	s.cleanup.Stop()
	freeSession(s.ptr)
	s.ptr = nil
}

func (s *Session) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_session_last_error(s.ptr))}
}

func (s *Session) mustLive() {
	if s.ptr == nil {
		panic("libolm: Session used after Free")
	}
}

// OutboundSessionRandomLength returns the number of random bytes
// [Account.NewOutboundSession] needs (64 in libolm 3.2.13).
func OutboundSessionRandomLength() int {
	s := allocSession()
	defer s.Free()
	return int(C.olm_create_outbound_session_random_length(s.ptr))
}

// NewOutboundSession starts a session with the device whose Curve25519
// identity key and one-time (or fallback) key are given, unpadded base64,
// using random (at least [OutboundSessionRandomLength] bytes) for the base
// and first ratchet keys. Its first messages are pre-key messages.
func (a *Account) NewOutboundSession(theirIdentityKey, theirOneTimeKey string, random []byte) (*Session, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	s := allocSession()
	ik := cCopyString(theirIdentityKey)
	defer ik.free()
	otk := cCopyString(theirOneTimeKey)
	defer otk.free()
	r := cCopy(random)
	defer r.free()
	if isErr(C.olm_create_outbound_session(s.ptr, a.ptr, ik.p, ik.size(), otk.p, otk.size(), r.p, r.size())) {
		err := s.err("create outbound session")
		s.Free()
		return nil, err
	}
	return s, nil
}

// NewOutboundSessionRand is [Account.NewOutboundSession] with random bytes
// from crypto/rand.
func (a *Account) NewOutboundSessionRand(theirIdentityKey, theirOneTimeKey string) (*Session, error) {
	random := readRandom(OutboundSessionRandomLength())
	defer wipe(random)
	return a.NewOutboundSession(theirIdentityKey, theirOneTimeKey, random)
}

// NewInboundSession creates a session from a received pre-key message body
// (unpadded base64). It does not decrypt the message and does not remove
// the one-time key; call [Session.Decrypt] and [Account.RemoveOneTimeKeys].
func (a *Account) NewInboundSession(preKeyMessage string) (*Session, error) {
	return a.newInbound("create inbound session", nil, preKeyMessage)
}

// NewInboundSessionFrom is [Account.NewInboundSession] that also checks
// that the message's sender identity key is theirIdentityKey.
func (a *Account) NewInboundSessionFrom(theirIdentityKey, preKeyMessage string) (*Session, error) {
	return a.newInbound("create inbound session from", &theirIdentityKey, preKeyMessage)
}

func (a *Account) newInbound(op string, theirIdentityKey *string, preKeyMessage string) (*Session, error) {
	if a.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(a)
	s := allocSession()
	m := cCopyString(preKeyMessage) // destroyed by libolm
	defer m.free()
	var r C.size_t
	if theirIdentityKey == nil {
		r = C.olm_create_inbound_session(s.ptr, a.ptr, m.p, m.size())
	} else {
		ik := cCopyString(*theirIdentityKey)
		defer ik.free()
		r = C.olm_create_inbound_session_from(s.ptr, a.ptr, ik.p, ik.size(), m.p, m.size())
	}
	if isErr(r) {
		err := s.err(op)
		s.Free()
		return nil, err
	}
	return s, nil
}

// MatchesInboundSession reports whether the pre-key message body was sent
// on this session.
func (s *Session) MatchesInboundSession(preKeyMessage string) (bool, error) {
	return s.matches("matches inbound session", nil, preKeyMessage)
}

// MatchesInboundSessionFrom is [Session.MatchesInboundSession] that also
// requires the sender identity key to be theirIdentityKey.
func (s *Session) MatchesInboundSessionFrom(theirIdentityKey, preKeyMessage string) (bool, error) {
	return s.matches("matches inbound session from", &theirIdentityKey, preKeyMessage)
}

func (s *Session) matches(op string, theirIdentityKey *string, preKeyMessage string) (bool, error) {
	if s.ptr == nil {
		return false, ErrFreed
	}
	defer runtime.KeepAlive(s)
	m := cCopyString(preKeyMessage) // destroyed by libolm
	defer m.free()
	var r C.size_t
	if theirIdentityKey == nil {
		r = C.olm_matches_inbound_session(s.ptr, m.p, m.size())
	} else {
		ik := cCopyString(*theirIdentityKey)
		defer ik.free()
		r = C.olm_matches_inbound_session_from(s.ptr, ik.p, ik.size(), m.p, m.size())
	}
	if isErr(r) {
		return false, s.err(op)
	}
	return r == 1, nil
}

// SessionID returns the session's ID, the same on both ends (unpadded
// base64 of the SHA-256 of the three keys that started it).
func (s *Session) SessionID() (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	o := newCBuf(int(C.olm_session_id_length(s.ptr)))
	defer o.free()
	r := C.olm_session_id(s.ptr, o.p, o.size())
	if isErr(r) {
		return "", s.err("session id")
	}
	return string(o.bytes(int(r))), nil
}

// HasReceivedMessage reports whether the session has decrypted a message.
func (s *Session) HasReceivedMessage() bool {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return C.olm_session_has_received_message(s.ptr) != 0
}

// Describe returns libolm's debugging description of the session's state
// (olm_session_describe). It contains no secrets.
func (s *Session) Describe() string {
	s.mustLive()
	defer runtime.KeepAlive(s)
	const n = 600 // "A buffer length of 600 will be enough to hold any output."
	o := newCBuf(n)
	defer o.free()
	C.olm_session_describe(s.ptr, (*C.char)(o.p), n)
	return C.GoString((*C.char)(o.p))
}

// EncryptMessageType returns the type the next [Session.Encrypt] produces:
// pre-key until the session has received a message.
func (s *Session) EncryptMessageType() MessageType {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return MessageType(C.olm_encrypt_message_type(s.ptr))
}

// EncryptRandomLength returns the number of random bytes the next
// [Session.Encrypt] needs: 32 when it starts a new ratchet chain, else 0.
func (s *Session) EncryptRandomLength() int {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return int(C.olm_encrypt_random_length(s.ptr))
}

// Encrypt encrypts plaintext and returns the message type and body
// (unpadded base64). random must hold at least
// [Session.EncryptRandomLength] bytes.
func (s *Session) Encrypt(plaintext, random []byte) (MessageType, string, error) {
	if s.ptr == nil {
		return 0, "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	t := MessageType(C.olm_encrypt_message_type(s.ptr))
	p := cCopy(plaintext)
	defer p.free()
	r := cCopy(random)
	defer r.free()
	o := newCBuf(int(C.olm_encrypt_message_length(s.ptr, C.size_t(len(plaintext)))))
	defer o.free()
	n := C.olm_encrypt(s.ptr, p.p, p.size(), r.p, r.size(), o.p, o.size())
	if isErr(n) {
		return 0, "", s.err("encrypt")
	}
	return t, string(o.bytes(int(n))), nil
}

// EncryptRand is [Session.Encrypt] with random bytes from crypto/rand.
func (s *Session) EncryptRand(plaintext []byte) (MessageType, string, error) {
	if s.ptr == nil {
		return 0, "", ErrFreed
	}
	random := readRandom(s.EncryptRandomLength())
	defer wipe(random)
	return s.Encrypt(plaintext, random)
}

// Decrypt decrypts the message body (unpadded base64) of type t. The
// body is copied first because libolm decodes it in place. Errors match
// [ErrBadMessageMAC], [ErrBadMessageFormat], [ErrInvalidBase64], ... as
// libolm reports them.
func (s *Session) Decrypt(t MessageType, message string) ([]byte, error) {
	if s.ptr == nil {
		return nil, ErrFreed
	}
	if t != MessageTypePreKey && t != MessageTypeNormal {
		return nil, fmt.Errorf("libolm: decrypt: unknown message type %d", int(t))
	}
	defer runtime.KeepAlive(s)
	m := cCopyString(message)
	defer m.free()
	maxLen := C.olm_decrypt_max_plaintext_length(s.ptr, C.size_t(t), m.p, m.size())
	if isErr(maxLen) {
		return nil, s.err("decrypt")
	}
	m2 := cCopyString(message)
	defer m2.free()
	o := newCBuf(int(maxLen))
	defer o.free()
	n := C.olm_decrypt(s.ptr, C.size_t(t), m2.p, m2.size(), o.p, o.size())
	if isErr(n) {
		return nil, s.err("decrypt")
	}
	return o.bytes(int(n)), nil
}

// Pickle returns the session encrypted with key (any length, including
// empty) in libolm's base64 pickle format.
func (s *Session) Pickle(key []byte) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	k := cCopy(key)
	defer k.free()
	o := newCBuf(int(C.olm_pickle_session_length(s.ptr)))
	defer o.free()
	r := C.olm_pickle_session(s.ptr, k.p, k.size(), o.p, o.size())
	if isErr(r) {
		return "", s.err("pickle session")
	}
	return string(o.bytes(int(r))), nil
}

// UnpickleSession decrypts a session pickle with key. A wrong key gives an
// error matching [ErrBadAccountKey] (libolm uses the same code for
// sessions).
func UnpickleSession(pickle string, key []byte) (*Session, error) {
	s := allocSession()
	k := cCopy(key)
	defer k.free()
	p := cCopyString(pickle) // destroyed by libolm
	defer p.free()
	if isErr(C.olm_unpickle_session(s.ptr, k.p, k.size(), p.p, p.size())) {
		err := s.err("unpickle session")
		s.Free()
		return nil, err
	}
	return s, nil
}
