// Package libolm is a thin, safe Go wrapper around the C API of libolm
// (tested with 3.2.13), the reference Olm implementation, for cross tests
// and test-vector generation.
//
// Every libolm call that consumes random bytes takes them from a []byte the
// caller passes, so runs are reproducible; each such function has a twin
// with the suffix Rand that reads crypto/rand instead. libolm wipes the
// random bytes it is given; the wrapper hands it a C copy, so the caller's
// slice is left untouched.
//
// Keys, signatures, session IDs and message bodies are the unpadded base64
// strings libolm uses, which are also their form in Matrix JSON;
// [DecodeBase64] and [EncodeBase64] convert to and from raw bytes.
//
// Errors reported by libolm are returned as *[Error] values carrying
// libolm's last_error string; compare them with errors.Is against the
// sentinels such as [ErrBadMessageMAC].
//
// [Account] and [Session] own C memory. Call Free when done; a cleanup
// registered with the runtime frees unreachable objects as a safety net.
// Neither type is safe for concurrent use.
package libolm

/*
#cgo LDFLAGS: -lolm
#include <stdlib.h>
#include <string.h>
#include <olm/olm.h>
*/
import "C"

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Error is an error reported by libolm.
type Error struct {
	// Op names the wrapper operation that failed, e.g. "decrypt".
	Op string
	// Code is libolm's last_error string, e.g. "BAD_MESSAGE_MAC".
	Code string
}

// Error returns "libolm: <op>: <code>".
func (e *Error) Error() string {
	if e.Op == "" {
		return "libolm: " + e.Code
	}
	return "libolm: " + e.Op + ": " + e.Code
}

// Is reports whether target is an *Error with the same Code and either an
// empty Op (as the sentinels have) or the same Op.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Op == "" || t.Op == e.Op)
}

// Sentinels for libolm's error codes; match them with errors.Is.
var (
	ErrNotEnoughRandom        = &Error{Code: "NOT_ENOUGH_RANDOM"}
	ErrOutputBufferTooSmall   = &Error{Code: "OUTPUT_BUFFER_TOO_SMALL"}
	ErrBadMessageVersion      = &Error{Code: "BAD_MESSAGE_VERSION"}
	ErrBadMessageFormat       = &Error{Code: "BAD_MESSAGE_FORMAT"}
	ErrBadMessageMAC          = &Error{Code: "BAD_MESSAGE_MAC"}
	ErrBadMessageKeyID        = &Error{Code: "BAD_MESSAGE_KEY_ID"}
	ErrInvalidBase64          = &Error{Code: "INVALID_BASE64"}
	ErrBadAccountKey          = &Error{Code: "BAD_ACCOUNT_KEY"}
	ErrUnknownPickleVersion   = &Error{Code: "UNKNOWN_PICKLE_VERSION"}
	ErrCorruptedPickle        = &Error{Code: "CORRUPTED_PICKLE"}
	ErrBadLegacyAccountPickle = &Error{Code: "BAD_LEGACY_ACCOUNT_PICKLE"}
	ErrPickleExtraData        = &Error{Code: "OLM_PICKLE_EXTRA_DATA"}
)

// ErrFreed is returned when a method is called on an Account or Session
// after Free.
var ErrFreed = errors.New("libolm: object already freed")

// MessageType is the type of an Olm message, as in the Matrix "type" field.
type MessageType int

// The Olm message types.
const (
	MessageTypePreKey MessageType = 0 // OLM_MESSAGE_TYPE_PRE_KEY
	MessageTypeNormal MessageType = 1 // OLM_MESSAGE_TYPE_MESSAGE
)

// String returns "pre-key", "normal" or "MessageType(n)".
func (t MessageType) String() string {
	switch t {
	case MessageTypePreKey:
		return "pre-key"
	case MessageTypeNormal:
		return "normal"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Version returns the version of the linked libolm.
func Version() (major, minor, patch int) {
	var ma, mi, pa C.uint8_t
	C.olm_get_library_version(&ma, &mi, &pa)
	return int(ma), int(mi), int(pa)
}

// EncodeBase64 encodes b as libolm does: standard alphabet, no padding.
func EncodeBase64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// DecodeBase64 decodes unpadded standard base64 as libolm emits it.
func DecodeBase64(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("libolm: decode base64: %w", err)
	}
	return b, nil
}

// KeyIDString returns libolm's string form of a one-time or fallback key ID:
// the unpadded base64 of the ID as a big-endian uint32 (1 is "AAAAAQ").
func KeyIDString(id uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], id)
	return EncodeBase64(b[:])
}

// ParseKeyID parses a key ID string as produced by [KeyIDString].
func ParseKeyID(s string) (uint32, error) {
	b, err := DecodeBase64(s)
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		return 0, fmt.Errorf("libolm: parse key ID: %d bytes, want 4", len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// live counts the Accounts and Sessions whose C memory is not yet freed;
// tests use it to check Free and the runtime cleanups.
var live atomic.Int64

// isErr reports whether r is libolm's error return, olm_error().
func isErr(r C.size_t) bool { return r == C.olm_error() }

// cbuf is a C.malloc'd buffer. free wipes it before releasing it, since it
// may hold keys, pickles or plaintext.
type cbuf struct {
	p unsafe.Pointer
	n int
}

func newCBuf(n int) cbuf {
	// C.malloc never returns nil (cgo aborts on exhaustion); ask for at
	// least one byte so that p is a valid pointer even for empty input.
	return cbuf{p: C.malloc(C.size_t(max(n, 1))), n: n}
}

func cCopy(b []byte) cbuf {
	c := newCBuf(len(b))
	if len(b) > 0 {
		C.memcpy(c.p, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	}
	return c
}

func cCopyString(s string) cbuf { return cCopy([]byte(s)) }

func (c cbuf) size() C.size_t { return C.size_t(c.n) }

// bytes copies the first n bytes of c into Go memory.
func (c cbuf) bytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(c.p, C.int(n))
}

func (c cbuf) free() {
	C.memset(c.p, 0, C.size_t(max(c.n, 1)))
	C.free(c.p)
}

// readRandom returns n bytes from crypto/rand.
func readRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+).
	return b
}

func wipe(b []byte) { clear(b) }

// withUtility runs f with a fresh OlmUtility and frees it afterwards.
func withUtility(f func(u *C.OlmUtility)) {
	mem := C.malloc(C.olm_utility_size())
	u := C.olm_utility(mem)
	defer func() {
		C.olm_clear_utility(u)
		C.free(mem)
	}()
	f(u)
}

func utilityErr(op string, u *C.OlmUtility) error {
	return &Error{Op: op, Code: C.GoString(C.olm_utility_last_error(u))}
}

// SHA256 returns the unpadded base64 of the SHA-256 of input, computed by
// libolm's olm_sha256.
func SHA256(input []byte) (string, error) {
	var out string
	var err error
	withUtility(func(u *C.OlmUtility) {
		in := cCopy(input)
		defer in.free()
		o := newCBuf(int(C.olm_sha256_length(u)))
		defer o.free()
		r := C.olm_sha256(u, in.p, in.size(), o.p, o.size())
		if isErr(r) {
			err = utilityErr("sha256", u)
			return
		}
		out = string(o.bytes(int(r)))
	})
	return out, err
}

// Ed25519Verify checks signature (unpadded base64) over message with the
// Ed25519 public key (unpadded base64) using libolm's olm_ed25519_verify.
// It returns nil if the signature is valid, an error matching
// [ErrBadMessageMAC] if not, and one matching [ErrInvalidBase64] if the key
// has the wrong length.
func Ed25519Verify(key string, message []byte, signature string) error {
	var err error
	withUtility(func(u *C.OlmUtility) {
		k := cCopyString(key)
		defer k.free()
		m := cCopy(message)
		defer m.free()
		s := cCopyString(signature) // destroyed by libolm
		defer s.free()
		if isErr(C.olm_ed25519_verify(u, k.p, k.size(), m.p, m.size(), s.p, s.size())) {
			err = utilityErr("ed25519 verify", u)
		}
	})
	return err
}
