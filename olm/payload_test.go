package olm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
)

func TestVerifySignedKey(t *testing.T) {
	bob := newAccount(t)
	bob.GenerateOneTimeKeys(1)
	bob.GenerateFallbackKey()
	otks, _ := bob.SignedOneTimeKeys("@bob:x", "BOB")
	fbs, _ := bob.SignedFallbackKeys("@bob:x", "BOB")
	for _, raw := range otks {
		key, fallback, err := olm.VerifySignedKey(raw, "@bob:x", "BOB", bob.Ed25519Key())
		if err != nil || fallback {
			t.Fatalf("one-time key: %v %v", fallback, err)
		}
		if _, ok := bob.OneTimeKeys()[1]; !ok || bob.OneTimeKeys()[1] != key {
			t.Fatal("wrong key returned")
		}
		other := newAccount(t)
		if _, _, err := olm.VerifySignedKey(raw, "@bob:x", "BOB", other.Ed25519Key()); !errors.Is(err, olm.ErrUnsignedKey) {
			t.Fatalf("other device's key: %v", err)
		}
		if _, _, err := olm.VerifySignedKey(raw, "@eve:x", "BOB", bob.Ed25519Key()); !errors.Is(err, olm.ErrUnsignedKey) {
			t.Fatalf("other user: %v", err)
		}
		// The homeserver swaps the key but keeps the signature.
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		obj["key"] = newAccount(t).Curve25519Key().String()
		swapped, _ := json.Marshal(obj)
		if _, _, err := olm.VerifySignedKey(swapped, "@bob:x", "BOB", bob.Ed25519Key()); !errors.Is(err, olm.ErrUnsignedKey) {
			t.Fatalf("swapped key: %v", err)
		}
	}
	for _, raw := range fbs {
		if _, fallback, err := olm.VerifySignedKey(raw, "@bob:x", "BOB", bob.Ed25519Key()); err != nil || !fallback {
			t.Fatalf("fallback key: %v %v", fallback, err)
		}
	}
}

func TestPayload(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	content := json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!r:x"}`)
	plaintext, err := olm.NewPayload(alice, "@alice:x", "@bob:x", bob.Ed25519Key(), "m.room_key", content)
	if err != nil {
		t.Fatal(err)
	}
	good := olm.PayloadCheck{
		Sender: "@alice:x", SenderKey: alice.Curve25519Key(), SenderEd25519: alice.Ed25519Key(),
		Recipient: "@bob:x", RecipientEd25519: bob.Ed25519Key(),
	}
	p, err := olm.ParsePayload(plaintext, good)
	if err != nil || p.Type != "m.room_key" || string(p.Content) != string(content) {
		t.Fatalf("%+v %v", p, err)
	}
	// Unknown sender key: the claim is returned for the caller to check.
	unknown := good
	unknown.SenderEd25519 = olm.Ed25519PublicKey{}
	if p, err := olm.ParsePayload(plaintext, unknown); err != nil || p.Keys.Ed25519 != alice.Ed25519Key() {
		t.Fatal(err)
	}
	eve := newAccount(t)
	for name, c := range map[string]func(*olm.PayloadCheck){
		"sender":        func(c *olm.PayloadCheck) { c.Sender = "@eve:x" },
		"recipient":     func(c *olm.PayloadCheck) { c.Recipient = "@carol:x" },
		"recipient key": func(c *olm.PayloadCheck) { c.RecipientEd25519 = eve.Ed25519Key() },
		"sender key":    func(c *olm.PayloadCheck) { c.SenderEd25519 = eve.Ed25519Key() },
	} {
		check := good
		c(&check)
		if _, err := olm.ParsePayload(plaintext, check); !errors.Is(err, olm.ErrPayloadMismatch) {
			t.Errorf("%s altered: %v", name, err)
		}
	}
	if _, err := olm.ParsePayload([]byte("not json"), good); !errors.Is(err, olm.ErrBadMessageFormat) {
		t.Fatal(err)
	}
}

func TestPayloadSenderDeviceKeys(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	dk, _ := alice.DeviceKeys("@alice:x", "ALICE")
	withKeys := func(dk []byte) []byte {
		p, _ := olm.NewPayload(alice, "@alice:x", "@bob:x", bob.Ed25519Key(), "m.dummy", json.RawMessage(`{}`))
		var obj map[string]json.RawMessage
		json.Unmarshal(p, &obj)
		obj["sender_device_keys"] = dk
		out, _ := json.Marshal(obj)
		return out
	}
	check := olm.PayloadCheck{Sender: "@alice:x", SenderKey: alice.Curve25519Key(), Recipient: "@bob:x", RecipientEd25519: bob.Ed25519Key()}
	if _, err := olm.ParsePayload(withKeys(dk), check); err != nil {
		t.Fatalf("genuine sender_device_keys: %v", err)
	}
	// CVE-2026-45056: sender_device_keys of another user.
	mallory := newAccount(t)
	otherUser, _ := alice.DeviceKeys("@mallory:x", "ALICE")
	otherDevice, _ := mallory.DeviceKeys("@alice:x", "ALICE")
	tampered := []byte(strings.Replace(string(dk), "ALICE\"", "ALICE2\"", 1))
	for name, bad := range map[string][]byte{
		"other user":    otherUser,
		"other device":  otherDevice,
		"bad signature": tampered,
		"not an object": []byte(`[1]`),
	} {
		if _, err := olm.ParsePayload(withKeys(bad), check); !errors.Is(err, olm.ErrPayloadMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The session's identity key must be the device's.
	wrongSession := check
	wrongSession.SenderKey = mallory.Curve25519Key()
	if _, err := olm.ParsePayload(withKeys(dk), wrongSession); !errors.Is(err, olm.ErrPayloadMismatch) {
		t.Errorf("curve25519 key of another session: %v", err)
	}
}
