package crossign_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

func TestSASKeys(t *testing.T) {
	var zero olm.Ed25519PublicKey
	full := func(w *world) sas.UserKeys {
		return sas.UserKeys{
			Devices:        map[string]olm.Ed25519PublicKey{"BOB1": w.bob1.public()},
			MasterKey:      w.bob.Master.PublicKey(),
			SelfSigningKey: w.bob.SelfSigning.PublicKey(),
		}
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, w *world)
		want   func(w *world) sas.UserKeys
	}{
		{"as published", func(*testing.T, *world) {}, full},
		{"device not cross-signed is kept", func(t *testing.T, w *world) {
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), w.bob1.self()))
		}, full},
		{"device without a valid self-signature is left out", func(t *testing.T, w *world) {
			other := newTestDevice(bobID, "OTHER")
			w.resp.setDevice(bobID, "BOB1", signedRaw(t, w.bob1.fields(), signer{bobID, "ed25519:BOB1", other.key}, by(w.bob, w.bob.SelfSigning)))
		}, func(w *world) sas.UserKeys {
			k := full(w)
			k.Devices = map[string]olm.Ed25519PublicKey{}
			return k
		}},
		{"device filed under another ID is left out", func(t *testing.T, w *world) {
			w.resp.setDevice(bobID, "BOB2", signedRaw(t, w.bob1.fields(), w.bob1.self()))
		}, full},
		{"device ID spelling the master key is left out", func(t *testing.T, w *world) {
			evil := newTestDevice(bobID, w.bob.Master.PublicKey().String())
			w.resp.setDevice(bobID, evil.id, signedRaw(t, evil.fields(), evil.self()))
		}, full},
		{"self-signing key not signed by the master key", func(t *testing.T, w *world) {
			w.resp.setKey(crossign.UsageSelfSigning, bobID, signedRaw(t, keyObject(bobID, crossign.UsageSelfSigning, w.bob.SelfSigning.PublicKey())))
		}, func(w *world) sas.UserKeys {
			k := full(w)
			k.SelfSigningKey = zero
			return k
		}},
		{"no master key", func(t *testing.T, w *world) {
			delete(w.resp.keys[crossign.UsageMaster], bobID)
		}, func(w *world) sas.UserKeys {
			return sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{"BOB1": w.bob1.public()}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.tamper(t, w)
			got, ok := w.resp.parse(t).SASKeys(bobID)
			if !ok {
				t.Fatal("SASKeys: not found")
			}
			if d := cmp.Diff(tt.want(w), got); d != "" {
				t.Errorf("SASKeys (-want +got):\n%s", d)
			}
		})
	}

	t.Run("own user has the user-signing key", func(t *testing.T) {
		w := newWorld(t)
		got := w.evaluate(t, w.verifier()).User(aliceID).SASKeys()
		want := sas.UserKeys{
			Devices:        map[string]olm.Ed25519PublicKey{"ALICE1": w.alice1.public(), "ALICE2": w.alice2.public()},
			MasterKey:      w.alice.Master.PublicKey(),
			SelfSigningKey: w.alice.SelfSigning.PublicKey(),
			UserSigningKey: w.alice.UserSigning.PublicKey(),
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		w := newWorld(t)
		if _, ok := w.resp.parse(t).SASKeys("@carol:example.org"); ok {
			t.Error("keys for a user the response does not mention")
		}
		var nilResp *crossign.QueryResponse
		if _, ok := nilResp.SASKeys(bobID); ok {
			t.Error("keys from a nil response")
		}
		var nilTrust *crossign.UserTrust
		if k := nilTrust.SASKeys(); len(k.Devices) != 0 || k.MasterKey != zero {
			t.Error("keys from a nil UserTrust")
		}
	})
}
