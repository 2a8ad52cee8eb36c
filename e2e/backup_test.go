package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/utils"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/examples/bot/botkit"
	"github.com/souverain/e2ee/machine"
)

// TestBackupRestoreNewDevice: carol (mautrix-go v0.33, goolm) receives
// alice's messages, backs up her room keys with mautrix-go's backup code
// (m.megolm_backup.v1.curve25519-aes-sha2) on Dendrite and keeps the
// recovery key; then carol logs in on a new machine device, which cannot
// read the history, restores the backup with the recovery key
// (botkit.RestoreBackup: keybackup.DecryptAll, machine.ImportRoomKeys) and
// decrypts every message of the history, each marked as coming from a
// backup key.
//
// The other direction (a machine device creating and uploading the backup)
// needs the machine's backup manager, which does not exist yet.
func TestBackupRestoreNewDevice(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ids := map[string]string{}
	for _, u := range []string{"alice", "carol"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = uid
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	newMachine := machineFactory(t, ctx, runCtx, &wg, hs, dir)
	alice := newMachine("alice", "alice", true, nil)
	tc := newTally("carol")
	carol := newMautrixBot(runCtx, t, hs.URL, "carol", "password-carol", dir, tc)
	defer func() { stop(); wg.Wait(); <-carol.done; carol.helper.Close() }()

	room, err := alice.CreateRoom(ctx, "history", []string{ids["carol"]})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "carol to join", func() bool {
		m, err := alice.JoinedMembers(ctx, room)
		return err == nil && len(m) == 2
	})
	const n = 5
	var bodies []string
	for i := range n {
		b := fmt.Sprintf("history %d", i)
		if _, err := alice.SendText(ctx, room, b, ""); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	waitFor(t, ctx, "carol to decrypt the history", func() bool { return len(tc.has(bodies)) == 0 })

	// carol backs up her room keys with mautrix-go.
	bk, err := backup.NewMegolmBackupKey()
	if err != nil {
		t.Fatal(err)
	}
	ver, err := carol.cli.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
		Algorithm: id.KeyBackupAlgorithmMegolmBackupV1,
		AuthData:  backup.MegolmAuthData{PublicKey: id.Ed25519(base64.RawStdEncoding.EncodeToString(bk.PublicKey().Bytes()))},
	})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := carol.helper.Machine().CryptoStore.GetGroupSessionsForRoom(ctx, id.RoomID(room)).AsList()
	if err != nil || len(sessions) == 0 {
		t.Fatalf("carol's sessions: %d, %v", len(sessions), err)
	}
	req := &mautrix.ReqKeyBackup{Rooms: map[id.RoomID]mautrix.ReqRoomKeyBackup{id.RoomID(room): {Sessions: map[id.SessionID]mautrix.ReqKeyBackupData{}}}}
	for _, s := range sessions {
		first := s.Internal.FirstKnownIndex()
		key, err := s.Internal.Export(first)
		if err != nil {
			t.Fatal(err)
		}
		chain := s.ForwardingChains
		if chain == nil {
			chain = []string{}
		}
		enc, err := backup.EncryptSessionData(bk, backup.MegolmSessionData{
			Algorithm: id.AlgorithmMegolmV1, ForwardingKeyChain: chain,
			SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: s.SigningKey}, SenderKey: s.SenderKey, SessionKey: string(key),
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(enc)
		req.Rooms[id.RoomID(room)].Sessions[s.ID()] = mautrix.ReqKeyBackupData{FirstMessageIndex: int(first), SessionData: raw}
	}
	if _, err := carol.cli.PutKeysInBackup(ctx, ver.Version, req); err != nil {
		t.Fatal(err)
	}
	recoveryKey := utils.EncodeBase58RecoveryKey(bk.Bytes())
	t.Logf("carol backed up %d session(s) in version %s", len(sessions), ver.Version)

	// A new machine device of carol restores the history.
	carol2 := newMachine("carol", "carol-new-device", false, nil)
	restoreHistory(t, ctx, carol2, room, ids["alice"], bodies, recoveryKey, len(sessions))

	// A wrong recovery key is refused before anything is downloaded.
	other, _ := backup.NewMegolmBackupKey()
	if _, err := carol2.RestoreBackup(ctx, utils.EncodeBase58RecoveryKey(other.Bytes()), nil); err == nil {
		t.Error("RestoreBackup accepted the recovery key of another backup")
	}
}

// machineFactory returns a function that logs a user in on a new machine
// device (botkit), optionally running its sync loop until runCtx ends.
func machineFactory(t *testing.T, ctx, runCtx context.Context, wg *sync.WaitGroup, hs *homeserver, dir string) func(user, name string, run bool, onMsg func(botkit.Message)) *botkit.Client {
	return func(user, name string, run bool, onMsg func(botkit.Message)) *botkit.Client {
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			logf.Close()
			if t.Failed() {
				tail(t, filepath.Join(dir, name+".log"), 30)
			}
		})
		c, err := botkit.New(ctx, botkit.Config{
			Homeserver: hs.URL, User: user, Password: "password-" + user, DeviceName: name,
			StoreDir: filepath.Join(dir, name), PickleKey: randBytes(32), AutoConfirmSAS: true,
			Log: slog.New(slog.NewTextHandler(logf, nil)),
			OnMessage: func(ctx context.Context, c *botkit.Client, m botkit.Message) {
				if onMsg != nil {
					onMsg(m)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if run {
			wg.Add(1)
			go func() { defer wg.Done(); c.Run(runCtx) }()
		}
		return c
	}
}

// restoreHistory checks that dev, a new device, cannot decrypt the history
// of sender in room, then restores the backup with recoveryKey and
// decrypts every one of bodies, each marked as restored from backup.
// wantSessions is the number of sessions the backup must hold, or 0 for
// "whatever it holds, all imported".
func restoreHistory(t *testing.T, ctx context.Context, dev *botkit.Client, room, sender string, bodies []string, recoveryKey string, wantSessions int) {
	t.Helper()
	if err := dev.SyncOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	history := func() (got map[string]*machine.DecryptedEvent, failed []error) {
		var resp struct {
			Chunk []json.RawMessage `json:"chunk"`
		}
		if err := dev.Do(ctx, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/messages?dir=b&limit=100", nil, &resp); err != nil {
			t.Fatal(err)
		}
		got = map[string]*machine.DecryptedEvent{}
		for _, raw := range resp.Chunk {
			var ev struct{ Type, Sender string }
			json.Unmarshal(raw, &ev)
			if ev.Type != "m.room.encrypted" || ev.Sender != sender {
				continue
			}
			d, err := dev.Machine.DecryptRoomEvent(ctx, room, raw)
			if err != nil {
				failed = append(failed, err)
				continue
			}
			var msg struct{ Body string }
			json.Unmarshal(d.Content, &msg)
			got[msg.Body] = d
		}
		return got, failed
	}
	got, failed := history()
	if len(got) != 0 || len(failed) != len(bodies) {
		t.Fatalf("before restoring: %d decrypted, %d failed; want 0 and %d", len(got), len(failed), len(bodies))
	}
	for _, err := range failed {
		if !errors.Is(err, machine.ErrNoSession) {
			t.Fatalf("before restoring: %v, want ErrNoSession", err)
		}
	}

	// ...until it restores the backup with the recovery key.
	var progress int
	res, err := dev.RestoreBackup(ctx, recoveryKey, func(done, total int) { progress = done })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restored: %+v (progress reported up to %d)", *res, progress)
	if wantSessions <= 0 {
		wantSessions = res.Entries // every session the backup holds
	}
	if res.Failed != 0 || res.Imported != wantSessions || res.Entries != wantSessions || progress != res.Entries {
		t.Errorf("restore: %+v, progress %d; want %d imported, no failure", *res, progress, wantSessions)
	}
	got, failed = history()
	for _, err := range failed {
		t.Errorf("after restoring: %v", err)
	}
	for _, b := range bodies {
		d := got[b]
		if d == nil {
			t.Errorf("after restoring: %q not decrypted", b)
			continue
		}
		if d.Provenance != machine.ProvenanceBackup || d.Provenance.Authenticated() {
			t.Errorf("%q: provenance %s, want backup (unauthenticated)", b, d.Provenance)
		}
	}
	t.Logf("new device decrypted %d/%d messages of the history from the backup, %d failures", len(got), len(bodies), len(failed))
}

// TestMachineBackupRestore: erin's machine device creates a server-side
// key backup (botkit.CreateBackup: the machine's SetBackupVersion and
// BackupRequest upload every room key it receives), receives alice's
// messages; a new machine device of erin restores them with the recovery
// key and decrypts the history.
func TestMachineBackupRestore(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ids := map[string]string{}
	for _, u := range []string{"alice", "erin"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = uid
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	newMachine := machineFactory(t, ctx, runCtx, &wg, hs, dir)
	te := newTally("erin")
	alice := newMachine("alice", "alice", true, nil)
	erin := newMachine("erin", "erin", false, func(m botkit.Message) { te.decrypted(m.EventID, m.Body) })
	if err := erin.SyncOnce(ctx, 0); err != nil { // keys uploaded
		t.Fatal(err)
	}
	recoveryKey, err := erin.CreateBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); erin.Run(runCtx) }()

	room, err := alice.CreateRoom(ctx, "history", []string{ids["erin"]})
	if err != nil {
		t.Fatal(err)
	}
	erinJoined := func() bool {
		var resp struct {
			Joined map[string]json.RawMessage `json:"joined"`
		}
		err := erin.Do(ctx, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/joined_members", nil, &resp)
		return err == nil && len(resp.Joined) == 2
	}
	if err := erin.Do(ctx, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", json.RawMessage(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "erin to join", erinJoined)
	var bodies []string
	for i := range 5 {
		b := fmt.Sprintf("history %d", i)
		if _, err := alice.SendText(ctx, room, b, ""); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	waitFor(t, ctx, "erin to decrypt the history", func() bool { return len(te.has(bodies)) == 0 })
	waitFor(t, ctx, "erin's machine to back the room key up", func() bool {
		var resp struct {
			Rooms map[string]struct {
				Sessions map[string]json.RawMessage `json:"sessions"`
			} `json:"rooms"`
		}
		if err := erin.Do(ctx, "GET", "/_matrix/client/v3/room_keys/keys?version=1", nil, &resp); err != nil {
			return false
		}
		return len(resp.Rooms[room].Sessions) >= 1
	})
	erin2 := newMachine("erin", "erin-new-device", false, nil)
	// alice's room key may have been shared more than once (a device list
	// change between shares): every backed-up session must be restored.
	restoreHistory(t, ctx, erin2, room, ids["alice"], bodies, recoveryKey, 0)
}
