package qrlogin

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"

	"github.com/souverain/e2ee/internal/wipe"
)

// The MSC4388 channel in vodozemac's terms: the sender (device S, which
// scanned the QR code) opens an HPKE context to the recipient's key (device
// G, which showed it) with info "MATRIX_QR_CODE_LOGIN" and seals the first
// message; the recipient opens it and answers with a random 32-byte
// response nonce and the first message of the other direction, sealed
// under a second context derived as RFC 9458 §4.4 does:
//
//	secret = Export("MATRIX_QR_CODE_LOGIN_RESPONSE", 32)
//	prk    = HKDF-Extract-SHA256(salt = enc ‖ response_nonce, secret)
//	key    = HKDF-Expand(prk, "key", 32); base_nonce = HKDF-Expand(prk, "nonce", 12)
//
// Both directions then count their messages from where they are (the
// sender's context has sealed one message, the response context one). The
// check code is Export("MATRIX_QR_CODE_LOGIN_CHECKCODE|Gp|Sp", 2) of the
// first context, Gp the recipient's key and Sp enc, in unpadded base64.
// Every message may carry associated data, which both sides must give alike.

// HPKESenderChannel is the sender's side of an MSC4388 channel after the
// first message: it can only wait for the recipient's initial response
// ([HPKESenderChannel.Establish]).
type HPKESenderChannel struct {
	mu     sync.Mutex
	ctx    *hpkeContext
	ours   PublicKey // enc
	theirs PublicKey
}

// EstablishHPKESender opens a channel to the device whose public key is
// theirs (read from its QR code) and seals plaintext, with associated data
// aad, as the first message. The ephemeral key comes from crypto/rand. It
// returns an error wrapping ErrBadPublicKey for a low-order key.
func EstablishHPKESender(theirs PublicKey, plaintext, aad []byte) (*HPKESenderChannel, *HPKEInitialMessage, error) {
	var eph [32]byte
	defer wipe.Array32(&eph)
	if _, err := io.ReadFull(rand.Reader, eph[:]); err != nil {
		return nil, nil, fmt.Errorf("qrlogin: generate HPKE ephemeral key: %w", err)
	}
	return establishHPKESender(theirs, plaintext, aad, &eph)
}

// establishHPKESender is EstablishHPKESender's deterministic twin.
func establishHPKESender(theirs PublicKey, plaintext, aad []byte, ephemeral *[32]byte) (*HPKESenderChannel, *HPKEInitialMessage, error) {
	if !theirs.set {
		return nil, nil, fmt.Errorf("qrlogin: zero public key: %w", ErrBadPublicKey)
	}
	enc, ctx, err := hpkeSetupSender(theirs, ephemeral, []byte(infoPrefix))
	if err != nil {
		return nil, nil, err
	}
	ct, err := ctx.aead.seal(plaintext, aad)
	if err != nil {
		ctx.wipe()
		return nil, nil, err
	}
	return &HPKESenderChannel{ctx: ctx, ours: enc, theirs: theirs},
		&HPKEInitialMessage{EncapsulatedKey: enc, Ciphertext: ct}, nil
}

// PublicKey returns our ephemeral key (the encapsulated key).
func (s *HPKESenderChannel) PublicKey() PublicKey { return s.ours }

// Establish opens the recipient's initial response, with associated data
// aad, and returns the bidirectional channel and the response's plaintext.
// It returns an error wrapping ErrBadMessageMAC if the response does not
// authenticate; the sender channel is then unchanged. After a successful
// call the sender channel returns errors wrapping ErrClosed.
func (s *HPKESenderChannel) Establish(r *HPKEInitialResponse, aad []byte) (*HPKEChannel, []byte, error) {
	if s == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil HPKE sender channel: %w", ErrNil)
	}
	if r == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil initial response: %w", ErrNil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil, nil, fmt.Errorf("qrlogin: HPKE sender channel already established or closed: %w", ErrClosed)
	}
	resp := responseContext(s.ctx, s.ours, &r.ResponseNonce)
	pt, err := resp.open(r.Ciphertext, aad)
	if err != nil {
		resp.wipe()
		return nil, nil, err
	}
	ch := &HPKEChannel{
		ours: s.ours, theirs: s.theirs, sender: true,
		checkCode: hpkeCheckCode(s.ctx, s.theirs, s.ours),
		seal:      s.ctx.aead, open: resp,
	}
	s.ctx.wipe()
	s.ctx = nil
	return ch, pt, nil
}

// HPKERecipient is the recipient's side of an MSC4388 channel before the
// first message: an X25519 key pair whose public key goes in the QR code.
type HPKERecipient struct {
	mu   sync.Mutex
	priv *ecdh.PrivateKey
}

// GenerateHPKERecipient returns a recipient with a random key from
// crypto/rand.
func GenerateHPKERecipient() (*HPKERecipient, error) {
	var seed [32]byte
	defer wipe.Array32(&seed)
	if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
		return nil, fmt.Errorf("qrlogin: generate HPKE key: %w", err)
	}
	return newHPKERecipient(&seed)
}

// newHPKERecipient is GenerateHPKERecipient's deterministic twin.
func newHPKERecipient(seed *[32]byte) (*HPKERecipient, error) {
	priv, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("qrlogin: HPKE key: %w", err)
	}
	return &HPKERecipient{priv: priv}, nil
}

// PublicKey returns the key to put in the QR code; the zero PublicKey once
// the recipient has established a channel.
func (r *HPKERecipient) PublicKey() PublicKey {
	if r == nil {
		return PublicKey{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.priv == nil {
		return PublicKey{}
	}
	k, _ := NewPublicKey(r.priv.PublicKey().Bytes())
	return k
}

// Establish opens the sender's first message, with associated data aad,
// and returns the one-way channel and the plaintext. It returns an error
// wrapping ErrBadMessageMAC if the message does not authenticate and
// ErrBadPublicKey for a low-order encapsulated key; the recipient is then
// unchanged and can take another message. After a successful call it
// returns errors wrapping ErrClosed.
//
// Until the user has confirmed the check code, anyone who saw the QR code
// may be on the other end.
func (r *HPKERecipient) Establish(m *HPKEInitialMessage, aad []byte) (*HPKERecipientChannel, []byte, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil HPKE recipient: %w", ErrNil)
	}
	if m == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil initial message: %w", ErrNil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.priv == nil {
		return nil, nil, fmt.Errorf("qrlogin: HPKE recipient already established a channel or closed: %w", ErrClosed)
	}
	if !m.EncapsulatedKey.set {
		return nil, nil, fmt.Errorf("qrlogin: zero encapsulated key: %w", ErrBadPublicKey)
	}
	ctx, err := hpkeSetupRecipient(m.EncapsulatedKey, r.priv, []byte(infoPrefix))
	if err != nil {
		return nil, nil, err
	}
	pt, err := ctx.aead.open(m.Ciphertext, aad)
	if err != nil {
		ctx.wipe()
		return nil, nil, err
	}
	ours, _ := NewPublicKey(r.priv.PublicKey().Bytes())
	r.priv = nil
	return &HPKERecipientChannel{ctx: ctx, ours: ours, theirs: m.EncapsulatedKey}, pt, nil
}

// HPKERecipientChannel is the recipient's side after the first message: it
// can answer with the initial response ([HPKERecipientChannel.Respond]),
// which makes the channel bidirectional.
type HPKERecipientChannel struct {
	mu     sync.Mutex
	ctx    *hpkeContext
	ours   PublicKey
	theirs PublicKey // enc
}

// Respond seals plaintext, with associated data aad, as the initial
// response under a fresh random response nonce, and returns the
// bidirectional channel. After a successful call the recipient channel
// returns errors wrapping ErrClosed.
func (c *HPKERecipientChannel) Respond(plaintext, aad []byte) (*HPKEChannel, *HPKEInitialResponse, error) {
	var nonce [ResponseNonceSize]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, nil, fmt.Errorf("qrlogin: generate response nonce: %w", err)
	}
	return c.respond(plaintext, aad, &nonce)
}

// respond is Respond's deterministic twin.
func (c *HPKERecipientChannel) respond(plaintext, aad []byte, nonce *[ResponseNonceSize]byte) (*HPKEChannel, *HPKEInitialResponse, error) {
	if c == nil {
		return nil, nil, fmt.Errorf("qrlogin: nil HPKE recipient channel: %w", ErrNil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return nil, nil, fmt.Errorf("qrlogin: HPKE recipient channel already responded or closed: %w", ErrClosed)
	}
	resp := responseContext(c.ctx, c.theirs, nonce)
	ct, err := resp.seal(plaintext, aad)
	if err != nil {
		return nil, nil, err
	}
	ch := &HPKEChannel{
		ours: c.ours, theirs: c.theirs,
		checkCode: hpkeCheckCode(c.ctx, c.ours, c.theirs),
		seal:      resp, open: c.ctx.aead,
	}
	c.ctx.wipe()
	c.ctx = nil
	return ch, &HPKEInitialResponse{ResponseNonce: *nonce, Ciphertext: ct}, nil
}

// PublicKey returns our key (the one in the QR code).
func (c *HPKERecipientChannel) PublicKey() PublicKey { return c.ours }

// TheirPublicKey returns the sender's encapsulated key.
func (c *HPKERecipientChannel) TheirPublicKey() PublicKey { return c.theirs }

// responseContext derives the response direction's context (RFC 9458 §4.4
// as vodozemac adapts it: the result is a full counter-nonce context).
func responseContext(ctx *hpkeContext, enc PublicKey, nonce *[ResponseNonceSize]byte) (c aeadContext) {
	wipe.Do(func() { c = deriveResponseContext(ctx, enc, nonce) })
	return c
}

func deriveResponseContext(ctx *hpkeContext, enc PublicKey, nonce *[ResponseNonceSize]byte) aeadContext {
	secret := ctx.export([]byte(infoPrefix+"_RESPONSE"), aeadKeySize)
	defer wipe.Bytes(secret)
	salt := append(enc.Bytes(), nonce[:]...)
	prk, err := hkdf.Extract(sha256.New, secret, salt)
	if err != nil {
		panic("qrlogin: " + err.Error())
	}
	defer wipe.Bytes(prk)
	key, err := hkdf.Expand(sha256.New, prk, "key", aeadKeySize)
	if err != nil {
		panic("qrlogin: " + err.Error())
	}
	defer wipe.Bytes(key)
	base, err := hkdf.Expand(sha256.New, prk, "nonce", aeadNonceSize)
	if err != nil {
		panic("qrlogin: " + err.Error())
	}
	return newAEADContext(key, base)
}

// hpkeCheckCode exports the check code from the first context.
func hpkeCheckCode(ctx *hpkeContext, g, s PublicKey) CheckCode {
	b := ctx.export([]byte(infoPrefix+"_CHECKCODE|"+g.String()+"|"+s.String()), 2)
	return CheckCode{b: [2]byte(b)}
}

// HPKEChannel is an established, bidirectional MSC4388 channel. Seal and
// Open messages in order, with the same associated data on both sides;
// each direction has its own counter. Its methods are safe for concurrent
// use.
type HPKEChannel struct {
	mu         sync.Mutex
	ours       PublicKey
	theirs     PublicKey
	sender     bool
	checkCode  CheckCode
	seal, open aeadContext
	closed     bool
}

// CheckCode returns the code both sides derive; see [CheckCode].
func (c *HPKEChannel) CheckCode() CheckCode { return c.checkCode }

// PublicKey returns our public key on this channel (the sender's
// encapsulated key, or the recipient's QR code key).
func (c *HPKEChannel) PublicKey() PublicKey { return c.ours }

// TheirPublicKey returns the other side's public key on this channel.
func (c *HPKEChannel) TheirPublicKey() PublicKey { return c.theirs }

// Seal encrypts the next message to the other side, binding aad. It fails
// only after Close (ErrClosed) or after 2^64 − 1 messages
// (ErrTooManyMessages).
func (c *HPKEChannel) Seal(plaintext, aad []byte) (*HPKEMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("qrlogin: seal: %w", ErrClosed)
	}
	ct, err := c.seal.seal(plaintext, aad)
	if err != nil {
		return nil, err
	}
	return &HPKEMessage{Ciphertext: ct}, nil
}

// Open decrypts the next message from the other side with associated data
// aad. A message that was altered, replayed, reordered, follows a dropped
// one, or was sealed with other associated data returns an error wrapping
// ErrBadMessageMAC and leaves the channel as it was.
func (c *HPKEChannel) Open(m *HPKEMessage, aad []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("qrlogin: open: %w", ErrClosed)
	}
	if m == nil {
		return nil, fmt.Errorf("qrlogin: nil message: %w", ErrNil)
	}
	return c.open.open(m.Ciphertext, aad)
}

// Close wipes the channel's keys; later calls return ErrClosed.
func (c *HPKEChannel) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seal.wipe()
	c.open.wipe()
	c.closed = true
}

// String describes the channel without its keys.
func (c *HPKEChannel) String() string {
	role := "recipient"
	if c.sender {
		role = "sender"
	}
	return fmt.Sprintf("qrlogin.HPKEChannel{%s, ours %s, theirs %s}", role, c.ours, c.theirs)
}

// GoString is String, so that %#v shows no keys either.
func (c *HPKEChannel) GoString() string { return c.String() }

// String describes the recipient without its private key.
func (r *HPKERecipient) String() string {
	return "qrlogin.HPKERecipient{" + r.PublicKey().String() + "}"
}

// GoString is String, so that %#v shows no key either.
func (r *HPKERecipient) GoString() string { return r.String() }

// String describes the channel without its keys.
func (s *HPKESenderChannel) String() string {
	return fmt.Sprintf("qrlogin.HPKESenderChannel{ours %s, theirs %s}", s.ours, s.theirs)
}

// GoString is String, so that %#v shows no keys either.
func (s *HPKESenderChannel) GoString() string { return s.String() }

// String describes the channel without its keys.
func (c *HPKERecipientChannel) String() string {
	return fmt.Sprintf("qrlogin.HPKERecipientChannel{ours %s, theirs %s}", c.ours, c.theirs)
}

// GoString is String, so that %#v shows no keys either.
func (c *HPKERecipientChannel) GoString() string { return c.String() }

// Close drops the private key of a recipient that will not establish a
// channel; later calls return ErrClosed.
func (r *HPKERecipient) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.priv = nil
}

// Close wipes the keys of a sender channel that will not be established;
// later calls return ErrClosed.
func (s *HPKESenderChannel) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		s.ctx.wipe()
		s.ctx = nil
	}
}

// Close wipes the keys of a recipient channel that will not respond;
// later calls return ErrClosed.
func (c *HPKERecipientChannel) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil {
		c.ctx.wipe()
		c.ctx = nil
	}
}
