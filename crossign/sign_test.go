package crossign_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
)

// decode decodes JSON into a generic value for cmp.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// TestDeviceSigningUpload checks the body of /keys/device_signing/upload
// member by member, and that it evaluates as trusted once the server
// returns it.
func TestDeviceSigningUpload(t *testing.T) {
	k := testKeys(t, aliceID)
	up, err := k.DeviceSigningUpload()
	if err != nil {
		t.Fatal(err)
	}
	up.Auth = json.RawMessage(`{"type":"m.login.password","session":"xyz"}`)
	body, err := json.Marshal(up)
	if err != nil {
		t.Fatal(err)
	}
	m, s, u := k.Master.PublicKey().String(), k.SelfSigning.PublicKey().String(), k.UserSigning.PublicKey().String()
	sig := func(usage crossign.Usage) string {
		pk, err := k.PublicKey(usage)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := pk.Object().Signature(aliceID, k.Master.KeyID())
		return s
	}
	want := map[string]any{
		"auth": map[string]any{"type": "m.login.password", "session": "xyz"},
		"master_key": map[string]any{
			"user_id": aliceID, "usage": []any{"master"}, "keys": map[string]any{"ed25519:" + m: m},
		},
		"self_signing_key": map[string]any{
			"user_id": aliceID, "usage": []any{"self_signing"}, "keys": map[string]any{"ed25519:" + s: s},
			"signatures": map[string]any{aliceID: map[string]any{"ed25519:" + m: sig(crossign.UsageSelfSigning)}},
		},
		"user_signing_key": map[string]any{
			"user_id": aliceID, "usage": []any{"user_signing"}, "keys": map[string]any{"ed25519:" + u: u},
			"signatures": map[string]any{aliceID: map[string]any{"ed25519:" + m: sig(crossign.UsageUserSigning)}},
		},
	}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("upload body (-want +got):\n%s", diff)
	}
	// Signing is deterministic (Ed25519), so the body is too.
	again, _ := k.DeviceSigningUpload()
	again.Auth = up.Auth
	if b, _ := json.Marshal(again); string(b) != string(body) {
		t.Error("second upload body differs")
	}

	// As the server returns them to us, with a device signed by the SSK.
	d := newTestDevice(aliceID, "DEV")
	dev, err := crossign.ParseDevice(signedRaw(t, d.fields(), d.self()))
	if err != nil {
		t.Fatal(err)
	}
	so, err := k.SignDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{devices: map[string]map[string]json.RawMessage{}, keys: map[crossign.Usage]map[string]json.RawMessage{
		crossign.UsageMaster:      {aliceID: up.MasterKey.Bytes()},
		crossign.UsageSelfSigning: {aliceID: up.SelfSigningKey.Bytes()},
		crossign.UsageUserSigning: {aliceID: up.UserSigningKey.Bytes()},
	}}
	merged := withSignature(t, dev.Bytes(), aliceID, k.SelfSigning.KeyID(), mustSig(t, so, aliceID, k.SelfSigning.KeyID()))
	r.setDevice(aliceID, "DEV", merged)
	rep, err := (&crossign.Verifier{UserID: aliceID, MasterKey: k.Master}).Evaluate(r.parse(t))
	if err != nil {
		t.Fatal(err)
	}
	if dt := rep.Device(aliceID, "DEV"); !dt.Verified {
		t.Errorf("own device signed with SignDevice: %v", dt.Reason)
	}

	// Partial sets.
	partial := &crossign.PrivateKeys{UserID: aliceID, Master: k.Master}
	if up, err := partial.DeviceSigningUpload(); err != nil || up.SelfSigningKey != nil || up.MasterKey == nil {
		t.Errorf("master only: %+v, %v", up, err)
	}
	noMaster := &crossign.PrivateKeys{UserID: aliceID, SelfSigning: k.SelfSigning}
	if _, err := noMaster.DeviceSigningUpload(); !errors.Is(err, crossign.ErrMissingKey) {
		t.Errorf("self-signing key without master: %v, want ErrMissingKey", err)
	}
	swapped := &crossign.PrivateKeys{UserID: aliceID, Master: k.Master, SelfSigning: k.UserSigning}
	if _, err := swapped.DeviceSigningUpload(); !errors.Is(err, crossign.ErrWrongUsage) {
		t.Errorf("user-signing key in the self-signing field: %v, want ErrWrongUsage", err)
	}
	if _, err := (&crossign.PrivateKeys{Master: k.Master}).PublicKey(crossign.UsageMaster); !errors.Is(err, crossign.ErrWrongUserID) {
		t.Errorf("no user ID: %v, want ErrWrongUserID", err)
	}
	bad := &crossign.DeviceSigningUpload{Auth: json.RawMessage(`{`)}
	if _, err := json.Marshal(bad); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("bad auth: %v", err)
	}
	misfiled := &crossign.DeviceSigningUpload{MasterKey: up.SelfSigningKey}
	if _, err := json.Marshal(misfiled); !errors.Is(err, crossign.ErrWrongUsage) {
		t.Errorf("self-signing key as master_key: %v", err)
	}
}

func mustSig(t *testing.T, so *crossign.SignedObject, entity, keyID string) string {
	t.Helper()
	s, ok := so.Object.Signature(entity, keyID)
	if !ok {
		t.Fatalf("no signature by %s under %s in %s", keyID, entity, so.Object.Bytes())
	}
	return s
}

// TestSignatureUpload checks the objects of /keys/signatures/upload: each
// without unsigned, carrying only the new signature, keyed by device ID or
// by public key.
func TestSignatureUpload(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	q := w.resp.parse(t)
	dev, err := q.Device(aliceID, "ALICE2")
	if err != nil {
		t.Fatal(err)
	}
	bobMaster, err := q.CrossSigningKey(bobID, crossign.UsageMaster)
	if err != nil {
		t.Fatal(err)
	}
	aliceMaster, err := q.CrossSigningKey(aliceID, crossign.UsageMaster)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := a.SignDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	su, err := a.SignUser(bobMaster)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	sm, err := crossign.SignMasterKeyWithDevice(acct, aliceID, "ALICE3", aliceMaster)
	if err != nil {
		t.Fatal(err)
	}
	var up crossign.SignatureUpload
	for _, s := range []*crossign.SignedObject{sd, su, sm} {
		if err := up.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(&up)
	if err != nil {
		t.Fatal(err)
	}
	devFields := decode(t, dev.Bytes()).(map[string]any)
	delete(devFields, "unsigned")
	devFields["signatures"] = map[string]any{aliceID: map[string]any{a.SelfSigning.KeyID(): mustSig(t, sd, aliceID, a.SelfSigning.KeyID())}}
	bm := w.bob.Master.PublicKey().String()
	am := a.Master.PublicKey().String()
	want := map[string]any{
		aliceID: map[string]any{
			"ALICE2": devFields,
			am: map[string]any{
				"user_id": aliceID, "usage": []any{"master"}, "keys": map[string]any{"ed25519:" + am: am},
				"signatures": map[string]any{aliceID: map[string]any{"ed25519:ALICE3": mustSig(t, sm, aliceID, "ed25519:ALICE3")}},
			},
		},
		bobID: map[string]any{
			bm: map[string]any{
				"user_id": bobID, "usage": []any{"master"}, "keys": map[string]any{"ed25519:" + bm: bm},
				"signatures": map[string]any{aliceID: map[string]any{a.UserSigning.KeyID(): mustSig(t, su, aliceID, a.UserSigning.KeyID())}},
			},
		},
	}
	if diff := cmp.Diff(want, decode(t, body)); diff != "" {
		t.Errorf("signature upload (-want +got):\n%s", diff)
	}
	// The new signatures verify.
	if err := sd.Object.Verify(aliceID, a.SelfSigning.KeyID(), a.SelfSigning.PublicKey().Bytes()); err != nil {
		t.Error(err)
	}
	if err := su.Object.Verify(aliceID, a.UserSigning.KeyID(), a.UserSigning.PublicKey().Bytes()); err != nil {
		t.Error(err)
	}
	if err := sm.Object.Verify(aliceID, "ed25519:ALICE3", acct.Ed25519Key().Bytes()); err != nil {
		t.Error(err)
	}
	// A second signature on the same object merges; a different object
	// under the same ID is refused.
	sm2, err := crossign.SignMasterKeyWithDevice(acct, aliceID, "ALICE4", aliceMaster)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Add(sm2); err != nil {
		t.Fatal(err)
	}
	body, _ = json.Marshal(&up)
	sigs := decode(t, body).(map[string]any)[aliceID].(map[string]any)[am].(map[string]any)["signatures"].(map[string]any)[aliceID].(map[string]any)
	if len(sigs) != 2 {
		t.Errorf("merged signatures = %v", sigs)
	}
	forged := &crossign.SignedObject{UserID: aliceID, ID: am, Object: sd.Object}
	if err := up.Add(forged); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("different object under the same ID: %v", err)
	}
	if err := up.Add(&crossign.SignedObject{}); !errors.Is(err, crossign.ErrMalformed) {
		t.Errorf("empty signed object: %v", err)
	}
	var empty crossign.SignatureUpload
	if b, err := json.Marshal(&empty); err != nil || string(b) != `{}` {
		t.Errorf("empty upload = %s, %v", b, err)
	}
}

func TestSignRejects(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	q := w.resp.parse(t)
	bobDev, _ := q.Device(bobID, "BOB1")
	aliceDev, _ := q.Device(aliceID, "ALICE1")
	aliceMaster, _ := q.CrossSigningKey(aliceID, crossign.UsageMaster)
	bobMaster, _ := q.CrossSigningKey(bobID, crossign.UsageMaster)
	bobSSK, _ := q.CrossSigningKey(bobID, crossign.UsageSelfSigning)
	acct, _ := olm.NewAccount()
	noKeys := &crossign.PrivateKeys{UserID: aliceID}
	tests := []struct {
		name string
		f    func() (*crossign.SignedObject, error)
		want error
	}{
		{"another user's device", func() (*crossign.SignedObject, error) { return a.SignDevice(bobDev) }, crossign.ErrWrongUserID},
		{"device without self-signing key", func() (*crossign.SignedObject, error) { return noKeys.SignDevice(aliceDev) }, crossign.ErrMissingKey},
		{"own master key with the user-signing key", func() (*crossign.SignedObject, error) { return a.SignUser(aliceMaster) }, crossign.ErrWrongUserID},
		{"a self-signing key with the user-signing key", func() (*crossign.SignedObject, error) { return a.SignUser(bobSSK) }, crossign.ErrWrongUsage},
		{"user without user-signing key", func() (*crossign.SignedObject, error) { return noKeys.SignUser(bobMaster) }, crossign.ErrMissingKey},
		{"another user's master key with our device", func() (*crossign.SignedObject, error) {
			return crossign.SignMasterKeyWithDevice(acct, aliceID, "DEV", bobMaster)
		}, crossign.ErrWrongUserID},
		{"a self-signing key with our device", func() (*crossign.SignedObject, error) {
			return crossign.SignMasterKeyWithDevice(acct, bobID, "DEV", bobSSK)
		}, crossign.ErrWrongUsage},
		{"empty device ID", func() (*crossign.SignedObject, error) {
			return crossign.SignMasterKeyWithDevice(acct, aliceID, "", aliceMaster)
		}, crossign.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			so, err := tt.f()
			if err == nil {
				t.Fatalf("signed %s", so.Object.Bytes())
			}
			checkReason(t, "sign", err, tt.want)
		})
	}
}
