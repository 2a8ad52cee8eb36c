package sas_test

import (
	"encoding/json"
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
