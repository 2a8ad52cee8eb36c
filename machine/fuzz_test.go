package machine_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// fuzzWorld is shared by the fuzz iterations: Bob holds a real session from
// Alice, so mutations of real events reach deep into the decrypters.
func fuzzSeeds(f *testing.F) (*world, []json.RawMessage, []json.RawMessage) {
	w := newWorld(f)
	var toDevice []json.RawMessage
	w.hs.Tamper = func(to, dev string, ev json.RawMessage) []json.RawMessage {
		toDevice = append(toDevice, ev)
		return []json.RawMessage{ev}
	}
	w.alice.share(w.room, w.alice.user, w.bob.user)
	room := []json.RawMessage{
		roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"seed"}`)),
		roomEvent(w.room, w.alice.user, w.alice.encrypt(w.room, `{"body":"rel","m.relates_to":{"rel_type":"m.thread","event_id":"$x"}}`)),
	}
	w.hs.Tamper = nil
	return w, toDevice, room
}

// FuzzReceiveSync feeds arbitrary to-device events to a machine: never a
// panic, never a store error, and the machine goes on working.
func FuzzReceiveSync(f *testing.F) {
	w, toDevice, _ := fuzzSeeds(f)
	for _, ev := range toDevice {
		f.Add([]byte(ev))
	}
	f.Add([]byte(`{"type":"m.room_key","sender":"@a:x","content":{}}`))
	f.Add([]byte(`{"type":"m.room.encrypted","sender":"@a:x","content":{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"","ciphertext":{}}}`))
	f.Add([]byte(`{"type":"m.room_key.withheld","sender":"@a:x","content":{"room_id":"!r","session_id":"s","code":"m.unverified"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := w.bob.m.ReceiveSync(ctx, machine.SyncChanges{ToDevice: []json.RawMessage{data}})
		if err != nil {
			t.Fatalf("ReceiveSync: %v", err)
		}
		if len(res.ToDevice) != 1 {
			t.Fatalf("%d results for one event", len(res.ToDevice))
		}
	})
}

// FuzzDecryptRoomEvent feeds arbitrary room events.
func FuzzDecryptRoomEvent(f *testing.F) {
	w, toDevice, room := fuzzSeeds(f)
	w.bob.m.ReceiveSync(ctx, machine.SyncChanges{ToDevice: toDevice})
	for _, ev := range room {
		f.Add([]byte(ev))
	}
	f.Add([]byte(`{"type":"m.room.encrypted","sender":"@a:x","content":{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgA","session_id":"x"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := w.bob.m.DecryptRoomEvent(ctx, w.room, data)
		if err == nil && d == nil {
			t.Fatal("nil event without error")
		}
		if err != nil && errors.Is(err, machine.ErrClosed) {
			t.Fatal(err)
		}
	})
}

// FuzzSecretStorage feeds arbitrary account data to a machine whose user
// has cross-signing and secret storage, then opens secret storage: never
// a panic, never a store error, and a secret is stored only if it
// decrypted under the key and matches its published public key.
func FuzzSecretStorage(f *testing.F) {
	w := newWorld(f)
	a := w.alice
	b, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		f.Fatal(err)
	}
	a.uploadCrossSigning(b)
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		f.Fatal(err)
	}
	master, _, _ := a.m.Secret(ctx, "m.cross_signing.master")
	for _, p := range ss.AccountData {
		ev, _ := json.Marshal(map[string]any{"type": p.Type, "content": p.Content})
		f.Add(ev)
	}
	f.Add([]byte(`{"type":"m.secret_storage.default_key","content":{"key":7}}`))
	f.Add([]byte(`{"type":"m.megolm_backup.v1","content":{"encrypted":null}}`))
	a2 := newClient(f, w.hs, a.user, "ALICE2", w.clock)
	a2.putAccountData(ss.AccountData)
	a2.syncAccountData()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := a2.m.ReceiveAccountData(ctx, []json.RawMessage{data}); err != nil {
			t.Fatalf("ReceiveAccountData: %v", err)
		}
		a2.m.Notices()
		res, err := a2.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
		if err != nil {
			if errors.Is(err, machine.ErrClosed) || errors.Is(err, machine.ErrCorruptedStore) {
				t.Fatal(err)
			}
			return
		}
		for _, name := range res.Imported {
			if v, _, _ := a2.m.Secret(ctx, name); name == "m.cross_signing.master" && v != master {
				t.Fatalf("a master key other than ours was stored")
			}
		}
		// Back to the real account data.
		if err := a2.m.ReceiveAccountData(ctx, w.hs.AccountData(a.user)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRestoreBackup feeds arbitrary GET /room_keys/keys bodies and backup
// versions to RestoreBackup: never a panic, never a store error; what is
// imported decrypted under the key.
func FuzzRestoreBackup(f *testing.F) {
	w := newWorld(f)
	cr, err := w.alice.m.CreateBackupVersion(ctx)
	if err != nil {
		f.Fatal(err)
	}
	version, _ := cr.VersionBody([]byte(`{"version":"1"}`))
	w.alice.m.SetBackupVersion(ctx, version)
	w.bob.share(w.room, w.alice.user, w.bob.user)
	w.alice.sync()
	r, err := w.alice.m.BackupRequest(ctx, 10)
	if err != nil || r == nil {
		f.Fatal(r, err)
	}
	key, err := keybackup.BackupKeyFromRecoveryKey(cr.RecoveryKey, cr.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(r.Body), version)
	f.Add([]byte(r.Body), []byte(nil))
	f.Add([]byte(`{"rooms":{"!r":{"sessions":{"s":{"session_data":{}}}}}}`), []byte(`{}`))
	a2 := newClient(f, w.hs, w.alice.user, "ALICE2", w.clock)
	f.Fuzz(func(t *testing.T, keys, version []byte) {
		res, err := a2.m.RestoreBackup(ctx, key, keys, machine.RestoreOptions{Version: version})
		if err != nil {
			if errors.Is(err, machine.ErrClosed) || errors.Is(err, machine.ErrCorruptedStore) {
				t.Fatal(err)
			}
			return
		}
		if res.Imported < 0 || res.Imported > len(keys) {
			t.Fatalf("imported %d", res.Imported)
		}
	})
}
