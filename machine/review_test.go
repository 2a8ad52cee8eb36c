package machine_test

import (
	"fmt"

	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"github.com/souverain/e2ee/olm"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/megolm"
)

// accountDataEvent builds a /sync account data event.
func accountDataEvent(t *testing.T, typ string, content any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "content": content})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The homeserver swaps m.secret_storage.default_key to a key of its own
// making whose description has no check values, with a passphrase of one
// PBKDF2 iteration and a salt of its choosing, and no secret under it.
// Opening it with the user's passphrase must fail: nothing proves the
// key. Before the fix it opened, and SecretStorageAccountData then wrote
// our cross-signing keys under PBKDF2(passphrase, server salt, 1
// iteration), which the server can brute-force offline 500,000 times
// faster than the real key (and a mistyped passphrase was taken as well).
func TestSecretStorageServerKeyWithoutCheckRefused(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	const pass = "correct horse battery staple"
	ss, err := a.m.CreateSecretStorage(ctx, pass)
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	// Alice's device holds the cross-signing keys; the server then
	// delivers its own default key.
	a2 := a
	evil := map[string]any{"algorithm": keybackup.SecretStorageAlgorithm,
		"passphrase": map[string]any{"algorithm": "m.pbkdf2", "salt": "server", "iterations": 1}}
	if err := a2.m.ReceiveAccountData(ctx, []json.RawMessage{
		accountDataEvent(t, "m.secret_storage.key.evil", evil),
		accountDataEvent(t, "m.secret_storage.default_key", map[string]string{"key": "evil"}),
	}); err != nil {
		t.Fatal(err)
	}
	// What the server gets if the key opened: MACs it checks with one
	// PBKDF2 round per guess.
	leaked := func() {
		t.Helper()
		puts, _ := a2.m.SecretStorageAccountData(ctx)
		for _, p := range puts {
			var c struct {
				Encrypted map[string]struct{ Ciphertext, MAC string } `json:"encrypted"`
			}
			json.Unmarshal(p.Content, &c)
			e, ok := c.Encrypted["evil"]
			if !ok {
				continue
			}
			key, _ := pbkdf2.Key(sha512.New, pass, []byte("server"), 1, 32)
			okm, _ := hkdf.Key(sha256.New, key, make([]byte, 32), p.Type, 64)
			ct, _ := b64.Decode(e.Ciphertext)
			mac, _ := b64.Decode(e.MAC)
			h := hmac.New(sha256.New, okm[32:])
			h.Write(ct)
			if hmac.Equal(h.Sum(nil), mac) {
				t.Errorf("%s written under a 1-iteration key the server chose", p.Type)
			}
		}
	}
	for _, p := range []string{pass, "a typo"} {
		res, err := a2.m.OpenSecretStorageWithPassphrase(ctx, p)
		if !errors.Is(err, machine.ErrWrongKey) {
			t.Errorf("passphrase %q opened the server's unchecked key: %+v, %v", p, res, err)
		}
		if p == pass {
			leaked()
		}
	}
	// With the recovery key likewise (a wrong but well-formed recovery key
	// would be taken, and our secrets rewritten under it).
	other, _ := keybackup.GenerateSecretStorageKey("")
	if _, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, other.RecoveryKey()); !errors.Is(err, machine.ErrWrongKey) {
		t.Errorf("a wrong recovery key opened the server's unchecked key: %v", err)
	}
	// The key Alice made stays the open one.
	puts, err := a2.m.SecretStorageAccountData(ctx)
	if err != nil || len(puts) != 3 {
		t.Fatalf("%d puts, %v", len(puts), err)
	}
	for _, p := range puts {
		var c keybackup.SecretContent
		if err := json.Unmarshal(p.Content, &c); err != nil || c.Encrypted[ss.KeyID] == nil {
			t.Errorf("%s not under Alice's key: %s", p.Type, p.Content)
		}
	}
}

// A device that has not yet had our own /keys/query answered (a bot at
// its first start) must not create a new identity over the one the
// server publishes: that is a reset, losing every verification made with
// the old identity, and a server asking for the password in UIA gets it
// from a bot automatically. Before the fix BootstrapCrossSigning made
// new keys, since nothing said the server had some.
func TestBootstrapBeforeOwnQueryRefused(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	b := a.bootstrap()
	// A second device, before its first OutgoingRequests.
	c := &client{t: t, hs: w.hs, user: a.user, dev: "ALICE2", store: memstore.New(), key: pickleKey(7), clock: w.clock}
	c.opts = machine.Options{UserID: c.user, DeviceID: c.dev, Store: c.store, PickleKey: c.key, Clock: w.clock.now}
	c.open()
	if _, err := c.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{}); !errors.Is(err, machine.ErrNotFound) {
		t.Fatalf("bootstrap before our keys were queried: %v", err)
	}
	if _, ok, _ := c.m.Secret(ctx, "m.cross_signing.master"); ok {
		t.Error("a master key was made")
	}
	c.flush()
	if _, err := c.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{}); !errors.Is(err, machine.ErrCrossSigningExists) {
		t.Fatalf("bootstrap once the identity is known: %v", err)
	}
	if st, _ := c.m.CrossSigningStatus(ctx); st.MasterKey != b.MasterKey {
		t.Errorf("master key %v, want %v", st.MasterKey, b.MasterKey)
	}
}

// A device holding stale keys must not write them over the current ones
// in secret storage. Alice resets her identity on one device (keys
// stored in secret storage); her other device still holds the old keys
// and, asked for SecretStorageAccountData (to store anything), wrote the
// old keys over the new ones: no device could then read the keys of
// Alice's identity from secret storage. Before the fix
// SecretStorageAccountData wrote every secret held, unchecked.
func TestSecretStorageStaleKeysNotWritten(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.syncAccountData()
	if res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || len(res.Imported) != 3 {
		t.Fatalf("open: %+v, %v", res, err)
	}
	// The reset, on ALICE, with secret storage open: the new keys go to it.
	b2, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a.uploadCrossSigning(b2)
	a.putAccountData(b2.AccountData)
	// ALICE2 learns of the new identity, and stores its secrets.
	a2.m.MarkAllTrackedUsersOutdated(ctx)
	a2.flush()
	puts, err := a2.m.SecretStorageAccountData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a2.putAccountData(puts)
	// A new device reads the keys of Alice's identity.
	a3 := newClient(t, w.hs, a.user, "ALICE3", w.clock)
	a3.syncAccountData()
	res, err := a3.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
	if err != nil || len(res.Imported) != 3 {
		t.Fatalf("ALICE3 reads %+v, %v (ALICE2 wrote %d secrets)", res, err, len(puts))
	}
	if st, _ := a3.m.CrossSigningStatus(ctx); st.MasterKey != b2.MasterKey || !st.HasMaster {
		t.Errorf("ALICE3's status: %+v", st)
	}
}

// The server publishes another master key for us (or another device
// reset our identity): CrossSigningStatus must not report our identity
// as trusted, nor the pinned key as the one held and published, while the
// change waits for AcceptIdentity. Before the fix it compared the keys
// held with the pinned (old) key and reported Trusted, hiding from the
// application that other users now see a master key we do not hold.
func TestCrossSigningStatusIdentityChanged(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	// The server's own identity for Alice, uploaded as any client would.
	evil, err := crossign.GenerateKeys(a.user)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := evil.DeviceSigningUpload()
	body, _ := up.MarshalJSON()
	a.send2("/_matrix/client/v3/keys/device_signing/upload", body)
	a.m.MarkAllTrackedUsersOutdated(ctx)
	a.flush()
	if changed, _ := a.m.IdentityChanged(ctx, a.user); !changed {
		t.Fatal("test setup: no identity change seen")
	}
	st, err := a.m.CrossSigningStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Trusted || st.HasMaster {
		t.Errorf("status with a changed identity: %+v", st)
	}
}

// A /keys/query of our own user that lands between a replacing
// bootstrap and its device signing upload (a sync loop running meanwhile)
// sees the old master key published: our new identity was then flagged
// as changed for good, with our own devices flagged and CrossSigningStatus
// untrusted, though this device holds the master key the server publishes
// once the upload is done. A published master key whose private key we
// hold is ours: the flag clears.
func TestOwnIdentityNotChangedAfterBootstrapRace(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	b2, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a.m.MarkAllTrackedUsersOutdated(ctx)
	a.flush() // the old identity is still published
	a.uploadCrossSigning(b2)
	a.m.MarkAllTrackedUsersOutdated(ctx)
	a.flush()
	if ch, _ := a.m.IdentityChanged(ctx, a.user); ch {
		t.Error("our own new identity is flagged as changed")
	}
	want := machine.CrossSigningStatus{MasterKey: b2.MasterKey, SelfSigningKey: b2.SelfSigningKey, UserSigningKey: b2.UserSigningKey,
		HasMaster: true, HasSelfSigning: true, HasUserSigning: true, Trusted: true}
	if st, _ := a.m.CrossSigningStatus(ctx); *st != want {
		t.Errorf("status %+v", st)
	}
}

// While a replacing bootstrap waits for its device signing upload, its
// keys are not published: SecretStorageAccountData must not write them
// over the published identity's keys in secret storage (if the upload
// never succeeds, they would be lost there). Before the fix it did.
func TestSecretStorageNoUnpublishedKeys(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	b2, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.AccountData) != 3 {
		t.Fatalf("the bootstrap's own secret storage writes: %d", len(b2.AccountData))
	}
	puts, err := a.m.SecretStorageAccountData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(puts) != 0 {
		t.Errorf("%d unpublished keys written before the upload", len(puts))
	}
	a.uploadCrossSigning(b2)
	if puts, _ := a.m.SecretStorageAccountData(ctx); len(puts) != 3 {
		t.Errorf("%d keys written after the upload", len(puts))
	}
}

// The server writes a backup entry (anyone who knows the backup's public
// key can) for the ID of Bob's new session with a ratchet of its own,
// and delays Bob's m.room_key until Alice restored the backup. Bob's
// authenticated key must then replace the forged copy. Before the fix
// it was refused as "not connected" to the forged copy, for good: no
// message of the session ever decrypted.
func TestDirectKeyReplacesForgedBackupCopy(t *testing.T) {
	for _, otherSender := range []bool{false, true} {
		t.Run(fmt.Sprintf("other sender key %v", otherSender), func(t *testing.T) { directKeyReplacesForgedBackupCopy(t, otherSender) })
	}
}

// directKeyReplacesForgedBackupCopy: the forged copy names Bob's identity
// key as its sender or, if otherSender, another one.
func directKeyReplacesForgedBackupCopy(t *testing.T, otherSender bool) {
	w := newWorld(t)
	a, b := w.alice, w.bob
	b.share(w.room, a.user, b.user)
	ev := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"hi"}`))
	var c struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(gjsonContent(t, ev), &c)
	// The forged copy: a ratchet of the server's, Bob's session ID.
	fresh, _ := megolm.NewGroupSession()
	in, _ := megolm.NewInboundGroupSession(fresh.SessionKey())
	raw := in.Export().Bytes()
	id, err := b64.Decode(c.SessionID)
	if err != nil || len(id) != 32 {
		t.Fatalf("session ID %q", c.SessionID)
	}
	copy(raw[len(raw)-32:], id)
	forged, err := megolm.ParseExportedSessionKey(b64.Encode(raw))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := megolm.ImportInboundGroupSession(forged)
	if err != nil || fs.SessionID() != c.SessionID {
		t.Fatalf("forged session: %v", err)
	}
	bobCurve, bobEd, _ := b.m.IdentityKeys(ctx)
	if otherSender {
		other, _ := olm.NewAccount()
		bobCurve, bobEd = other.IdentityKeys()
	}
	bk, _ := keybackup.GenerateBackupKey()
	entry, err := bk.PublicKey().NewBackupEntry(w.room, c.SessionID, keybackup.NewBackedUpSession(fs, bobCurve, bobEd, nil), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := keybackup.MarshalRoomKeys([]keybackup.BackupEntry{entry})
	if res, err := a.m.RestoreBackup(ctx, bk, body, machine.RestoreOptions{}); err != nil || res.Imported != 1 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	// Bob's key arrives now.
	a.sync()
	d, err := a.m.DecryptRoomEvent(ctx, w.room, ev)
	if err != nil {
		t.Fatalf("Bob's message after his key arrived: %v", err)
	}
	if !d.Provenance.Authenticated() {
		t.Errorf("provenance %v", d.Provenance)
	}
}

// gjsonContent returns the content of an event.
func gjsonContent(t *testing.T, ev json.RawMessage) json.RawMessage {
	t.Helper()
	var e struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatal(err)
	}
	return e.Content
}

// TestForwardedKeyReplacesForgedBackupCopy: a new device of Alice restores
// a backup entry the server forged under Bob's session ID; the message
// does not decrypt, so the device asks Alice's other device for the key,
// whose forward replaces the forged copy.
func TestForwardedKeyReplacesForgedBackupCopy(t *testing.T) {
	w := newWorld(t)
	b := w.bob
	b.share(w.room, w.alice.user, b.user)
	ev := roomEvent(w.room, b.user, b.encrypt(w.room, `{"body":"hi"}`))
	w.alice.sync()
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.setEncrypted(w.room)
	verifyEachOther(t, w.alice, a2)

	var c struct {
		SessionID string `json:"session_id"`
	}
	json.Unmarshal(gjsonContent(t, ev), &c)
	fresh, _ := megolm.NewGroupSession()
	in, _ := megolm.NewInboundGroupSession(fresh.SessionKey())
	raw := in.Export().Bytes()
	id, _ := b64.Decode(c.SessionID)
	copy(raw[len(raw)-32:], id)
	forged, _ := megolm.ParseExportedSessionKey(b64.Encode(raw))
	fs, err := megolm.ImportInboundGroupSession(forged)
	if err != nil {
		t.Fatal(err)
	}
	bobCurve, bobEd, _ := b.m.IdentityKeys(ctx)
	bk, _ := keybackup.GenerateBackupKey()
	entry, _ := bk.PublicKey().NewBackupEntry(w.room, c.SessionID, keybackup.NewBackedUpSession(fs, bobCurve, bobEd, nil), 0, true)
	body, _ := keybackup.MarshalRoomKeys([]keybackup.BackupEntry{entry})
	if res, err := a2.m.RestoreBackup(ctx, bk, body, machine.RestoreOptions{}); err != nil || res.Imported != 1 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	if _, err := a2.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrMegolmDecrypt) {
		t.Fatalf("with the forged copy: %v", err)
	}
	reqs, _ := a2.m.OutgoingRequests(ctx)
	if sentToDevice(reqs, "m.room_key_request") != 1 {
		t.Fatalf("no key request: %v", kinds(reqs))
	}
	a2.flush()
	w.alice.sync() // answers over Olm
	res := a2.sync()
	if len(res.RoomKeys) != 1 || res.RoomKeys[0].Provenance != machine.ProvenanceForwarded {
		t.Fatalf("forwarded key: %+v", res.RoomKeys)
	}
	if len(res.Retry) != 1 {
		t.Errorf("retry after the forward: %+v", res.Retry)
	}
	d := a2.decrypt(w.room, ev)
	if d.Provenance != machine.ProvenanceForwarded {
		t.Errorf("provenance %v", d.Provenance)
	}
}
