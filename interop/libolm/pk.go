package libolm

/*
#include <stdlib.h>
#include <olm/olm.h>
#include <olm/pk.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// PkMessage is a message of libolm's public-key encryption (the
// m.megolm_backup.v1.curve25519-aes-sha2 session_data), its three fields
// in unpadded base64.
type PkMessage struct {
	Ciphertext string
	MAC        string
	Ephemeral  string
}

// PkEncryptRandomLength returns the number of random bytes [PkEncrypt]
// needs (32 in libolm 3.2.13: the ephemeral private key).
func PkEncryptRandomLength() int {
	var n int
	withPkEncryption(func(e *C.OlmPkEncryption) {
		n = int(C.olm_pk_encrypt_random_length(e))
	})
	return n
}

func withPkEncryption(f func(e *C.OlmPkEncryption)) {
	mem := C.malloc(C.olm_pk_encryption_size())
	e := C.olm_pk_encryption(mem)
	defer func() {
		C.olm_clear_pk_encryption(e)
		C.free(mem)
	}()
	f(e)
}

// PkEncrypt encrypts plaintext to recipientKey (a Curve25519 public key,
// unpadded base64) with olm_pk_encrypt, using random (at least
// [PkEncryptRandomLength] bytes) as the ephemeral private key. The same
// random gives the same message.
func PkEncrypt(recipientKey string, plaintext, random []byte) (PkMessage, error) {
	var msg PkMessage
	var err error
	withPkEncryption(func(e *C.OlmPkEncryption) {
		k := cCopyString(recipientKey)
		defer k.free()
		if isErr(C.olm_pk_encryption_set_recipient_key(e, k.p, k.size())) {
			err = &Error{Op: "pk encrypt", Code: C.GoString(C.olm_pk_encryption_last_error(e))}
			return
		}
		pt := cCopy(plaintext)
		defer pt.free()
		ct := newCBuf(int(C.olm_pk_ciphertext_length(e, pt.size())))
		defer ct.free()
		mac := newCBuf(int(C.olm_pk_mac_length(e)))
		defer mac.free()
		eph := newCBuf(int(C.olm_pk_key_length()))
		defer eph.free()
		r := cCopy(random)
		defer r.free()
		if isErr(C.olm_pk_encrypt(e, pt.p, pt.size(), ct.p, ct.size(), mac.p, mac.size(), eph.p, eph.size(), r.p, r.size())) {
			err = &Error{Op: "pk encrypt", Code: C.GoString(C.olm_pk_encryption_last_error(e))}
			return
		}
		msg = PkMessage{
			Ciphertext: string(ct.bytes(ct.n)),
			MAC:        string(mac.bytes(mac.n)),
			Ephemeral:  string(eph.bytes(eph.n)),
		}
	})
	return msg, err
}

// PkEncryptRand is [PkEncrypt] with random bytes from crypto/rand.
func PkEncryptRand(recipientKey string, plaintext []byte) (PkMessage, error) {
	r := readRandom(PkEncryptRandomLength())
	defer wipe(r)
	return PkEncrypt(recipientKey, plaintext, r)
}

// PkDecryption is a libolm OlmPkDecryption: a Curve25519 key pair that
// decrypts [PkMessage]s. It owns C memory; call Free when done.
type PkDecryption struct {
	ptr       *C.OlmPkDecryption
	publicKey string
	cleanup   runtime.Cleanup
}

func freePkDecryption(p *C.OlmPkDecryption) {
	live.Add(-1)
	C.olm_clear_pk_decryption(p)
	C.free(unsafe.Pointer(p))
}

// NewPkDecryption creates a key pair from 32 private bytes with
// olm_pk_key_from_private.
func NewPkDecryption(private []byte) (*PkDecryption, error) {
	p := C.olm_pk_decryption(C.malloc(C.olm_pk_decryption_size()))
	live.Add(1)
	d := &PkDecryption{ptr: p}
	d.cleanup = runtime.AddCleanup(d, freePkDecryption, p)
	pub := newCBuf(int(C.olm_pk_key_length()))
	defer pub.free()
	priv := cCopy(private)
	defer priv.free()
	if isErr(C.olm_pk_key_from_private(p, pub.p, pub.size(), priv.p, priv.size())) {
		err := d.err("pk key from private")
		d.Free()
		return nil, err
	}
	d.publicKey = string(pub.bytes(pub.n))
	return d, nil
}

// NewPkDecryptionRand creates a random key pair from crypto/rand.
func NewPkDecryptionRand() (*PkDecryption, error) {
	r := readRandom(int(C.olm_pk_private_key_length()))
	defer wipe(r)
	return NewPkDecryption(r)
}

// Free wipes and releases the C memory. Free is idempotent.
func (d *PkDecryption) Free() {
	if d == nil || d.ptr == nil {
		return
	}
	d.cleanup.Stop()
	freePkDecryption(d.ptr)
	d.ptr = nil
}

func (d *PkDecryption) err(op string) error {
	return &Error{Op: op, Code: C.GoString(C.olm_pk_decryption_last_error(d.ptr))}
}

// PublicKey returns the public key, unpadded base64.
func (d *PkDecryption) PublicKey() string { return d.publicKey }

// PrivateKey returns the 32 private bytes (olm_pk_get_private_key).
func (d *PkDecryption) PrivateKey() ([]byte, error) {
	if d.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(d)
	out := newCBuf(int(C.olm_pk_private_key_length()))
	defer out.free()
	if isErr(C.olm_pk_get_private_key(d.ptr, out.p, out.size())) {
		return nil, d.err("pk get private key")
	}
	return out.bytes(out.n), nil
}

// Decrypt decrypts a message with olm_pk_decrypt. A wrong key or MAC gives
// an error matching [ErrBadMessageMAC]; fields of the wrong length or
// padded base64 give [ErrInvalidBase64].
func (d *PkDecryption) Decrypt(msg PkMessage) ([]byte, error) {
	if d.ptr == nil {
		return nil, ErrFreed
	}
	defer runtime.KeepAlive(d)
	eph := cCopyString(msg.Ephemeral)
	defer eph.free()
	mac := cCopyString(msg.MAC)
	defer mac.free()
	ct := cCopyString(msg.Ciphertext) // decoded in place by libolm
	defer ct.free()
	out := newCBuf(int(C.olm_pk_max_plaintext_length(d.ptr, ct.size())))
	defer out.free()
	r := C.olm_pk_decrypt(d.ptr, eph.p, eph.size(), mac.p, mac.size(), ct.p, ct.size(), out.p, out.size())
	if isErr(r) {
		return nil, d.err("pk decrypt")
	}
	return out.bytes(int(r)), nil
}
