package qrlogin

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"
	"sync"

	"github.com/souverain/e2ee/internal/wipe"
)

// infoPrefix is the application info of both channels (MSC4108, MSC4388),
// vodozemac's MATRIX_QR_LOGIN_INFO_PREFIX.
const infoPrefix = "MATRIX_QR_CODE_LOGIN"

// ECIES is one side of an MSC4108 secure channel before it is established:
// an ephemeral X25519 key pair. The recipient (device G, which shows its
// public key in the QR code) waits for the first message with
// [ECIES.EstablishInbound]; the initiator (device S, which scanned it)
// sends it with [ECIES.EstablishOutbound]. An ECIES establishes one
// channel: after a successful call it returns errors wrapping ErrClosed.
//
// The scheme, as vodozemac implements it: X25519 between the two keys;
// HKDF-SHA-512 without salt over the shared secret, expanded with the
// info strings "MATRIX_QR_CODE_LOGIN_ENCKEY_S|Gp|Sp" (key of S's
// messages), "…_ENCKEY_G|Gp|Sp" (G's) and "…_CHECKCODE|Gp|Sp" (2 bytes),
// where Gp and Sp are the public keys in unpadded base64; ChaCha20-Poly1305
// with a 12-byte nonce counting the messages of each direction from 0,
// little-endian, no associated data.
type ECIES struct {
	mu   sync.Mutex
	priv *ecdh.PrivateKey
}

// GenerateECIES returns a new ECIES with a random key from crypto/rand.
func GenerateECIES() (*ECIES, error) {
	var seed [32]byte
	defer wipe.Array32(&seed)
	if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
		return nil, fmt.Errorf("qrlogin: generate ECIES key: %w", err)
	}
	return newECIES(&seed)
}

// newECIES is GenerateECIES's deterministic twin: the private key is seed.
func newECIES(seed *[32]byte) (*ECIES, error) {
	priv, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("qrlogin: ECIES key: %w", err)
	}
	return &ECIES{priv: priv}, nil
}

// PublicKey returns the public key to put in the QR code (recipient) or
// that the first message carries (initiator). It is the zero PublicKey
// once the ECIES has established a channel.
func (e *ECIES) PublicKey() PublicKey {
	if e == nil {
		return PublicKey{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.priv == nil {
		return PublicKey{}
	}
	k, _ := NewPublicKey(e.priv.PublicKey().Bytes())
	return k
}

// take hands out the private key once.
func (e *ECIES) take() (*ecdh.PrivateKey, error) {
	if e == nil {
		return nil, fmt.Errorf("qrlogin: nil ECIES: %w", ErrNil)
	}
	if e.priv == nil {
		return nil, fmt.Errorf("qrlogin: ECIES already established a channel or closed: %w", ErrClosed)
	}
	return e.priv, nil
}

// EstablishOutbound opens a channel to the device whose public key is
// theirs (read from its QR code) and encrypts plaintext as the first
// message, which carries our public key. It returns an error wrapping
// ErrBadPublicKey for a low-order key (the shared secret would be public).
//
// The channel is authenticated on our side (we know their key from the QR
// code); the other side learns who we are only when the user confirms the
// check code.
func (e *ECIES) EstablishOutbound(theirs PublicKey, plaintext []byte) (*ECIESChannel, *ECIESInitialMessage, error) {
	if e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	priv, err := e.take()
	if err != nil {
		return nil, nil, err
	}
	ch, err := newECIESChannel(priv, theirs, true)
	if err != nil {
		return nil, nil, err
	}
	ct, err := ch.enc.seal(plaintext, nil)
	if err != nil {
		ch.Close()
		return nil, nil, err
	}
	e.priv = nil
	return ch, &ECIESInitialMessage{PublicKey: ch.ours, Ciphertext: ct}, nil
}

// EstablishInbound opens the channel from the initiator's first message
// and returns it with the message's plaintext. It returns an error wrapping
// ErrBadMessageMAC if the message does not decrypt (it was not made for our
// key, or was altered) and ErrBadPublicKey for a low-order key; the ECIES
// is then unchanged and can take another message.
//
// Until the user has confirmed the check code, anyone who saw the QR code
// may be on the other end.
func (e *ECIES) EstablishInbound(m *ECIESInitialMessage) (*ECIESChannel, []byte, error) {
	if e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	priv, err := e.take()
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil initial message: %w", ErrNil)
	}
	ch, err := newECIESChannel(priv, m.PublicKey, false)
	if err != nil {
		return nil, nil, err
	}
	pt, err := ch.dec.open(m.Ciphertext, nil)
	if err != nil {
		ch.Close()
		return nil, nil, err
	}
	e.priv = nil
	return ch, pt, nil
}

// ECIESChannel is an established MSC4108 channel. Encrypt and Decrypt
// messages in order; each direction has its own counter. Its methods are
// safe for concurrent use.
type ECIESChannel struct {
	mu        sync.Mutex
	ours      PublicKey
	theirs    PublicKey
	initiator bool
	checkCode CheckCode
	enc, dec  aeadContext
	closed    bool
}

// newECIESChannel derives the channel's keys under wipe.Do.
func newECIESChannel(priv *ecdh.PrivateKey, theirs PublicKey, initiator bool) (c *ECIESChannel, err error) {
	wipe.Do(func() { c, err = deriveECIESChannel(priv, theirs, initiator) })
	return c, err
}

func deriveECIESChannel(priv *ecdh.PrivateKey, theirs PublicKey, initiator bool) (*ECIESChannel, error) {
	dh, err := x25519(priv, theirs)
	if err != nil {
		return nil, err
	}
	defer wipe.Bytes(dh)
	ours, _ := NewPublicKey(priv.PublicKey().Bytes())
	g, s := ours, theirs
	if initiator {
		g, s = theirs, ours
	}
	suffix := "|" + g.String() + "|" + s.String()
	prk, err := hkdf.Extract(sha512.New, dh, nil)
	if err != nil {
		panic("qrlogin: " + err.Error())
	}
	defer wipe.Bytes(prk)
	expand := func(label string, n int) []byte {
		out, err := hkdf.Expand(sha512.New, prk, infoPrefix+label+suffix, n)
		if err != nil {
			panic("qrlogin: " + err.Error())
		}
		return out
	}
	keyS, keyG := expand("_ENCKEY_S", aeadKeySize), expand("_ENCKEY_G", aeadKeySize)
	defer wipe.Bytes(keyS)
	defer wipe.Bytes(keyG)
	var zeroNonce [aeadNonceSize]byte
	c := &ECIESChannel{ours: ours, theirs: theirs, initiator: initiator}
	c.checkCode.b = [2]byte(expand("_CHECKCODE", 2))
	if initiator {
		c.enc, c.dec = newAEADContext(keyS, zeroNonce[:]), newAEADContext(keyG, zeroNonce[:])
	} else {
		c.enc, c.dec = newAEADContext(keyG, zeroNonce[:]), newAEADContext(keyS, zeroNonce[:])
	}
	c.enc.littleEndian, c.dec.littleEndian = true, true
	return c, nil
}

// CheckCode returns the code both sides derive; see [CheckCode].
func (c *ECIESChannel) CheckCode() CheckCode { return c.checkCode }

// PublicKey returns our public key on this channel.
func (c *ECIESChannel) PublicKey() PublicKey { return c.ours }

// TheirPublicKey returns the other side's public key on this channel.
func (c *ECIESChannel) TheirPublicKey() PublicKey { return c.theirs }

// Encrypt encrypts the next message to the other side. It fails only
// after Close (ErrClosed) or after 2^64 − 1 messages (ErrTooManyMessages).
func (c *ECIESChannel) Encrypt(plaintext []byte) (*ECIESMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("qrlogin: encrypt: %w", ErrClosed)
	}
	ct, err := c.enc.seal(plaintext, nil)
	if err != nil {
		return nil, err
	}
	return &ECIESMessage{Ciphertext: ct}, nil
}

// Decrypt decrypts the next message from the other side. A message that
// was altered, replayed, reordered, or follows a dropped one returns an
// error wrapping ErrBadMessageMAC and leaves the channel as it was.
func (c *ECIESChannel) Decrypt(m *ECIESMessage) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("qrlogin: decrypt: %w", ErrClosed)
	}
	if m == nil {
		return nil, fmt.Errorf("qrlogin: nil message: %w", ErrNil)
	}
	return c.dec.open(m.Ciphertext, nil)
}

// Close wipes the channel's keys; later calls return ErrClosed.
func (c *ECIESChannel) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enc.wipe()
	c.dec.wipe()
	c.closed = true
}

// String describes the channel without its keys.
func (c *ECIESChannel) String() string {
	role := "recipient"
	if c.initiator {
		role = "initiator"
	}
	return fmt.Sprintf("qrlogin.ECIESChannel{%s, ours %s, theirs %s}", role, c.ours, c.theirs)
}

// GoString is String, so that %#v shows no keys either.
func (c *ECIESChannel) GoString() string { return c.String() }

// String describes the ECIES without its private key.
func (e *ECIES) String() string { return "qrlogin.ECIES{" + e.PublicKey().String() + "}" }

// GoString is String, so that %#v shows no key either.
func (e *ECIES) GoString() string { return e.String() }

// Close drops the private key of an ECIES that will not establish a
// channel; later calls return ErrClosed. (crypto/ecdh keeps its own copy
// of the key, which the garbage collector reclaims.)
func (e *ECIES) Close() {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.priv = nil
}
