// Package pickle holds the machinery shared by the pickle formats: the
// big-endian field encoding libolm uses inside its pickles, libolm's pickle
// encryption, and souverain's own authenticated pickle envelope.
package pickle

import (
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/internal/cipher"
)

// MaxLen is the longest pickle text accepted, in bytes: large enough for an
// account holding 5000 one-time keys, small enough to refuse garbage early.
const MaxLen = 1 << 20

// KeySize is the size of the key of souverain's own pickle format.
const KeySize = 32

// Errors. Decoders wrap them with context.
var (
	// ErrBadKey means the MAC did not verify: the key is wrong, or the
	// pickle was changed.
	ErrBadKey = errors.New("bad pickle key")
	// ErrCorrupted means the pickle does not have the expected structure.
	ErrCorrupted = errors.New("corrupted pickle")
	// ErrVersion means the pickle is of a version this library cannot read.
	ErrVersion = errors.New("unknown pickle version")
	// ErrKeySize means a key for souverain's own format is not 32 bytes.
	ErrKeySize = errors.New("pickle key must be 32 bytes")
)

// Writer appends pickle fields to a buffer.
type Writer struct {
	Buf []byte
}

// U32 appends v as 4 bytes big-endian.
func (w *Writer) U32(v uint32) { w.Buf = binary.BigEndian.AppendUint32(w.Buf, v) }

// U8 appends one byte.
func (w *Writer) U8(v uint8) { w.Buf = append(w.Buf, v) }

// Bool appends a boolean as one byte, 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Bytes appends b as is.
func (w *Writer) Bytes(b []byte) { w.Buf = append(w.Buf, b...) }

// Reader reads pickle fields. The first error sticks: later reads return
// zero values, and Err reports it.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

func (r *Reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated reading %s", ErrCorrupted, what)
	}
	r.b = nil
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if len(r.b) < 4 {
		r.fail("integer")
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if len(r.b) < 1 {
		r.fail("byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// Bool reads a boolean byte; any non-zero value is true, as in libolm.
func (r *Reader) Bool() bool { return r.U8() != 0 }

// Read fills dst from the input.
func (r *Reader) Read(dst []byte) {
	if len(r.b) < len(dst) {
		r.fail("key")
		clear(dst)
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// Next returns the next n bytes of the input, sharing its array, or nil if
// fewer remain. Decoders read a fixed-size record with it, checking the
// length once for all its fields.
func (r *Reader) Next(n int) []byte {
	if len(r.b) < n {
		r.fail("record")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Count reads a uint32 element count and checks that the remaining input can
// hold that many elements of at least minSize bytes each, so that a hostile
// count never causes a large allocation.
func (r *Reader) Count(minSize int) int {
	n := r.U32()
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(minSize) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d exceeds the input", ErrCorrupted, n)
		r.b = nil
		return 0
	}
	return int(n)
}

// Remaining returns the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.b) }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Finish returns the first error met, or ErrCorrupted if input remains.
func (r *Reader) Finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupted, len(r.b))
	}
	return nil
}

// EncryptLibolm encrypts a libolm pickle body with libolm's scheme: the
// cipher expanded from key under "Pickle", AES-256-CBC, an 8-byte MAC over
// the ciphertext alone, unpadded base64 of ciphertext ‖ MAC. Any key length
// is accepted, as in libolm.
func EncryptLibolm(key, plain []byte) string {
	k := cipher.Derive(key, cipher.InfoPickle)
	defer k.Clear()
	out := k.Encrypt(make([]byte, 0, cipher.CiphertextLen(len(plain))+cipher.TruncatedMACSize), plain)
	mac := k.MAC(out)
	out = append(out, mac[:cipher.TruncatedMACSize]...)
	return b64.Encode(out)
}

// DecryptLibolm reverses EncryptLibolm. A wrong key gives ErrBadKey;
// malformed text gives ErrCorrupted. The body returned is secret: the caller
// wipes it.
func DecryptLibolm(key []byte, text string) ([]byte, error) {
	if len(text) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes is longer than %d", ErrCorrupted, len(text), MaxLen)
	}
	return decryptLibolm(make([]byte, 0, b64.DecodedLen(len(text))), key, text)
}

// OpenLibolm decrypts a libolm pickle as DecryptLibolm does and calls f with
// its body, which it wipes when f returns: f must copy what it keeps. It
// returns DecryptLibolm's errors or f's. Unlike DecryptLibolm, it decodes
// and decrypts in a buffer kept for the next pickle (for bodies up to
// maxPooled bytes, which accounts and sessions are), so that reading a
// pickle allocates nothing beyond the AES key schedule and what f does.
func OpenLibolm(key []byte, text string, f func(body []byte) error) error {
	if len(text) > MaxLen {
		return fmt.Errorf("%w: %d bytes is longer than %d", ErrCorrupted, len(text), MaxLen)
	}
	return withBuffer(b64.DecodedLen(len(text)), func(buf []byte) error {
		body, err := decryptLibolm(buf, key, text)
		if err != nil {
			return err
		}
		return f(body)
	})
}

// withBuffer calls fn with an empty slice of capacity at least n, one kept
// from an earlier call if n is at most maxPooled, and zeroes the n bytes fn
// may have written when fn returns.
func withBuffer(n int, fn func(buf []byte) error) error {
	if n > maxPooled {
		buf := make([]byte, 0, n)
		defer clear(buf[:n])
		return fn(buf)
	}
	bp, _ := buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < n {
		*bp = make([]byte, 0, max(n, 4<<10))
	}
	defer func() {
		clear((*bp)[:n])
		buffers.Put(bp)
	}()
	return fn((*bp)[:0])
}

// buffers holds the buffers of withBuffer as *[]byte, always zeroed.
var buffers sync.Pool

// maxPooled is the largest decoded pickle whose buffer withBuffer keeps:
// an account with 100 one-time keys takes about 7 KiB, a session with 40
// skipped message keys about 3.5 KiB.
const maxPooled = 16 << 10

// decryptLibolm decodes text into dst's spare capacity, which must hold
// the decoded bytes, and decrypts it there. The body it returns shares
// dst's array; on error, what was written there has been zeroed or is
// ciphertext.
func decryptLibolm(dst, key []byte, text string) ([]byte, error) {
	raw, err := b64.AppendDecode(dst, text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	if len(raw) < cipher.TruncatedMACSize+16 || (len(raw)-cipher.TruncatedMACSize)%16 != 0 {
		return nil, fmt.Errorf("%w: bad length %d", ErrCorrupted, len(raw))
	}
	ct, mac := raw[:len(raw)-cipher.TruncatedMACSize], raw[len(raw)-cipher.TruncatedMACSize:]
	k := cipher.Derive(key, cipher.InfoPickle)
	defer k.Clear()
	if !k.VerifyMAC(ct, mac) {
		return nil, ErrBadKey
	}
	plain, err := k.DecryptInPlace(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	return plain, nil
}

// Own format version byte.
const ownVersion = 1

// Encrypt seals a pickle body in souverain's own format: unpadded base64 of
// version (1 byte, 1) ‖ nonce (12) ‖ AES-256-GCM(key, body), with the
// version byte and kind as additional data so that a pickle of one type
// cannot be opened as another. key must be KeySize bytes.
func Encrypt(key []byte, kind string, body []byte) (string, error) {
	var nonce [12]byte
	rand.Read(nonce[:])
	return encrypt(key, kind, body, nonce)
}

func encrypt(key []byte, kind string, body []byte, nonce [12]byte) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, 1+len(nonce)+len(body)+aead.Overhead())
	out = append(out, ownVersion)
	out = append(out, nonce[:]...)
	out = aead.Seal(out, nonce[:], body, additionalData(kind))
	return b64.Encode(out), nil
}

// Decrypt opens a pickle written by Encrypt for the same kind. A wrong key
// or changed text gives ErrBadKey; malformed text ErrCorrupted; another
// version ErrVersion. The body returned is secret: the caller wipes it.
func Decrypt(key []byte, kind, text string) ([]byte, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	if len(text) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes is longer than %d", ErrCorrupted, len(text), MaxLen)
	}
	return decrypt(make([]byte, 0, b64.DecodedLen(len(text))), key, kind, text)
}

// Open opens a pickle written by Encrypt for the same kind, as Decrypt does,
// and calls f with its body, which it wipes when f returns: f must copy what
// it keeps. It returns Decrypt's errors or f's. Like OpenLibolm, it decodes
// and decrypts in a kept buffer.
func Open(key []byte, kind, text string, f func(body []byte) error) error {
	if len(key) != KeySize {
		return ErrKeySize
	}
	if len(text) > MaxLen {
		return fmt.Errorf("%w: %d bytes is longer than %d", ErrCorrupted, len(text), MaxLen)
	}
	return withBuffer(b64.DecodedLen(len(text)), func(buf []byte) error {
		body, err := decrypt(buf, key, kind, text)
		if err != nil {
			return err
		}
		return f(body)
	})
}

// decrypt decodes text into dst's spare capacity, which must hold the
// decoded bytes, and opens it there. The body it returns shares dst's
// array; on error, what was written there is ciphertext or has been zeroed.
func decrypt(dst, key []byte, kind, text string) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	raw, err := b64.AppendDecode(dst, text)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	if len(raw) < 1+12+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrCorrupted)
	}
	if raw[0] != ownVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, raw[0])
	}
	// Opened in place: GCM allows the output to be the ciphertext's start.
	body, err := aead.Open(raw[13:13], raw[1:13], raw[13:], additionalData(kind))
	if err != nil {
		return nil, ErrBadKey
	}
	return body, nil
}

func additionalData(kind string) []byte {
	return append([]byte{ownVersion}, "souverain pickle "+kind...)
}

func newAEAD(key []byte) (stdcipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return stdcipher.NewGCM(block)
}
