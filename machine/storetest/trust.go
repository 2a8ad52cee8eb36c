package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// putAccountData sends account data PUTs to the fake homeserver.
func (p *peer) putAccountData(puts []machine.AccountDataPut) {
	p.t.Helper()
	for _, a := range puts {
		if _, err := p.hs.Do(p.user, p.dev, machine.Request{Method: "PUT", Path: a.Path, Body: a.Content}); err != nil {
			p.t.Fatalf("%s: PUT %s: %v", p.user, a.Path, err)
		}
	}
}

// testTrust runs cross-signing, secret storage and key backup over the
// store, with restarts where the state must survive them: a signature
// upload held across a restart, account data kept for opening secret
// storage after a restart, the backed-up flags of sessions across
// restarts, and a restore on a new store.
func testTrust(t *testing.T, open func(t *testing.T) machine.Store) {
	stores := []machine.Store{open(t), open(t), open(t), open(t)}
	for _, s := range stores {
		defer s.Close()
	}
	runTrust(t, stores)
}

// testTrustFailAtEveryWrite runs testTrust's scenario with a failure of
// the store injected at one write after the other (every 11th write, or
// every 37th in -short mode), each followed by a restart: no call leaves
// half of its work behind.
func testTrustFailAtEveryWrite(t *testing.T, open func(t *testing.T) machine.Store) {
	failAtEveryWrite(t, open, 4, 11, 37, runTrust)
}

func runTrust(t *testing.T, stores []machine.Store) {
	hs := fakehs.New()
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	sa, sa2, sa3, sb := stores[0], stores[1], stores[2], stores[3]
	a := newPeer(t, hs, sa, "@alice:x", "ALICE", now)
	a.flush()
	b := newPeer(t, hs, sb, "@bob:x", "BOB", now)
	b.flush()

	// Cross-signing: the signature upload waits in the store.
	var bs *machine.CrossSigningBootstrap
	a.retry(func() (err error) {
		bs, err = a.m.BootstrapCrossSigning(bg, machine.BootstrapOptions{})
		return err
	})
	if _, err := hs.Do(a.user, a.dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/device_signing/upload", Body: bs.DeviceSigningUpload}); err != nil {
		t.Fatal(err)
	}
	a.restart()
	a.retry(func() error { return a.m.ConfirmCrossSigningUpload(bg) })
	a.flush()
	b.retry(func() error { return b.m.UpdateTrackedUsers(bg, []string{a.user}) })
	b.flush()
	var ds []*machine.Device
	b.retry(func() (err error) {
		ds, err = b.m.Devices(bg, a.user)
		return err
	})
	if len(ds) != 1 || ds[0].Verification != machine.VerificationUnverifiedIdentity {
		t.Fatalf("Bob's view of Alice's device after the bootstrap: %v", ds)
	}

	// Secret storage, opened on a second device after a restart.
	var ss *machine.NewSecretStorage
	a.retry(func() (err error) {
		ss, err = a.m.CreateSecretStorage(bg, "")
		return err
	})
	a.putAccountData(ss.AccountData)
	a2 := newPeer(t, hs, sa2, a.user, "ALICE2", now)
	a2.flush()
	a2.retry(func() error { return a2.m.ReceiveAccountData(bg, hs.AccountData(a.user)) })
	a2.restart()
	var imp *machine.SecretStorageImport
	a2.retry(func() (err error) {
		imp, err = a2.m.OpenSecretStorageWithRecoveryKey(bg, ss.RecoveryKey)
		return err
	})
	if len(imp.Imported) != 3 {
		t.Fatalf("secret storage import: %+v", imp)
	}

	// Key backup: sessions backed up in batches, with restarts.
	var cr *machine.BackupCreation
	a.retry(func() (err error) {
		cr, err = a.m.CreateBackupVersion(bg)
		return err
	})
	version, err := cr.VersionBody([]byte(`{"version":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	a.retry(func() error { return a.m.SetBackupVersion(bg, version) })
	const rooms = 4
	for i := range rooms {
		room := fmt.Sprintf("!r%d:x", i)
		for _, c := range []*peer{a, b} {
			c.retry(func() error {
				return c.m.SetRoomEncryption(bg, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
			})
		}
		b.share(room, a.user, b.user)
	}
	a.sync()
	// An upload lost with its in-flight request (a failure, a restart)
	// is made again; one marked sent is not.
	uploaded := map[string]keybackup.BackupEntry{}
	for i := 0; ; i++ {
		if i > 4*rooms {
			t.Fatal("backup never ends")
		}
		done := false
		a.retry(func() error {
			r, err := a.m.BackupRequest(bg, 1)
			if err != nil || r == nil {
				done = r == nil && err == nil
				return err
			}
			es, perr := keybackup.ParseRoomKeys(r.Body)
			if perr != nil {
				t.Fatal(perr)
			}
			for _, e := range es {
				uploaded[e.SessionID] = e
			}
			return a.m.MarkRequestSent(bg, r.ID, []byte(`{}`))
		})
		if done {
			break
		}
		a.restart()
		a.retry(func() error { return nil })
	}
	if len(uploaded) != rooms {
		t.Fatalf("%d sessions uploaded for %d room keys", len(uploaded), rooms)
	}
	var entries []keybackup.BackupEntry
	for _, e := range uploaded {
		entries = append(entries, e)
	}

	// A third device restores them; none is uploaded again.
	body, _ := keybackup.MarshalRoomKeys(entries)
	key, err := keybackup.BackupKeyFromRecoveryKey(cr.RecoveryKey, cr.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	a3 := newPeer(t, hs, sa3, a.user, "ALICE3", now)
	var res *machine.ImportResult
	a3.retry(func() (err error) {
		res, err = a3.m.RestoreBackup(bg, key, body, machine.RestoreOptions{Version: version})
		return err
	})
	if res.Imported != rooms {
		t.Fatalf("restore: %+v", res)
	}
	a3.restart()
	a3.retry(func() error { return a3.m.SetSecret(bg, keybackup.SecretMegolmBackup, key.Encode()) })
	a3.retry(func() error { return a3.m.SetBackupVersion(bg, version) })
	var again *machine.Request
	a3.retry(func() (err error) {
		again, err = a3.m.BackupRequest(bg, 100)
		return err
	})
	if again != nil {
		t.Errorf("restored sessions uploaded again")
	}
	// A new backup version gets every session again.
	var cr2 *machine.BackupCreation
	a3.retry(func() (err error) {
		cr2, err = a3.m.CreateBackupVersion(bg)
		return err
	})
	v2, _ := cr2.VersionBody([]byte(`{"version":"2"}`))
	a3.retry(func() error { return a3.m.SetBackupVersion(bg, v2) })
	a3.restart()
	a3.retry(func() error { return nil })
	var r *machine.Request
	a3.retry(func() (err error) {
		r, err = a3.m.BackupRequest(bg, 100)
		return err
	})
	if r == nil {
		t.Fatal("new backup version: no upload")
	}
	if es, _ := keybackup.ParseRoomKeys(r.Body); len(es) != rooms {
		t.Errorf("%d sessions for the new version, want %d", len(es), rooms)
	}
}
