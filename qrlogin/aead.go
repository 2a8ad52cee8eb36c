package qrlogin

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/souverain/e2ee/internal/wipe"
)

// This file holds the machinery under both channels: RFC 9180 HPKE in base
// mode for the one suite MSC4388 uses, DHKEM(X25519, HKDF-SHA256) with
// HKDF-SHA256 and ChaCha20-Poly1305, and the counter-nonce AEAD context
// both channels use.
//
// crypto/hpke implements the same RFC, but draws the sender's ephemeral key
// itself and exposes no way to build a context from a key and a nonce,
// which the response direction (RFC 9458 §4.4) needs; so the key schedule
// is written out here from the RFC, over crypto/ecdh, crypto/hkdf and
// crypto/sha256, and the tests check it against crypto/hpke and against
// the RFC's own test vector (testdata/rfc9180-x25519-chacha.json).

const (
	hpkeKEMID  = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	hpkeKDFID  = 0x0001 // HKDF-SHA256
	hpkeAEADID = 0x0003 // ChaCha20-Poly1305

	aeadKeySize   = chacha20poly1305.KeySize   // 32
	aeadNonceSize = chacha20poly1305.NonceSize // 12
	aeadTagSize   = chacha20poly1305.Overhead  // 16
)

var (
	kemSuiteID  = []byte{'K', 'E', 'M', hpkeKEMID >> 8, hpkeKEMID & 0xff}
	hpkeSuiteID = []byte{'H', 'P', 'K', 'E', hpkeKEMID >> 8, hpkeKEMID & 0xff, hpkeKDFID >> 8, hpkeKDFID & 0xff, hpkeAEADID >> 8, hpkeAEADID & 0xff}
)

// labeledExtract is RFC 9180's LabeledExtract over HKDF-SHA256.
func labeledExtract(suite, salt []byte, label string, ikm []byte) []byte {
	in := make([]byte, 0, 7+len(suite)+len(label)+len(ikm))
	in = append(in, "HPKE-v1"...)
	in = append(in, suite...)
	in = append(in, label...)
	in = append(in, ikm...)
	prk, err := hkdf.Extract(sha256.New, in, salt)
	wipe.Bytes(in)
	if err != nil {
		panic("qrlogin: HKDF-Extract: " + err.Error()) // cannot happen: SHA-256 takes any input
	}
	return prk
}

// labeledExpand is RFC 9180's LabeledExpand over HKDF-SHA256; length is at
// most 255·32 (the callers ask for 2 to 32 bytes).
func labeledExpand(suite, prk []byte, label string, info []byte, length int) []byte {
	in := make([]byte, 0, 2+7+len(suite)+len(label)+len(info))
	in = binary.BigEndian.AppendUint16(in, uint16(length))
	in = append(in, "HPKE-v1"...)
	in = append(in, suite...)
	in = append(in, label...)
	in = append(in, info...)
	out, err := hkdf.Expand(sha256.New, prk, string(in), length)
	if err != nil {
		panic("qrlogin: HKDF-Expand: " + err.Error()) // cannot happen for these lengths
	}
	return out
}

// hpkeContext is an RFC 9180 encryption context: key, base nonce, sequence
// number and, for the original direction, the exporter secret.
type hpkeContext struct {
	aead           aeadContext
	exporterSecret [32]byte
}

// hpkeSetupSender is SetupBaseS with the ephemeral private key given:
// Encap(pkR) then KeySchedule(mode_base, shared_secret, info). It returns
// enc, the ephemeral public key. A low-order pkR gives an all-zero DH
// output, which crypto/ecdh refuses (ErrBadPublicKey).
func hpkeSetupSender(pkR PublicKey, ephemeral *[32]byte, info []byte) (enc PublicKey, ctx *hpkeContext, err error) {
	skE, err := ecdh.X25519().NewPrivateKey(ephemeral[:])
	if err != nil {
		return PublicKey{}, nil, fmt.Errorf("qrlogin: ephemeral key: %w", err)
	}
	enc, _ = NewPublicKey(skE.PublicKey().Bytes())
	ss, err := dhkemSharedSecret(skE, pkR, enc, pkR)
	if err != nil {
		return PublicKey{}, nil, err
	}
	defer wipe.Bytes(ss)
	return enc, hpkeKeySchedule(ss, info), nil
}

// hpkeSetupRecipient is SetupBaseR: Decap(enc, skR) then KeySchedule.
func hpkeSetupRecipient(enc PublicKey, skR *ecdh.PrivateKey, info []byte) (*hpkeContext, error) {
	pkR, _ := NewPublicKey(skR.PublicKey().Bytes())
	ss, err := dhkemSharedSecret(skR, enc, enc, pkR)
	if err != nil {
		return nil, err
	}
	defer wipe.Bytes(ss)
	return hpkeKeySchedule(ss, info), nil
}

// dhkemSharedSecret is DHKEM's DH then ExtractAndExpand with kem_context =
// enc ‖ pkR.
func dhkemSharedSecret(priv *ecdh.PrivateKey, pub, enc, pkR PublicKey) (ss []byte, err error) {
	wipe.Do(func() { ss, err = dhkemSharedSecretLocked(priv, pub, enc, pkR) })
	return ss, err
}

func dhkemSharedSecretLocked(priv *ecdh.PrivateKey, pub, enc, pkR PublicKey) ([]byte, error) {
	dh, err := x25519(priv, pub)
	if err != nil {
		return nil, err
	}
	defer wipe.Bytes(dh)
	kemContext := append(enc.Bytes(), pkR.b[:]...)
	eaePRK := labeledExtract(kemSuiteID, nil, "eae_prk", dh)
	defer wipe.Bytes(eaePRK)
	return labeledExpand(kemSuiteID, eaePRK, "shared_secret", kemContext, 32), nil
}

// x25519 computes the shared secret, refusing low-order keys (crypto/ecdh
// returns an error for an all-zero result).
func x25519(priv *ecdh.PrivateKey, pub PublicKey) ([]byte, error) {
	if !pub.set {
		return nil, fmt.Errorf("qrlogin: zero public key: %w", ErrBadPublicKey)
	}
	p, err := ecdh.X25519().NewPublicKey(pub.b[:])
	if err != nil {
		return nil, fmt.Errorf("qrlogin: %w", ErrBadPublicKey)
	}
	dh, err := priv.ECDH(p)
	if err != nil {
		return nil, fmt.Errorf("qrlogin: non-contributory key agreement: %w", ErrBadPublicKey)
	}
	return dh, nil
}

// hpkeKeySchedule is KeySchedule for mode_base (no PSK).
func hpkeKeySchedule(sharedSecret, info []byte) (ctx *hpkeContext) {
	wipe.Do(func() { ctx = hpkeKeyScheduleLocked(sharedSecret, info) })
	return ctx
}

func hpkeKeyScheduleLocked(sharedSecret, info []byte) *hpkeContext {
	pskIDHash := labeledExtract(hpkeSuiteID, nil, "psk_id_hash", nil)
	infoHash := labeledExtract(hpkeSuiteID, nil, "info_hash", info)
	ksContext := append(append([]byte{0x00}, pskIDHash...), infoHash...)
	secret := labeledExtract(hpkeSuiteID, sharedSecret, "secret", nil)
	defer wipe.Bytes(secret)
	key := labeledExpand(hpkeSuiteID, secret, "key", ksContext, aeadKeySize)
	nonce := labeledExpand(hpkeSuiteID, secret, "base_nonce", ksContext, aeadNonceSize)
	exp := labeledExpand(hpkeSuiteID, secret, "exp", ksContext, 32)
	ctx := &hpkeContext{aead: newAEADContext(key, nonce), exporterSecret: [32]byte(exp)}
	wipe.Bytes(key)
	wipe.Bytes(exp)
	return ctx
}

// export is the context's Export(exporter_context, L).
func (c *hpkeContext) export(exporterContext []byte, length int) (out []byte) {
	wipe.Do(func() { out = labeledExpand(hpkeSuiteID, c.exporterSecret[:], "sec", exporterContext, length) })
	return out
}

func (c *hpkeContext) wipe() {
	c.aead.wipe()
	wipe.Array32(&c.exporterSecret)
}

// aeadContext is ChaCha20-Poly1305 with a per-message counter: message i
// uses the nonce baseNonce XOR i, i as a big-endian number in the last 8
// bytes (RFC 9180 §5.2) or, with littleEndian, as a little-endian number
// in the first 8 (vodozemac's ECIES: a u128 counter, its first 12 bytes).
// The counter advances only when a message is sealed or opened
// successfully, so a failed open changes nothing.
type aeadContext struct {
	key          [aeadKeySize]byte
	baseNonce    [aeadNonceSize]byte
	seq          uint64
	littleEndian bool
}

func newAEADContext(key, baseNonce []byte) aeadContext {
	return aeadContext{key: [aeadKeySize]byte(key), baseNonce: [aeadNonceSize]byte(baseNonce)}
}

func (c *aeadContext) nonce() [aeadNonceSize]byte {
	n := c.baseNonce
	var seq [8]byte
	if c.littleEndian {
		binary.LittleEndian.PutUint64(seq[:], c.seq)
		for i := range 8 {
			n[i] ^= seq[i]
		}
	} else {
		binary.BigEndian.PutUint64(seq[:], c.seq)
		for i := range 8 {
			n[aeadNonceSize-8+i] ^= seq[i]
		}
	}
	return n
}

// seal encrypts the next message. The cipher state (a copy of the key
// that chacha20poly1305 makes on the heap) is built under wipe.Do, so that
// with runtime/secret it is erased once dropped.
func (c *aeadContext) seal(plaintext, aad []byte) ([]byte, error) {
	if c.seq == math.MaxUint64 {
		return nil, fmt.Errorf("qrlogin: %w", ErrTooManyMessages)
	}
	var out []byte
	wipe.Do(func() {
		a, err := chacha20poly1305.New(c.key[:])
		if err != nil {
			panic("qrlogin: " + err.Error()) // cannot happen: the key is 32 bytes
		}
		n := c.nonce()
		out = a.Seal(nil, n[:], plaintext, aad)
	})
	c.seq++
	return out, nil
}

func (c *aeadContext) open(ciphertext, aad []byte) ([]byte, error) {
	if c.seq == math.MaxUint64 {
		return nil, fmt.Errorf("qrlogin: %w", ErrTooManyMessages)
	}
	if len(ciphertext) < aeadTagSize {
		return nil, fmt.Errorf("qrlogin: ciphertext shorter than the tag: %w", ErrBadMessageFormat)
	}
	var out []byte
	var err error
	wipe.Do(func() {
		a, e := chacha20poly1305.New(c.key[:])
		if e != nil {
			panic("qrlogin: " + e.Error())
		}
		n := c.nonce()
		out, err = a.Open(nil, n[:], ciphertext, aad)
	})
	if err != nil {
		return nil, fmt.Errorf("qrlogin: %w", ErrBadMessageMAC)
	}
	c.seq++
	return out, nil
}

func (c *aeadContext) wipe() {
	wipe.Array32(&c.key)
	clear(c.baseNonce[:])
}
