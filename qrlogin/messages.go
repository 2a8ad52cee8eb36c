package qrlogin

import (
	"fmt"
	"strings"

	"github.com/souverain/e2ee/internal/b64"
)

// MaxMessageSize is the longest encoded channel message Parse functions
// accept, in bytes of text: 64 KiB, the library's limit on every message
// (a whole Matrix event is at most 65,536 bytes). MSC4108's payloads, the
// largest being the secrets handed to the new device, are a few KiB.
const MaxMessageSize = 64 << 10

// ECIESInitialMessage is the first message of an MSC4108 channel, from the
// initiator: its ephemeral public key and the first ciphertext.
//
// Text form (vodozemac's InitialMessage::encode): the unpadded base64 of
// the ciphertext, "|", the unpadded base64 of the 32-byte key.
type ECIESInitialMessage struct {
	// PublicKey is the initiator's ephemeral key, unauthenticated.
	PublicKey PublicKey
	// Ciphertext is the ChaCha20-Poly1305 ciphertext with its 16-byte tag.
	Ciphertext []byte
}

// ParseECIESInitialMessage decodes the text form strictly: canonical
// unpadded base64 on both sides of exactly one "|", a 32-byte key, a
// ciphertext of at least the 16-byte tag. Errors wrap ErrBadMessageFormat,
// ErrBadPublicKey or ErrMessageTooLarge.
func ParseECIESInitialMessage(s string) (*ECIESInitialMessage, error) {
	if len(s) > MaxMessageSize {
		return nil, fmt.Errorf("qrlogin: initial message of %d bytes: %w", len(s), ErrMessageTooLarge)
	}
	ctText, keyText, ok := strings.Cut(s, "|")
	if !ok {
		return nil, fmt.Errorf("qrlogin: initial message has no '|': %w", ErrBadMessageFormat)
	}
	key, err := ParsePublicKey(keyText)
	if err != nil {
		return nil, err
	}
	ct, err := decodeCiphertext(ctText)
	if err != nil {
		return nil, err
	}
	return &ECIESInitialMessage{PublicKey: key, Ciphertext: ct}, nil
}

// String returns the text form.
func (m *ECIESInitialMessage) String() string {
	return b64.Encode(m.Ciphertext) + "|" + m.PublicKey.String()
}

// ECIESMessage is a message of an established MSC4108 channel.
//
// Text form: the unpadded base64 of the ciphertext.
type ECIESMessage struct {
	// Ciphertext is the ChaCha20-Poly1305 ciphertext with its 16-byte tag.
	Ciphertext []byte
}

// ParseECIESMessage decodes the text form strictly (canonical unpadded
// base64 of at least 16 bytes). Errors wrap ErrBadMessageFormat or
// ErrMessageTooLarge.
func ParseECIESMessage(s string) (*ECIESMessage, error) {
	ct, err := decodeMessage(s)
	if err != nil {
		return nil, err
	}
	return &ECIESMessage{Ciphertext: ct}, nil
}

// String returns the text form.
func (m *ECIESMessage) String() string { return b64.Encode(m.Ciphertext) }

// HPKEInitialMessage is the first message of an MSC4388 channel, from the
// sender: the HPKE encapsulated key (the sender's ephemeral public key)
// and the first ciphertext.
//
// Text form (vodozemac's hpke::InitialMessage::encode): the unpadded
// base64 of the 32-byte key followed by the ciphertext.
type HPKEInitialMessage struct {
	// EncapsulatedKey is HPKE's enc, the sender's ephemeral key.
	EncapsulatedKey PublicKey
	// Ciphertext is the ChaCha20-Poly1305 ciphertext with its 16-byte tag.
	Ciphertext []byte
}

// ParseHPKEInitialMessage decodes the text form strictly. Errors wrap
// ErrBadMessageFormat or ErrMessageTooLarge.
func ParseHPKEInitialMessage(s string) (*HPKEInitialMessage, error) {
	b, err := decodeMessage(s)
	if err != nil {
		return nil, err
	}
	if len(b) < KeySize+aeadTagSize {
		return nil, fmt.Errorf("qrlogin: HPKE initial message of %d bytes: %w", len(b), ErrBadMessageFormat)
	}
	key, _ := NewPublicKey(b[:KeySize])
	return &HPKEInitialMessage{EncapsulatedKey: key, Ciphertext: b[KeySize:]}, nil
}

// String returns the text form.
func (m *HPKEInitialMessage) String() string {
	return b64.Encode(append(m.EncapsulatedKey.Bytes(), m.Ciphertext...))
}

// ResponseNonceSize is the length of the random nonce in an
// HPKEInitialResponse: the AEAD key size, as RFC 9458 §4.4 sets it.
const ResponseNonceSize = 32

// HPKEInitialResponse is the recipient's first message, which makes an
// MSC4388 channel bidirectional: a random response nonce and the first
// ciphertext of the response direction.
//
// Text form: the unpadded base64 of the 32-byte nonce followed by the
// ciphertext.
type HPKEInitialResponse struct {
	// ResponseNonce is the recipient's random input to the response keys.
	ResponseNonce [ResponseNonceSize]byte
	// Ciphertext is the ChaCha20-Poly1305 ciphertext with its 16-byte tag.
	Ciphertext []byte
}

// ParseHPKEInitialResponse decodes the text form strictly. Errors wrap
// ErrBadMessageFormat or ErrMessageTooLarge.
func ParseHPKEInitialResponse(s string) (*HPKEInitialResponse, error) {
	b, err := decodeMessage(s)
	if err != nil {
		return nil, err
	}
	if len(b) < ResponseNonceSize+aeadTagSize {
		return nil, fmt.Errorf("qrlogin: HPKE initial response of %d bytes: %w", len(b), ErrBadMessageFormat)
	}
	return &HPKEInitialResponse{ResponseNonce: [ResponseNonceSize]byte(b), Ciphertext: b[ResponseNonceSize:]}, nil
}

// String returns the text form.
func (m *HPKEInitialResponse) String() string {
	return b64.Encode(append(m.ResponseNonce[:], m.Ciphertext...))
}

// HPKEMessage is a message of an established MSC4388 channel.
//
// Text form: the unpadded base64 of the ciphertext.
type HPKEMessage struct {
	// Ciphertext is the ChaCha20-Poly1305 ciphertext with its 16-byte tag.
	Ciphertext []byte
}

// ParseHPKEMessage decodes the text form strictly (canonical unpadded
// base64 of at least 16 bytes). Errors wrap ErrBadMessageFormat or
// ErrMessageTooLarge.
func ParseHPKEMessage(s string) (*HPKEMessage, error) {
	ct, err := decodeMessage(s)
	if err != nil {
		return nil, err
	}
	return &HPKEMessage{Ciphertext: ct}, nil
}

// String returns the text form.
func (m *HPKEMessage) String() string { return b64.Encode(m.Ciphertext) }

// decodeMessage checks the size limit and decodes a ciphertext.
func decodeMessage(s string) ([]byte, error) {
	if len(s) > MaxMessageSize {
		return nil, fmt.Errorf("qrlogin: message of %d bytes: %w", len(s), ErrMessageTooLarge)
	}
	return decodeCiphertext(s)
}

// decodeCiphertext decodes canonical unpadded base64 of at least one tag.
func decodeCiphertext(s string) ([]byte, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("qrlogin: message is not unpadded base64: %w", ErrBadMessageFormat)
	}
	if len(b) < aeadTagSize {
		return nil, fmt.Errorf("qrlogin: message of %d bytes is shorter than its tag: %w", len(b), ErrBadMessageFormat)
	}
	return b, nil
}
