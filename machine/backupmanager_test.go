package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// fakeBackup is the server side of key backup for the tests: one version
// and its keys, merged per session as uploads come.
type fakeBackup struct {
	version []byte
	rooms   map[string]map[string]json.RawMessage
	uploads int // sessions uploaded, counting repeats
}

func (b *fakeBackup) put(t *testing.T, body []byte) {
	t.Helper()
	entries, err := keybackup.ParseRoomKeys(body)
	if err != nil {
		t.Fatal(err)
	}
	if b.rooms == nil {
		b.rooms = map[string]map[string]json.RawMessage{}
	}
	for _, e := range entries {
		if b.rooms[e.RoomID] == nil {
			b.rooms[e.RoomID] = map[string]json.RawMessage{}
		}
		b.rooms[e.RoomID][e.SessionID] = e.Data
		b.uploads++
	}
}

func (b *fakeBackup) keys(t *testing.T) []byte {
	var entries []keybackup.BackupEntry
	for room, ss := range b.rooms {
		for id, data := range ss {
			entries = append(entries, keybackup.BackupEntry{RoomID: room, SessionID: id, Data: data})
		}
	}
	body, err := keybackup.MarshalRoomKeys(entries)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// backUp uploads every pending session of c, batches of max.
func (c *client) backUp(b *fakeBackup, max int) {
	c.t.Helper()
	for range 100 {
		r, err := c.m.BackupRequest(ctx, max)
		if err != nil {
			c.t.Fatal(err)
		}
		if r == nil {
			return
		}
		b.put(c.t.(*testing.T), r.Body)
		if err := c.m.MarkRequestSent(ctx, r.ID, []byte(`{"etag":"x","count":1}`)); err != nil {
			c.t.Fatal(err)
		}
	}
	c.t.Fatal("backup never ends")
}

func TestBackupManager(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData) // cross-signing keys only
	if r, _ := a.m.BackupRequest(ctx, 10); r != nil {
		t.Fatal("backup upload before the app switched the backup on")
	}
	cr, err := a.m.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.AccountData) != 1 || cr.AccountData[0].Type != keybackup.SecretMegolmBackup {
		t.Fatalf("backup key account data: %+v", cr.AccountData)
	}
	// auth_data is signed by this device and by the master key.
	v, err := keybackup.ParseBackupVersion(cr.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := a.m.IdentityKeys(ctx)
	if _, err := v.AuthData.Verify(a.user, keybackup.DeviceSigningKey(a.dev, ed)); err != nil {
		t.Errorf("device signature: %v", err)
	}
	masterSecret, _, _ := a.m.Secret(ctx, keybackup.SecretCrossSigningMaster)
	bs, _ := json.Marshal(v.AuthData.Signatures)
	if len(v.AuthData.Signatures[a.user]) != 2 {
		t.Errorf("signatures %s", bs)
	}
	if _, ok, _ := a.m.Secret(ctx, keybackup.SecretMegolmBackup); ok || masterSecret == "" {
		t.Fatal("backup key a secret before the server has the version")
	}
	server := &fakeBackup{}
	server.version, err = cr.VersionBody([]byte(`{"version":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.m.Backup(ctx); err != nil || st != nil {
		t.Fatalf("backup on before SetBackupVersion: %+v, %v", st, err)
	}
	if err := a.m.SetBackupVersion(ctx, server.version); err != nil {
		t.Fatalf("our own fresh version refused: %v", err)
	}
	if st, err := a.m.Backup(ctx); err != nil || *st != (machine.BackupStatus{Version: "1", PublicKey: cr.PublicKey, KeyHeld: true}) {
		t.Fatalf("backup status: %+v, %v", st, err)
	}
	if held, _, _ := a.m.Secret(ctx, keybackup.SecretMegolmBackup); held == "" {
		t.Fatal("backup key not kept as a secret")
	}

	// Room keys go to the backup.
	w.bob.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.bob.user, w.bob.encrypt(w.room, `{"body":"history"}`))
	a.sync()
	a.backUp(server, 10)
	if server.uploads != 1 {
		t.Fatalf("%d sessions uploaded", server.uploads)
	}

	// Another device of Alice's with only the cross-signing keys (from
	// secret storage) trusts the version by its master key signature.
	a2 := newClient(t, w.hs, a.user, "ALICE2", w.clock)
	a2.syncAccountData()
	if _, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a2.m.Secret(ctx, keybackup.SecretMegolmBackup); ok {
		t.Fatal("test setup: ALICE2 holds the backup key")
	}
	if err := a2.m.SetBackupVersion(ctx, server.version); err != nil {
		t.Fatalf("version signed by our master key: %v", err)
	}
	if st, _ := a2.m.Backup(ctx); st == nil || st.KeyHeld || st.Version != "1" {
		t.Errorf("ALICE2's backup status: %+v", st)
	}
	if _, err := a2.m.BackupKey(ctx); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("BackupKey without one: %v", err)
	}
	// Once secret storage holds the backup key too, ALICE2 can restore.
	puts, err := a.m.SecretStorageAccountData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(puts)
	a2.syncAccountData()
	if res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || len(res.Imported) != 4 {
		t.Fatalf("secret storage with the backup key: %+v, %v", res, err)
	}
	held, err := a2.m.BackupKey(ctx)
	if err != nil || held.Matches(cr.PublicKey) != nil {
		t.Fatalf("BackupKey: %v", err)
	}
	if res, err := a2.m.RestoreBackup(ctx, held, server.keys(t), machine.RestoreOptions{Version: server.version}); err != nil || res.Imported != 1 {
		t.Fatalf("restore with the key from secret storage: %+v, %v", res, err)
	}
	held.Close()

	// A new device restores with the recovery key, with progress.
	a3 := newClient(t, w.hs, a.user, "ALICE3", w.clock)
	key, err := keybackup.BackupKeyFromRecoveryKey(cr.RecoveryKey, cr.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int
	res, err := a3.m.RestoreBackup(ctx, key, server.keys(t), machine.RestoreOptions{Version: server.version,
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
	if err != nil || res.Imported != 1 || len(res.Errors) != 0 {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	if fmt.Sprint(calls) != "[[1 1]]" {
		t.Errorf("progress %v", calls)
	}
	d := a3.decrypt(w.room, ev)
	if d.Provenance != machine.ProvenanceBackup || d.Verification == machine.VerificationVerified {
		t.Errorf("restored session: provenance %s, verification %v", d.Provenance, d.Verification)
	}
	// Restored sessions are in that version already: not uploaded again.
	a3.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode())
	if err := a3.m.SetBackupVersion(ctx, server.version); err != nil {
		t.Fatal(err)
	}
	if r, _ := a3.m.BackupRequest(ctx, 10); r != nil {
		t.Error("a restored session was uploaded to the version it came from")
	}

	t.Run("key of another backup", func(t *testing.T) {
		other, _ := keybackup.GenerateBackupKey()
		a4 := newClient(t, w.hs, a.user, "ALICE4", w.clock)
		if _, err := a4.m.RestoreBackup(ctx, other, server.keys(t), machine.RestoreOptions{Version: server.version}); !errors.Is(err, machine.ErrUntrustedBackup) {
			t.Fatalf("restore with another backup's key: %v", err)
		}
		// Without the version, every entry fails to decrypt.
		res, err := a4.m.RestoreBackup(ctx, other, server.keys(t), machine.RestoreOptions{})
		if err != nil || res.Imported != 0 || !errors.Is(res.Errors[0], keybackup.ErrBadMAC) {
			t.Fatalf("entries under another key: %+v, %v", res, err)
		}
	})

	t.Run("nil key, cancelled", func(t *testing.T) {
		a7 := newClient(t, w.hs, a.user, "ALICE7", w.clock)
		if _, err := a7.m.RestoreBackup(ctx, nil, server.keys(t), machine.RestoreOptions{}); !errors.Is(err, machine.ErrBadOptions) {
			t.Errorf("nil key: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := a7.m.RestoreBackup(cctx, key, server.keys(t), machine.RestoreOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
		if _, err := a7.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
			t.Errorf("a cancelled restore imported: %v", err)
		}
	})

	t.Run("restored without version, uploaded again", func(t *testing.T) {
		a5 := newClient(t, w.hs, a.user, "ALICE5", w.clock)
		if _, err := a5.m.RestoreBackup(ctx, key, server.keys(t), machine.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		a5.m.SetSecret(ctx, keybackup.SecretMegolmBackup, key.Encode())
		a5.m.SetBackupVersion(ctx, server.version)
		if r, _ := a5.m.BackupRequest(ctx, 10); r == nil {
			t.Error("a session restored from an unnamed version counts as backed up")
		}
	})

	t.Run("restored before another version is set", func(t *testing.T) {
		a6 := newClient(t, w.hs, a.user, "ALICE6", w.clock)
		if _, err := a6.m.RestoreBackup(ctx, key, server.keys(t), machine.RestoreOptions{Version: server.version}); err != nil {
			t.Fatal(err)
		}
		// The app then creates a new backup: the restored session goes to it.
		cr2, err := a6.m.CreateBackupVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v2, _ := cr2.VersionBody([]byte(`{"version":"2"}`))
		if err := a6.m.SetBackupVersion(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if r, _ := a6.m.BackupRequest(ctx, 10); r == nil {
			t.Error("a session restored from version 1 counts as backed up in version 2")
		}
	})
}

// A restart never uploads everything again and never forgets a session:
// an upload lost in flight is made again, an upload marked sent is not.
func TestBackupRestart(t *testing.T) {
	w := newWorld(t)
	b := w.bob
	cr, err := b.m.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	server := &fakeBackup{}
	server.version, _ = cr.VersionBody([]byte(`{"version":"1"}`))
	if err := b.m.SetBackupVersion(ctx, server.version); err != nil {
		t.Fatal(err)
	}
	const rooms = 5
	for i := range rooms {
		room := fmt.Sprintf("!r%d:x", i)
		w.alice.setEncrypted(room)
		b.setEncrypted(room)
		w.alice.share(room, w.alice.user, b.user)
	}
	b.sync()
	// First batch of 2 handed out, then a crash before it is marked sent.
	r, err := b.m.BackupRequest(ctx, 2)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	b.restart()
	if err := b.m.MarkRequestSent(ctx, r.ID, []byte(`{}`)); !errors.Is(err, machine.ErrUnknownRequest) {
		t.Fatalf("request of a previous run: %v", err)
	}
	// One batch sent, then a restart.
	r, err = b.m.BackupRequest(ctx, 2)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	server.put(t, r.Body)
	if err := b.m.MarkRequestSent(ctx, r.ID, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	b.restart()
	b.backUp(server, 2)
	n := 0
	for _, ss := range server.rooms {
		n += len(ss)
	}
	if n != rooms || server.uploads != rooms {
		t.Fatalf("%d sessions in the backup, %d uploads; want %d and %d", n, server.uploads, rooms, rooms)
	}
	b.restart()
	if r, _ := b.m.BackupRequest(ctx, 100); r != nil {
		t.Error("sessions uploaded again after a restart")
	}
}
