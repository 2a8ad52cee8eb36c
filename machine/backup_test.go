package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

func backupVersion(t *testing.T, pub keybackup.BackupPublicKey, version string) []byte {
	t.Helper()
	b, err := (&keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm, AuthData: keybackup.NewAuthData(pub), Version: version}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackupUpload(t *testing.T) {
	w := newWorld(t)
	key, _ := keybackup.GenerateBackupKey()
	// Without the key (or a signature by us), the version is refused.
	if err := w.bob.m.SetBackupVersion(ctx, backupVersion(t, key.PublicKey(), "1")); !errors.Is(err, machine.ErrUntrustedBackup) {
		t.Fatalf("version of a key we do not hold: %v", err)
	}
	if r, _ := w.bob.m.BackupRequest(ctx, 100); r != nil {
		t.Fatal("upload to an untrusted backup")
	}
	w.bob.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode())
	if err := w.bob.m.SetBackupVersion(ctx, backupVersion(t, key.PublicKey(), "1")); err != nil {
		t.Fatal(err)
	}
	// The server swaps in a backup of its own: refused, the old one stays.
	evil, _ := keybackup.GenerateBackupKey()
	if err := w.bob.m.SetBackupVersion(ctx, backupVersion(t, evil.PublicKey(), "2")); !errors.Is(err, machine.ErrUntrustedBackup) {
		t.Fatalf("swapped version: %v", err)
	}

	w.alice.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"backed up"}`))
	w.bob.sync()
	r, err := w.bob.m.BackupRequest(ctx, 100)
	if err != nil || r == nil {
		t.Fatalf("BackupRequest: %v, %v", r, err)
	}
	if r.Kind != machine.KindKeysBackup || !strings.HasSuffix(r.Path, "version=1") {
		t.Errorf("request %s %s", r.Kind, r.Path)
	}
	entries, err := keybackup.ParseRoomKeys(r.Body)
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries: %d, %v", len(entries), err)
	}
	res := key.DecryptAll(context.Background(), entries, nil)
	if res[0].Err != nil || res[0].RoomID != w.room {
		t.Fatalf("restore: %+v", res[0])
	}
	if err := w.bob.m.MarkRequestSent(ctx, r.ID, []byte(`{"etag":"1","count":1}`)); err != nil {
		t.Fatal(err)
	}
	if r, _ := w.bob.m.BackupRequest(ctx, 100); r != nil {
		t.Error("the same session uploaded again")
	}
	// A third device restores it: provenance backup.
	b2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	es := []keybackup.ExportedSession{{BackedUpSession: *res[0].Session, RoomID: res[0].RoomID, SessionID: res[0].SessionID}}
	if out, err := b2.m.ImportRoomKeys(ctx, es, machine.ProvenanceBackup); err != nil || out.Imported != 1 {
		t.Fatalf("restore into another device: %+v, %v", out, err)
	}
	d := b2.decrypt(w.room, ev)
	if d.Provenance != machine.ProvenanceBackup || !strings.Contains(string(d.Content), "backed up") {
		t.Errorf("restored: %s %s", d.Provenance, d.Content)
	}
	// Restored sessions are not uploaded again.
	b2.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode())
	b2.m.SetBackupVersion(ctx, backupVersion(t, key.PublicKey(), "1"))
	if r, _ := b2.m.BackupRequest(ctx, 100); r != nil {
		var body map[string]json.RawMessage
		json.Unmarshal(r.Body, &body)
		t.Errorf("restored session uploaded again: %s", r.Body)
	}
}

// A backup key gossiped by our own verified device is refused when it does
// not match the backup we use.
func TestGossipedBackupKeyMustMatch(t *testing.T) {
	w := newWorld(t)
	key, _ := keybackup.GenerateBackupKey()
	w.alice.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode())
	if err := w.alice.m.SetBackupVersion(ctx, backupVersion(t, key.PublicKey(), "1")); err != nil {
		t.Fatal(err)
	}
	// ALICE2 uses another backup (whose key it holds); Alice's key does not
	// match it.
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	other, _ := keybackup.GenerateBackupKey()
	a2.m.SetSecret(ctx, keybackup.SecretMegolmBackup, other.Encode())
	if err := a2.m.SetBackupVersion(ctx, backupVersion(t, other.PublicKey(), "7")); err != nil {
		t.Fatal(err)
	}
	verifyEachOther(t, w.alice, a2)
	a2.m.RequestSecret(ctx, keybackup.SecretMegolmBackup)
	a2.flush()
	w.alice.sync()
	res := a2.sync()
	refusedWith(t, res, "m.secret.send", machine.ErrUntrustedSender)
	if v, _, _ := a2.m.Secret(ctx, keybackup.SecretMegolmBackup); v != other.Encode() {
		t.Error("the mismatching backup key replaced ours")
	}
}

// A new backup version (another key, e.g. after a backup reset) gets the
// sessions already uploaded to the old one: BackedUp is reset (review F11).
func TestNewBackupVersionGetsOldKeys(t *testing.T) {
	w := newWorld(t)
	key1, _ := keybackup.GenerateBackupKey()
	w.bob.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key1.Encode())
	if err := w.bob.m.SetBackupVersion(ctx, backupVersion(t, key1.PublicKey(), "1")); err != nil {
		t.Fatal(err)
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	w.bob.sync()
	r, err := w.bob.m.BackupRequest(ctx, 100)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	w.bob.m.MarkRequestSent(ctx, r.ID, []byte(`{}`))
	key2, _ := keybackup.GenerateBackupKey()
	w.bob.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key2.Encode())
	if err := w.bob.m.SetBackupVersion(ctx, backupVersion(t, key2.PublicKey(), "2")); err != nil {
		t.Fatal(err)
	}
	if r, _ := w.bob.m.BackupRequest(ctx, 100); r == nil {
		t.Fatal("backup version 2 (another key) never gets the session already uploaded to version 1")
	}
}
