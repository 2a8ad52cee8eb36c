package olm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/wire"
	"github.com/souverain/e2ee/olm"
)

func TestMessageSizeLimit(t *testing.T) {
	b := make([]byte, olm.MaxMessageSize+1)
	b[0] = 3
	if _, err := olm.ParseNormalMessage(b); !errors.Is(err, olm.ErrMessageTooLarge) {
		t.Fatalf("normal message of %d bytes: %v", len(b), err)
	}
	if _, err := olm.ParsePreKeyMessage(b); !errors.Is(err, olm.ErrMessageTooLarge) {
		t.Fatalf("pre-key message of %d bytes: %v", len(b), err)
	}
	allocs := testing.AllocsPerRun(10, func() { olm.ParseNormalMessage(b) })
	if allocs > 8 { // the error value and its message, not the input
		t.Fatalf("refusing an oversized message allocated %v times", allocs)
	}
	// Exactly MaxMessageSize is accepted by the decoder.
	alice, bob, _, _ := pair(t, olm.SessionConfigV1())
	roundTrip(t, bob, alice, "ack")
	m, _ := alice.Encrypt(make([]byte, olm.MaxMessageSize-100))
	if len(m.Bytes()) > olm.MaxMessageSize {
		t.Fatalf("test message too long: %d", len(m.Bytes()))
	}
	if _, err := bob.Decrypt(m); err != nil {
		t.Fatal(err)
	}
}

func TestLowOrderKeysRefusedInHandshake(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	bob.GenerateOneTimeKeys(1)
	var otk olm.Curve25519PublicKey
	for _, k := range bob.OneTimeKeys() {
		otk = k
	}
	for _, p := range lowOrderPoints {
		low := olm.Curve25519PublicKey(p)
		if _, err := alice.NewOutboundSession(low, otk); !errors.Is(err, olm.ErrBadPublicKey) {
			t.Fatalf("low-order identity key %x: %v", p, err)
		}
		if _, err := alice.NewOutboundSession(bob.Curve25519Key(), low); !errors.Is(err, olm.ErrBadPublicKey) {
			t.Fatalf("low-order one-time key %x: %v", p, err)
		}
	}
	// A pre-key message whose base key or identity key is low-order.
	s, _ := alice.NewOutboundSession(bob.Curve25519Key(), otk)
	m, _ := s.Encrypt([]byte("x"))
	raw := m.Bytes()
	for _, offset := range []int{1 + 2 + 32 + 2, 1 + 2*(2+32) + 2} { // base key, identity key
		for _, p := range lowOrderPoints {
			b := bytes.Clone(raw)
			copy(b[offset:offset+32], p[:])
			pre, err := olm.ParsePreKeyMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = bob.NewInboundSession(pre.IdentityKey(), pre)
			if !errors.Is(err, olm.ErrBadPublicKey) {
				t.Fatalf("low-order key at %d (%x): %v", offset, p, err)
			}
		}
	}
	if len(bob.OneTimeKeys()) != 1 {
		t.Fatal("one-time key consumed")
	}
}

func TestParseMessageBadInput(t *testing.T) {
	alice, _, _, _ := pair(t, olm.SessionConfigV1())
	m, _ := alice.Encrypt([]byte("x"))
	pre := m.Bytes()
	inner := m.(*olm.PreKeyMessage).Message().Bytes()
	tests := []struct {
		name string
		t    olm.MessageType
		b    []byte
		want error
	}{
		{"empty normal", olm.MessageTypeNormal, nil, olm.ErrBadMessageFormat},
		{"empty pre-key", olm.MessageTypePreKey, nil, olm.ErrBadMessageFormat},
		{"unknown type", 2, inner, olm.ErrBadMessageFormat},
		{"normal version 2", olm.MessageTypeNormal, append([]byte{2}, inner[1:]...), olm.ErrBadMessageVersion},
		{"pre-key version 4", olm.MessageTypePreKey, append([]byte{4}, pre[1:]...), olm.ErrBadMessageVersion},
		{"only version and MAC", olm.MessageTypeNormal, append([]byte{3}, make([]byte, 8)...), olm.ErrBadMessageFormat},
		{"shorter than MAC", olm.MessageTypeNormal, []byte{3, 1, 2}, olm.ErrBadMessageFormat},
		{"pre-key truncated", olm.MessageTypePreKey, pre[:40], olm.ErrBadMessageFormat},
		{"pre-key without message", olm.MessageTypePreKey, pre[:1+3*34], olm.ErrBadMessageFormat},
		{"short ratchet key", olm.MessageTypeNormal, append(append([]byte{3, 0x0a, 31}, make([]byte, 31)...), inner[35:]...), olm.ErrBadMessageFormat},
		{"index over 32 bits", olm.MessageTypeNormal, append(append(append([]byte{3}, inner[1:35]...), 0x10, 0x80, 0x80, 0x80, 0x80, 0x10), inner[36:]...), olm.ErrBadMessageFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := olm.ParseMessage(tt.t, tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Fields in another order and unknown fields are accepted, as libolm
	// accepts them.
	var b []byte
	nm := m.(*olm.PreKeyMessage).Message()
	b = append(b, 3)
	b = wire.AppendVarintField(b, 2, uint64(nm.Index()))
	b = wire.AppendBytesField(b, 7, []byte("unknown"))
	b = wire.AppendBytesField(b, 4, nm.Ciphertext())
	k := nm.RatchetKey()
	b = wire.AppendBytesField(b, 1, k[:])
	b = append(b, make([]byte, 8)...)
	pm, err := olm.ParseNormalMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Index() != nm.Index() || pm.RatchetKey() != nm.RatchetKey() || !bytes.Equal(pm.Ciphertext(), nm.Ciphertext()) {
		t.Fatal("reordered message decoded differently")
	}
}

func TestEncryptRefusesOversizedMessage(t *testing.T) {
	alice, _, _, _ := pair(t, olm.SessionConfigV1())
	before, _ := alice.Pickle(testKey)
	if _, err := alice.Encrypt(make([]byte, olm.MaxMessageSize)); !errors.Is(err, olm.ErrMessageTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	assertUnchanged(t, alice, before)
}
