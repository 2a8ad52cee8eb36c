package machine_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// putAccountData sends account data PUTs to the fake homeserver.
func (c *client) putAccountData(puts []machine.AccountDataPut) {
	c.t.Helper()
	for _, p := range puts {
		if _, err := c.hs.Do(c.user, c.dev, machine.Request{Method: "PUT", Path: p.Path, Body: p.Content}); err != nil {
			c.t.Fatalf("%s: PUT %s: %v", c.user, p.Path, err)
		}
	}
}

// syncAccountData hands the machine the user's account data.
func (c *client) syncAccountData() {
	c.t.Helper()
	if err := c.m.ReceiveAccountData(ctx, c.hs.AccountData(c.user)); err != nil {
		c.t.Fatalf("%s: ReceiveAccountData: %v", c.user, err)
	}
}

// uploadCrossSigning sends the device signing upload of a bootstrap and
// confirms it, then flushes (the signature upload goes out).
func (c *client) uploadCrossSigning(b *machine.CrossSigningBootstrap) {
	c.t.Helper()
	c.send2("/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	if err := c.m.ConfirmCrossSigningUpload(ctx); err != nil {
		c.t.Fatalf("%s: ConfirmCrossSigningUpload: %v", c.user, err)
	}
	c.flush()
}

// send2 POSTs a body the caller sends itself (not a machine request).
func (c *client) send2(path string, body []byte) []byte {
	c.t.Helper()
	out, err := c.hs.Do(c.user, c.dev, machine.Request{Method: "POST", Path: path, Body: body})
	if err != nil {
		c.t.Fatalf("%s: POST %s: %v", c.user, path, err)
	}
	return out
}

func (c *client) bootstrap() *machine.CrossSigningBootstrap {
	c.t.Helper()
	b, err := c.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		c.t.Fatalf("%s: BootstrapCrossSigning: %v", c.user, err)
	}
	c.uploadCrossSigning(b)
	return b
}

func deviceOf(t *testing.T, c *client, user, dev string) *machine.Device {
	t.Helper()
	ds, err := c.m.Devices(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.DeviceID == dev {
			return d
		}
	}
	t.Fatalf("%s does not know %s %s", c.user, user, dev)
	return nil
}

func hasKind(rs []machine.Request, k machine.RequestKind) bool {
	for _, r := range rs {
		if r.Kind == k {
			return true
		}
	}
	return false
}

func TestBootstrapCrossSigning(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != (machine.CrossSigningStatus{}) {
		t.Fatalf("status before bootstrap: %+v, %v", st, err)
	}
	b, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Until the upload is confirmed the keys are pending: not secrets,
	// not our identity.
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != (machine.CrossSigningStatus{Pending: true, PendingMasterKey: b.MasterKey}) {
		t.Fatalf("status after bootstrap: %+v, %v", st, err)
	}
	for _, name := range []string{"m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing"} {
		if _, ok, _ := a.m.Secret(ctx, name); ok {
			t.Errorf("%s held before the upload is confirmed", name)
		}
	}
	// The signature upload waits for the device signing upload, also
	// across a restart.
	a.restart()
	reqs, err := a.m.OutgoingRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hasKind(reqs, machine.KindSignatureUpload) {
		t.Fatal("signature upload offered before the self-signing key is on the server")
	}
	a.uploadCrossSigning(b)
	want := machine.CrossSigningStatus{MasterKey: b.MasterKey, SelfSigningKey: b.SelfSigningKey, UserSigningKey: b.UserSigningKey,
		HasMaster: true, HasSelfSigning: true, HasUserSigning: true, Trusted: true}
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != want {
		t.Fatalf("status after the confirmation: %+v, %v", st, err)
	}
	// The private keys are secrets, the upload names the public keys.
	for _, u := range []struct {
		usage crossign.Usage
		pub   string
	}{{crossign.UsageMaster, b.MasterKey.String()}, {crossign.UsageSelfSigning, b.SelfSigningKey.String()}, {crossign.UsageUserSigning, b.UserSigningKey.String()}} {
		s, ok, err := a.m.Secret(ctx, u.usage.SecretName())
		if err != nil || !ok {
			t.Fatalf("secret %s: %v %v", u.usage, ok, err)
		}
		k, err := crossign.ParsePrivateKey(u.usage, s)
		if err != nil || k.PublicKey().String() != u.pub {
			t.Fatalf("secret %s is not the key uploaded", u.usage)
		}
		if !strings.Contains(string(b.DeviceSigningUpload), u.pub) {
			t.Errorf("the upload lacks the %s key", u.usage)
		}
	}
	if strings.Contains(string(b.DeviceSigningUpload), `"auth"`) || b.AccountData != nil {
		t.Errorf("upload with auth, or account data without secret storage: %s %v", b.DeviceSigningUpload, b.AccountData)
	}
	if reqs, _ := a.m.OutgoingRequests(ctx); hasKind(reqs, machine.KindSignatureUpload) {
		t.Error("signature upload offered again after it was sent")
	}
	if err := a.m.ConfirmCrossSigningUpload(ctx); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("second confirmation: %v", err)
	}

	// Alice trusts herself at once; Bob sees her device cross-signed.
	if d := deviceOf(t, a, a.user, a.dev); d.Verification != machine.VerificationVerified {
		t.Errorf("own device: %v", d.Verification)
	}
	w.bob.m.UpdateTrackedUsers(ctx, []string{a.user})
	w.bob.flush()
	if d := deviceOf(t, w.bob, a.user, a.dev); d.Verification != machine.VerificationUnverifiedIdentity {
		t.Errorf("Bob sees Alice's device as %v, want cross-signed (unverified identity)", d.Verification)
	}
	if changed, _ := a.m.IdentityChanged(ctx, a.user); changed {
		t.Error("our own bootstrap flagged as an identity change")
	}

	// A second bootstrap would replace the identity.
	if _, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{}); !errors.Is(err, machine.ErrCrossSigningExists) {
		t.Fatalf("second bootstrap: %v", err)
	}
	// So would one on another device, which holds no keys but sees them
	// published.
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	if _, err := a2.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{}); !errors.Is(err, machine.ErrCrossSigningExists) {
		t.Fatalf("bootstrap over a published identity: %v", err)
	}
	if st, _ := a2.m.CrossSigningStatus(ctx); st.MasterKey != b.MasterKey || st.SelfSigningKey != b.SelfSigningKey || st.HasMaster || st.Trusted {
		t.Errorf("status of a device without keys: %+v", st)
	}
	if st, _ := a.m.CrossSigningStatus(ctx); *st != want {
		t.Errorf("status after the uploads: %+v", st)
	}
	// Replace is explicit, and gives a new identity.
	b2, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil || b2.MasterKey == b.MasterKey {
		t.Fatalf("replacing bootstrap: %v", err)
	}
	a.uploadCrossSigning(b2)
	w.bob.m.MarkAllTrackedUsersOutdated(ctx)
	w.bob.flush()
	if changed, _ := w.bob.m.IdentityChanged(ctx, a.user); !changed {
		t.Error("Bob was not told that Alice's identity changed")
	}
	if d := deviceOf(t, a, a.user, a.dev); d.Verification != machine.VerificationVerified {
		t.Errorf("own device after the reset: %v", d.Verification)
	}
}

func TestSecretStorage(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	b := a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range ss.AccountData {
		types = append(types, p.Type)
	}
	want := "m.secret_storage.key." + ss.KeyID + " m.cross_signing.master m.cross_signing.self_signing m.cross_signing.user_signing m.secret_storage.default_key"
	if strings.Join(types, " ") != want {
		t.Fatalf("account data %v", types)
	}
	a.putAccountData(ss.AccountData)

	open := func(t *testing.T, c *client, rk string) (*machine.SecretStorageImport, error) {
		t.Helper()
		c.syncAccountData()
		return c.m.OpenSecretStorageWithRecoveryKey(ctx, rk)
	}

	t.Run("new device reads the cross-signing keys", func(t *testing.T) {
		a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
		res, err := open(t, a2, ss.RecoveryKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Imported) != 3 || len(res.Errors) != 0 || res.KeyID != ss.KeyID || !res.SignedThisDevice {
			t.Fatalf("import: %+v", res)
		}
		for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning, crossign.UsageUserSigning} {
			v1, _, _ := a.m.Secret(ctx, u.SecretName())
			v2, ok, _ := a2.m.Secret(ctx, u.SecretName())
			if !ok || v1 != v2 {
				t.Errorf("%s not imported", u)
			}
		}
		// Holding the master key, ALICE2 trusts Alice's identity, hence
		// her cross-signed device.
		a2.flush()
		if d := deviceOf(t, a2, a.user, a.dev); d.Verification != machine.VerificationVerified {
			t.Errorf("ALICE2 sees ALICE as %v", d.Verification)
		}
		if st, _ := a2.m.CrossSigningStatus(ctx); !st.HasMaster || !st.HasSelfSigning || !st.HasUserSigning || !st.Trusted {
			t.Errorf("ALICE2's status: %+v", st)
		}
		// ALICE2 signed itself: cross-signed for Bob, verified for ALICE.
		w.bob.m.UpdateTrackedUsers(ctx, []string{a.user})
		w.bob.m.MarkAllTrackedUsersOutdated(ctx)
		w.bob.flush()
		if d := deviceOf(t, w.bob, a.user, "ALICE2"); d.Verification != machine.VerificationUnverifiedIdentity {
			t.Errorf("Bob sees ALICE2 as %v, want cross-signed", d.Verification)
		}
		a.m.MarkAllTrackedUsersOutdated(ctx)
		a.flush()
		if d := deviceOf(t, a, a.user, "ALICE2"); d.Verification != machine.VerificationVerified {
			t.Errorf("ALICE sees ALICE2 as %v", d.Verification)
		}
		// And writes the secrets back, encrypted to the same key.
		puts, err := a2.m.SecretStorageAccountData(ctx)
		if err != nil || len(puts) != 3 {
			t.Fatalf("SecretStorageAccountData: %d, %v", len(puts), err)
		}
		a3 := newClient(t, w.hs, a.user, "ALICE3", w.clock)
		a3.putAccountData(puts)
		if res, err := open(t, a3, ss.RecoveryKey); err != nil || len(res.Imported) != 3 {
			t.Fatalf("secrets written back do not open: %+v, %v", res, err)
		}
	})

	t.Run("wrong recovery key", func(t *testing.T) {
		a2 := newClient(t, w.hs, a.user, "ALICE4", w.clock)
		other, _ := keybackup.GenerateSecretStorageKey("")
		if _, err := open(t, a2, other.RecoveryKey()); !errors.Is(err, machine.ErrWrongKey) {
			t.Fatalf("another key: %v", err)
		}
		typo := []byte(ss.RecoveryKey)
		typo[5] ^= 1
		if _, err := open(t, a2, string(typo)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Fatalf("mistyped key: %v", err)
		}
		if _, ok, _ := a2.m.Secret(ctx, keybackup.SecretCrossSigningMaster); ok {
			t.Error("a secret was stored")
		}
		if _, err := a2.m.SecretStorageAccountData(ctx); !errors.Is(err, machine.ErrSecretStorageClosed) {
			t.Errorf("secret storage open after a failure: %v", err)
		}
	})

	t.Run("tampered key description MAC", func(t *testing.T) {
		a2 := newClient(t, w.hs, a.user, "ALICE5", w.clock)
		desc := ss.AccountData[0].Content
		var d map[string]any
		json.Unmarshal(desc, &d)
		mac, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d["mac"].(string), "="))
		if err != nil {
			t.Fatal(err)
		}
		mac[3] ^= 1
		d["mac"] = base64.RawStdEncoding.EncodeToString(mac)
		tampered, _ := json.Marshal(map[string]any{"type": ss.AccountData[0].Type, "content": d})
		a2.syncAccountData()
		if err := a2.m.ReceiveAccountData(ctx, []json.RawMessage{tampered}); err != nil {
			t.Fatal(err)
		}
		if _, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); !errors.Is(err, machine.ErrWrongKey) {
			t.Fatalf("tampered MAC: %v", err)
		}
	})

	t.Run("tampered secret", func(t *testing.T) {
		a2 := newClient(t, w.hs, a.user, "ALICE6", w.clock)
		a2.syncAccountData()
		var c struct {
			Encrypted map[string]map[string]string `json:"encrypted"`
		}
		json.Unmarshal(ss.AccountData[2].Content, &c) // self-signing
		ct, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(c.Encrypted[ss.KeyID]["ciphertext"], "="))
		if err != nil {
			t.Fatal(err)
		}
		ct[2] ^= 1
		c.Encrypted[ss.KeyID]["ciphertext"] = base64.RawStdEncoding.EncodeToString(ct)
		ev, _ := json.Marshal(map[string]any{"type": ss.AccountData[2].Type, "content": c})
		a2.m.ReceiveAccountData(ctx, []json.RawMessage{ev})
		res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res.Errors[keybackup.SecretCrossSigningSelfSigning], keybackup.ErrBadMAC) || len(res.Imported) != 2 {
			t.Fatalf("tampered secret: %+v", res)
		}
		if _, ok, _ := a2.m.Secret(ctx, keybackup.SecretCrossSigningSelfSigning); ok {
			t.Error("the tampered secret was stored")
		}
	})

	t.Run("cross-signing key that is not the published one", func(t *testing.T) {
		// Secret storage holds a master key (correctly encrypted) that is
		// not the master key the server publishes for Alice.
		key, err := keybackup.ParseKeyDescription(ss.AccountData[0].Content)
		if err != nil {
			t.Fatal(err)
		}
		k, err := key.UnlockWithRecoveryKey(ss.KeyID, ss.RecoveryKey)
		if err != nil {
			t.Fatal(err)
		}
		evil, _ := crossign.GeneratePrivateKey(crossign.UsageMaster)
		es, _ := k.EncryptCrossSigningKey(keybackup.SecretCrossSigningMaster, evil.Seed())
		content, _ := json.Marshal(keybackup.SecretContent{Encrypted: map[string]*keybackup.EncryptedSecret{ss.KeyID: es}})
		ev, _ := json.Marshal(map[string]any{"type": keybackup.SecretCrossSigningMaster, "content": json.RawMessage(content)})
		a2 := newClient(t, w.hs, a.user, "ALICE7", w.clock)
		a2.syncAccountData()
		a2.m.ReceiveAccountData(ctx, []json.RawMessage{ev})
		res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res.Errors[keybackup.SecretCrossSigningMaster], machine.ErrWrongKey) {
			t.Fatalf("foreign master key: %+v", res)
		}
		if _, ok, _ := a2.m.Secret(ctx, keybackup.SecretCrossSigningMaster); ok {
			t.Error("the foreign master key was stored")
		}
		if d := deviceOf(t, a2, a.user, a.dev); d.Verification == machine.VerificationVerified {
			t.Error("a foreign master key made Alice's identity trusted")
		}
		_ = b
	})

	t.Run("published keys unknown", func(t *testing.T) {
		// Carol has secret storage but the server publishes no identity.
		hs := w.hs
		c1 := newClient(t, hs, "@carol:x", "CAROL1", w.clock)
		css, _ := c1.m.CreateSecretStorage(ctx, "")
		c1.putAccountData(css.AccountData)
		cb, err := c1.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c1.putAccountData(cb.AccountData) // the device signing upload never made
		c2 := newClient(t, hs, "@carol:x", "CAROL2", w.clock)
		res, err := open(t, c2, css.RecoveryKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Imported) != 0 || !errors.Is(res.Errors[keybackup.SecretCrossSigningMaster], machine.ErrNotFound) {
			t.Fatalf("keys with no published counterpart: %+v", res)
		}
	})
}

func TestSecretStoragePassphrase(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.syncAccountData()
	if _, err := a2.m.OpenSecretStorageWithPassphrase(ctx, "correct horse battery stable"); !errors.Is(err, keybackup.ErrWrongPassphrase) || !errors.Is(err, machine.ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	res, err := a2.m.OpenSecretStorageWithPassphrase(ctx, "correct horse battery staple")
	if err != nil || len(res.Imported) != 3 {
		t.Fatalf("passphrase: %+v, %v", res, err)
	}
	// The recovery key opens it too.
	a2.restart()
	if res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || len(res.Imported) != 3 {
		t.Fatalf("recovery key after restart (account data kept in the store): %+v, %v", res, err)
	}
}

func TestReceiveAccountDataLimits(t *testing.T) {
	w := newWorld(t)
	var evs []json.RawMessage
	for i := range 100 {
		ev, _ := json.Marshal(map[string]any{"type": "m.secret_storage.key." + strings.Repeat("k", i+1), "content": map[string]any{"algorithm": keybackup.SecretStorageAlgorithm}})
		evs = append(evs, ev)
	}
	evs = append(evs, json.RawMessage(`{"type":"m.secret_storage.default_key","content":"not an object"}`), json.RawMessage(`not json`),
		json.RawMessage(`{"type":"m.cross_signing.master","content":{"encrypted":{"x":"`+strings.Repeat("a", machine.MaxAccountDataSize)+`"}}}`))
	if err := w.alice.m.ReceiveAccountData(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if n := len(w.alice.m.Notices()); n != 100-64+3 {
		t.Errorf("%d notices, want %d", n, 100-64+3)
	}
	// Deleting with an empty content.
	if err := w.alice.m.ReceiveAccountData(ctx, []json.RawMessage{json.RawMessage(`{"type":"m.secret_storage.key.k","content":{}}`)}); err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{"type": "m.secret_storage.key.new", "content": map[string]any{"algorithm": keybackup.SecretStorageAlgorithm}})
	w.alice.m.ReceiveAccountData(ctx, []json.RawMessage{ev})
	if n := len(w.alice.m.Notices()); n != 0 {
		t.Errorf("a deleted key description still counts: %d notices", n)
	}
	if _, err := w.alice.m.OpenSecretStorageWithRecoveryKey(ctx, "x"); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("no default key: %v", err)
	}
}

// The recovery keys CreateSecretStorage and CreateBackupVersion return
// never appear in fmt, log/slog or JSON output (SECURITY 9).
func TestRecoveryKeysNotPrinted(t *testing.T) {
	w := newWorld(t)
	ss, err := w.alice.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cr, err := w.alice.m.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v      any
		secret string
	}{{*ss, ss.RecoveryKey}, {ss, ss.RecoveryKey}, {*cr, cr.RecoveryKey}, {cr, cr.RecoveryKey}} {
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out = append(out, fmt.Sprintf(verb, c.v))
		}
		j, _ := json.Marshal(c.v)
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", c.v)
		out = append(out, string(j), buf.String())
		compact := strings.ReplaceAll(c.secret, " ", "")
		for _, o := range out {
			if strings.Contains(o, c.secret) || strings.Contains(strings.ReplaceAll(o, " ", ""), compact) {
				t.Errorf("recovery key printed: %s", o)
			}
		}
	}
}

// A key description without check values: a wrong key is found out when
// no secret decrypts, and secret storage stays closed.
func TestSecretStorageWithoutCheck(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var desc map[string]any
	json.Unmarshal(ss.AccountData[0].Content, &desc)
	delete(desc, "iv")
	delete(desc, "mac")
	ss.AccountData[0].Content, _ = json.Marshal(desc)
	a.putAccountData(ss.AccountData)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.syncAccountData()
	other, _ := keybackup.GenerateSecretStorageKey("")
	if _, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, other.RecoveryKey()); !errors.Is(err, machine.ErrWrongKey) {
		t.Fatalf("wrong key without check values: %v", err)
	}
	if _, err := a2.m.SecretStorageAccountData(ctx); !errors.Is(err, machine.ErrSecretStorageClosed) {
		t.Errorf("the wrong key stayed open: %v", err)
	}
	if res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || len(res.Imported) != 3 {
		t.Fatalf("right key without check values: %+v, %v", res, err)
	}
}

// A new device asks our other devices for the secrets it lacks; the
// cross-signing keys it gets are checked against our published keys.
func TestRequestMissingSecrets(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		t.Run(fmt.Sprint("tampered=", tamper), func(t *testing.T) {
			w := newWorld(t)
			a := w.alice
			a.bootstrap()
			a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
			verifyEachOther(t, a, a2)
			if tamper {
				// ALICE holds a self-signing key that is not the published one
				// (a compromised or confused device).
				evil, _ := crossign.GeneratePrivateKey(crossign.UsageSelfSigning)
				a.m.SetSecret(ctx, keybackup.SecretCrossSigningSelfSigning, evil.Secret())
			}
			asked, err := a2.m.RequestMissingSecrets(ctx)
			if err != nil || len(asked) != 4 {
				t.Fatalf("asked for %v, %v", asked, err)
			}
			if again, _ := a2.m.RequestMissingSecrets(ctx); len(again) != 0 {
				t.Errorf("asked again for %v", again)
			}
			a2.flush()
			a.sync()
			res := a2.sync()
			st, _ := a2.m.CrossSigningStatus(ctx)
			if !st.HasMaster || !st.HasUserSigning || !st.Trusted {
				t.Errorf("status after the answers: %+v", st)
			}
			if !tamper {
				if !st.HasSelfSigning {
					t.Error("self-signing key not received")
				}
				return
			}
			if _, ok, _ := a2.m.Secret(ctx, keybackup.SecretCrossSigningSelfSigning); ok {
				t.Error("a self-signing key that is not the published one was stored")
			}
			refused := false
			for _, ev := range res.ToDevice {
				refused = refused || errors.Is(ev.Err, machine.ErrUntrustedSender)
			}
			if !refused {
				t.Error("the mismatching self-signing key was not refused")
			}
		})
	}
	t.Run("alone", func(t *testing.T) {
		w := newWorld(t)
		if asked, err := w.alice.m.RequestMissingSecrets(ctx); err != nil || len(asked) != 0 {
			t.Errorf("a device alone asked for %v, %v", asked, err)
		}
	})
}

// Every signature upload waits while a bootstrap's keys are not on the
// server: here one queued by opening secret storage (which signs this
// device with the keys current until the confirmation) between a
// replacing bootstrap and its confirmation. At the confirmation it is
// dropped (its self-signing key is no longer published: the server
// refuses it); one queued before the bootstrap, which may be in flight,
// stays.
func TestSignaturesWaitForBootstrap(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a.syncAccountData()
	if res, err := a.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || !res.SignedThisDevice {
		t.Fatalf("open: %+v, %v", res, err)
	}
	reqs, _ := a.m.OutgoingRequests(ctx)
	var before string
	for _, r := range reqs {
		if r.Kind == machine.KindSignatureUpload {
			before = r.ID // offered, being sent
		}
	}
	b, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
	if err != nil || !res.SignedThisDevice {
		t.Fatalf("open: %+v, %v", res, err)
	}
	a.restart()
	reqs, err = a.m.OutgoingRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hasKind(reqs, machine.KindSignatureUpload) {
		t.Fatal("a signature upload offered before the bootstrap's keys are on the server")
	}
	a.send2("/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	if err := a.m.ConfirmCrossSigningUpload(ctx); err != nil {
		t.Fatal(err)
	}
	reqs, _ = a.m.OutgoingRequests(ctx)
	var ids []string
	for _, r := range reqs {
		if r.Kind != machine.KindSignatureUpload {
			continue
		}
		ids = append(ids, r.ID)
		if r.ID != before && !strings.Contains(string(r.Body), b.SelfSigningKey.String()) {
			t.Errorf("a signature upload not by the new self-signing key: %s", r.Body)
		}
	}
	if len(ids) != 2 || !slices.Contains(ids, before) {
		t.Errorf("signature uploads after the confirmation: %v, want the bootstrap's and %s", ids, before)
	}
	if err := a.m.MarkRequestSent(ctx, before, []byte(`{}`)); err != nil {
		t.Errorf("the upload offered before the bootstrap: %v", err)
	}
}
