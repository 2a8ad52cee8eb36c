package sas_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/sas"
)

// TestNoVerificationWithThisDevice: a server forges, in this device's own
// name (its user, its device ID), an unrequested start or the ready to a
// request this device sent to its own user's devices (an application may
// list them all, this one included). No verification may go on with this
// very device: the other side would be the server, the short
// authentication string on the only screen showing it compared with
// nothing, and the MAC of our own keys (and of a master key the server
// chose, if ours is pinned from its answer) taken as a verification.
func TestNoVerificationWithThisDevice(t *testing.T) {
	w := newWorld(t)
	alice := w.addDevice("@alice:example.org", "ALICEDEV")
	w.addDevice("@alice:example.org", "OTHER")
	raw := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("unrequested start", func(t *testing.T) {
		start := raw(map[string]any{
			"from_device": alice.id, "method": sas.MethodSAS, "transaction_id": "forged-start",
			"key_agreement_protocols":      []string{sas.KeyAgreementCurve25519HKDFSHA256},
			"hashes":                       []string{sas.HashSHA256},
			"message_authentication_codes": []string{sas.MACHKDFHMACSHA256V2},
			"short_authentication_string":  []string{sas.SASDecimal, sas.SASEmoji},
		})
		alice.m.Receive(sas.Event{Type: sas.EventStart, Sender: alice.user, Content: start})
		v := alice.m.Verification("", "forged-start")
		if v == nil {
			return
		}
		if _, err := v.Accept(); err == nil || v.State() != sas.StateCancelled {
			t.Errorf("a start from this very device was accepted: %v, state %s", err, v.State())
		}
	})
	t.Run("ready to our request", func(t *testing.T) {
		v, _, err := alice.m.RequestToDevice(alice.user, alice.id, "OTHER")
		if err != nil {
			return // refusing to ask this device is fine too
		}
		alice.m.Receive(sas.Event{Type: sas.EventReady, Sender: alice.user, Content: raw(map[string]any{
			"from_device": alice.id, "methods": []string{sas.MethodSAS}, "transaction_id": v.FlowID(),
		})})
		if v.State() == sas.StateReady && v.OtherDevice() == alice.id {
			t.Error("a ready from this very device made the verification ready")
		}
	})
}

// TestOwnMasterSpelledByDevice: our own device list holds a device whose
// ID spells our own master key in another base64 form (padded, URL-safe):
// a verification with our own user is refused, as it is for the exact
// spelling and for the served keys (SECURITY 38), also when the master
// key we know (SetMasterKey) is not the one the server serves.
func TestOwnMasterSpelledByDevice(t *testing.T) {
	for _, spell := range []func(string) string{
		func(s string) string { return s },
		func(s string) string { return s + "=" },
		func(s string) string { return strings.NewReplacer("+", "-", "/", "_").Replace(s) },
	} {
		w := newWorld(t)
		alice := w.addDevice("@alice:example.org", "ALICEDEV", noMaster())
		w.addDevice("@alice:example.org", "OTHER", noMaster())
		master := testKey("own master, + and / inside")
		for !strings.ContainsAny(master.String(), "+/") {
			master = testKey(master.String())
		}
		if err := alice.m.SetMasterKey(master, true); err != nil {
			t.Fatal(err)
		}
		w.directory[alice.user].Devices[spell(master.String())] = testKey("the server's device")
		v, _, err := alice.m.RequestToDevice(alice.user, "OTHER")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"from_device": "OTHER", "methods": []string{sas.MethodSAS}, "transaction_id": v.FlowID()})
		_, _, err = alice.m.Receive(sas.Event{Type: sas.EventReady, Sender: alice.user, Content: b})
		if !errors.Is(err, sas.ErrKeyIDCollision) || v.State() != sas.StateCancelled {
			t.Errorf("device %q: %v, state %s", spell(master.String()), err, v.State())
		}
	}
}
