package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
#include <olm/inbound_group_session.h>
#include <olm/outbound_group_session.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Sentinels for the error codes of libolm's group sessions; match them
// with errors.Is.
var (
	ErrBadSessionKey       = &Error{Code: "BAD_SESSION_KEY"}
	ErrUnknownMessageIndex = &Error{Code: "UNKNOWN_MESSAGE_INDEX"}
	ErrBadSignature        = &Error{Code: "BAD_SIGNATURE"}
)

// OutboundGroupSession is a libolm OlmOutboundGroupSession: the sender's
// side of a Megolm session. It owns C memory; call Free when done.
type OutboundGroupSession struct {
	ptr     *C.OlmOutboundGroupSession
	cleanup runtime.Cleanup
}

func freeOutboundGroupSession(p *C.OlmOutboundGroupSession) {
	live.Add(-1)
	C.olm_clear_outbound_group_session(p)
	C.free(unsafe.Pointer(p))
}

func allocOutboundGroupSession() *OutboundGroupSession {
	p := C.olm_outbound_group_session(C.malloc(C.olm_outbound_group_session_size()))
	live.Add(1)
	s := &OutboundGroupSession{ptr: p}
	s.cleanup = runtime.AddCleanup(s, freeOutboundGroupSession, p)
	return s
}

// Free wipes and releases the session's C memory. Further calls return
// [ErrFreed] (or panic, for methods without an error result). Free is
// idempotent.
func (s *OutboundGroupSession) Free() {
	if s == nil || s.ptr == nil {
		return
	}
	s.cleanup.Stop()
	freeOutboundGroupSession(s.ptr)
	s.ptr = nil
}

func (s *OutboundGroupSession) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_outbound_group_session_last_error(s.ptr))}
}

func (s *OutboundGroupSession) mustLive() {
	if s.ptr == nil {
		panic("libolm: OutboundGroupSession used after Free")
	}
}

// OutboundGroupSessionRandomLength returns the number of random bytes
// [NewOutboundGroupSession] needs: 160 in libolm 3.2.13, the 128-byte
// ratchet R0‖R1‖R2‖R3 followed by the 32-byte Ed25519 seed of the signing
// key.
func OutboundGroupSessionRandomLength() int {
	s := allocOutboundGroupSession()
	defer s.Free()
	return int(C.olm_init_outbound_group_session_random_length(s.ptr))
}

// NewOutboundGroupSession creates a session at message index 0 with
// olm_init_outbound_group_session from random, which must hold at least
// [OutboundGroupSessionRandomLength] bytes (else the error matches
// [ErrNotEnoughRandom]). The same random gives the same session.
func NewOutboundGroupSession(random []byte) (*OutboundGroupSession, error) {
	s := allocOutboundGroupSession()
	r := cCopy(random) // wiped by libolm
	defer r.free()
	if isErr(C.olm_init_outbound_group_session(s.ptr, (*C.uint8_t)(r.p), r.size())) {
		err := s.err("init outbound group session")
		s.Free()
		return nil, err
	}
	return s, nil
}

// NewOutboundGroupSessionRand is [NewOutboundGroupSession] with random
// bytes from crypto/rand.
func NewOutboundGroupSessionRand() (*OutboundGroupSession, error) {
	random := readRandom(OutboundGroupSessionRandomLength())
	defer wipe(random)
	return NewOutboundGroupSession(random)
}

// Encrypt encrypts plaintext at the current message index, signs the
// message, moves the ratchet on and returns the message (unpadded base64).
// libolm puts no upper bound on the index: after 2^32−1 it wraps to 0.
func (s *OutboundGroupSession) Encrypt(plaintext []byte) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	p := cCopy(plaintext)
	defer p.free()
	o := newCBuf(int(C.olm_group_encrypt_message_length(s.ptr, C.size_t(len(plaintext)))))
	defer o.free()
	n := C.olm_group_encrypt(s.ptr, (*C.uint8_t)(p.p), p.size(), (*C.uint8_t)(o.p), o.size())
	if isErr(n) {
		return "", s.err("group encrypt")
	}
	return string(o.bytes(int(n))), nil
}

// SessionID returns the session's ID: the unpadded base64 of its Ed25519
// public signing key.
func (s *OutboundGroupSession) SessionID() (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	o := newCBuf(int(C.olm_outbound_group_session_id_length(s.ptr)))
	defer o.free()
	r := C.olm_outbound_group_session_id(s.ptr, (*C.uint8_t)(o.p), o.size())
	if isErr(r) {
		return "", s.err("outbound group session id")
	}
	return string(o.bytes(int(r))), nil
}

// MessageIndex returns the index the next message will have.
func (s *OutboundGroupSession) MessageIndex() uint32 {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return uint32(C.olm_outbound_group_session_message_index(s.ptr))
}

// SessionKey returns the signed session key at the current message index
// (unpadded base64), as an m.room_key event carries it. It is secret.
func (s *OutboundGroupSession) SessionKey() (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	o := newCBuf(int(C.olm_outbound_group_session_key_length(s.ptr)))
	defer o.free()
	r := C.olm_outbound_group_session_key(s.ptr, (*C.uint8_t)(o.p), o.size())
	if isErr(r) {
		return "", s.err("outbound group session key")
	}
	return string(o.bytes(int(r))), nil
}

// Pickle returns the session encrypted with key (any length, including
// empty) in libolm's base64 pickle format.
func (s *OutboundGroupSession) Pickle(key []byte) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	k := cCopy(key)
	defer k.free()
	o := newCBuf(int(C.olm_pickle_outbound_group_session_length(s.ptr)))
	defer o.free()
	r := C.olm_pickle_outbound_group_session(s.ptr, k.p, k.size(), o.p, o.size())
	if isErr(r) {
		return "", s.err("pickle outbound group session")
	}
	return string(o.bytes(int(r))), nil
}

// UnpickleOutboundGroupSession decrypts an outbound group session pickle
// with key. A wrong key gives an error matching [ErrBadAccountKey] (libolm
// uses the same code for every pickle).
func UnpickleOutboundGroupSession(pickle string, key []byte) (*OutboundGroupSession, error) {
	s := allocOutboundGroupSession()
	k := cCopy(key)
	defer k.free()
	p := cCopyString(pickle) // destroyed by libolm
	defer p.free()
	if isErr(C.olm_unpickle_outbound_group_session(s.ptr, k.p, k.size(), p.p, p.size())) {
		err := s.err("unpickle outbound group session")
		s.Free()
		return nil, err
	}
	return s, nil
}

// InboundGroupSession is a libolm OlmInboundGroupSession: the receiving
// side of a Megolm session. It owns C memory; call Free when done.
//
// libolm's window of decryptable indices is circular: an index i is known
// when i − FirstKnownIndex, computed modulo 2^32, is below 2^31.
type InboundGroupSession struct {
	ptr     *C.OlmInboundGroupSession
	cleanup runtime.Cleanup
}

func freeInboundGroupSession(p *C.OlmInboundGroupSession) {
	live.Add(-1)
	C.olm_clear_inbound_group_session(p)
	C.free(unsafe.Pointer(p))
}

func allocInboundGroupSession() *InboundGroupSession {
	p := C.olm_inbound_group_session(C.malloc(C.olm_inbound_group_session_size()))
	live.Add(1)
	s := &InboundGroupSession{ptr: p}
	s.cleanup = runtime.AddCleanup(s, freeInboundGroupSession, p)
	return s
}

// Free wipes and releases the session's C memory. Further calls return
// [ErrFreed] (or panic, for methods without an error result). Free is
// idempotent.
func (s *InboundGroupSession) Free() {
	if s == nil || s.ptr == nil {
		return
	}
	s.cleanup.Stop()
	freeInboundGroupSession(s.ptr)
	s.ptr = nil
}

func (s *InboundGroupSession) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_inbound_group_session_last_error(s.ptr))}
}

func (s *InboundGroupSession) mustLive() {
	if s.ptr == nil {
		panic("libolm: InboundGroupSession used after Free")
	}
}

// NewInboundGroupSession creates a session from a signed session key
// (unpadded base64) with olm_init_inbound_group_session. Errors match
// [ErrInvalidBase64], [ErrBadSessionKey] or [ErrBadSignature]. The session
// counts as verified.
func NewInboundGroupSession(sessionKey string) (*InboundGroupSession, error) {
	return newInboundGroup("init inbound group session", sessionKey, false)
}

// ImportInboundGroupSession creates a session from an exported session key
// (unpadded base64) with olm_import_inbound_group_session. Errors match
// [ErrInvalidBase64] or [ErrBadSessionKey]. The session is unverified until
// a message decrypts.
func ImportInboundGroupSession(exportedKey string) (*InboundGroupSession, error) {
	return newInboundGroup("import inbound group session", exportedKey, true)
}

func newInboundGroup(op, key string, export bool) (*InboundGroupSession, error) {
	s := allocInboundGroupSession()
	k := cCopyString(key) // import decodes it in place
	defer k.free()
	var r C.size_t
	if export {
		r = C.olm_import_inbound_group_session(s.ptr, (*C.uint8_t)(k.p), k.size())
	} else {
		r = C.olm_init_inbound_group_session(s.ptr, (*C.uint8_t)(k.p), k.size())
	}
	if isErr(r) {
		err := s.err(op)
		s.Free()
		return nil, err
	}
	return s, nil
}

// Decrypt decrypts a message (unpadded base64) and returns the plaintext
// and the message index. The message is copied first because libolm
// decodes it in place. Errors match [ErrInvalidBase64],
// [ErrBadMessageVersion], [ErrBadMessageFormat], [ErrBadSignature],
// [ErrUnknownMessageIndex] or [ErrBadMessageMAC] as libolm reports them.
func (s *InboundGroupSession) Decrypt(message string) ([]byte, uint32, error) {
	if s.ptr == nil {
		return nil, 0, ErrFreed
	}
	defer runtime.KeepAlive(s)
	m := cCopyString(message)
	defer m.free()
	maxLen := C.olm_group_decrypt_max_plaintext_length(s.ptr, (*C.uint8_t)(m.p), m.size())
	if isErr(maxLen) {
		return nil, 0, s.err("group decrypt")
	}
	m2 := cCopyString(message)
	defer m2.free()
	o := newCBuf(int(maxLen))
	defer o.free()
	var index C.uint32_t
	n := C.olm_group_decrypt(s.ptr, (*C.uint8_t)(m2.p), m2.size(), (*C.uint8_t)(o.p), o.size(), &index)
	if isErr(n) {
		return nil, 0, s.err("group decrypt")
	}
	return o.bytes(int(n)), uint32(index), nil
}

// SessionID returns the session's ID: the unpadded base64 of the sender's
// Ed25519 signing key.
func (s *InboundGroupSession) SessionID() (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	o := newCBuf(int(C.olm_inbound_group_session_id_length(s.ptr)))
	defer o.free()
	r := C.olm_inbound_group_session_id(s.ptr, (*C.uint8_t)(o.p), o.size())
	if isErr(r) {
		return "", s.err("inbound group session id")
	}
	return string(o.bytes(int(r))), nil
}

// FirstKnownIndex returns the first message index the session can
// decrypt.
func (s *InboundGroupSession) FirstKnownIndex() uint32 {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return uint32(C.olm_inbound_group_session_first_known_index(s.ptr))
}

// IsVerified reports whether the session was created from a signed
// session key or has decrypted a message.
func (s *InboundGroupSession) IsVerified() bool {
	s.mustLive()
	defer runtime.KeepAlive(s)
	return C.olm_inbound_group_session_is_verified(s.ptr) != 0
}

// Export returns the session's key at message index, in the unsigned
// export format (unpadded base64) that [ImportInboundGroupSession] reads.
// The error matches [ErrUnknownMessageIndex] if index is outside the
// session's window. Note that libolm moves its cached latest ratchet to
// index when index is at or past it.
func (s *InboundGroupSession) Export(index uint32) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	o := newCBuf(int(C.olm_export_inbound_group_session_length(s.ptr)))
	defer o.free()
	r := C.olm_export_inbound_group_session(s.ptr, (*C.uint8_t)(o.p), o.size(), C.uint32_t(index))
	if isErr(r) {
		return "", s.err("export inbound group session")
	}
	return string(o.bytes(int(r))), nil
}

// Pickle returns the session encrypted with key (any length, including
// empty) in libolm's base64 pickle format.
func (s *InboundGroupSession) Pickle(key []byte) (string, error) {
	if s.ptr == nil {
		return "", ErrFreed
	}
	defer runtime.KeepAlive(s)
	k := cCopy(key)
	defer k.free()
	o := newCBuf(int(C.olm_pickle_inbound_group_session_length(s.ptr)))
	defer o.free()
	r := C.olm_pickle_inbound_group_session(s.ptr, k.p, k.size(), o.p, o.size())
	if isErr(r) {
		return "", s.err("pickle inbound group session")
	}
	return string(o.bytes(int(r))), nil
}

// UnpickleInboundGroupSession decrypts an inbound group session pickle
// (pickle versions 1 and 2) with key. A wrong key gives an error matching
// [ErrBadAccountKey].
func UnpickleInboundGroupSession(pickle string, key []byte) (*InboundGroupSession, error) {
	s := allocInboundGroupSession()
	k := cCopy(key)
	defer k.free()
	p := cCopyString(pickle) // destroyed by libolm
	defer p.free()
	if isErr(C.olm_unpickle_inbound_group_session(s.ptr, k.p, k.size(), p.p, p.size())) {
		err := s.err("unpickle inbound group session")
		s.Free()
		return nil, err
	}
	return s, nil
}
