package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto/verificationhelper"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/examples/bot/botkit"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// TestSASSecondDevice logs the same user in on two machine devices and
// verifies the second from the first by SAS (emojis), over Dendrite's
// to-device messages: each device must then see the other as verified.
// (TestCrossSignedSecondDevice adds cross-signing and the other users.)
func TestSASSecondDevice(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if _, err := hs.register(ctx, "dave", "password-dave"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	open := func(name string) *botkit.Client {
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
			Homeserver: hs.URL, User: "dave", Password: "password-dave", DeviceName: name,
			StoreDir: filepath.Join(dir, name), PickleKey: randBytes(32), AutoConfirmSAS: true,
			Log: slog.New(slog.NewTextHandler(logf, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(runCtx) }()
		return c
	}
	first := open("first")
	second := open("second")

	// Each device must know the other before a verification can pin its key.
	known := func(c *botkit.Client, device string) *machine.Device {
		ds, _ := c.Machine.Devices(ctx, c.UserID())
		for _, d := range ds {
			if d.DeviceID == device {
				return d
			}
		}
		return nil
	}
	waitFor(t, ctx, "the devices to know each other", func() bool {
		return known(first, second.DeviceID()) != nil && known(second, first.DeviceID()) != nil
	})

	v, err := second.RequestVerification(ctx, second.UserID(), first.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the SAS verification to finish", func() bool {
		st := v.State()
		if st == sas.StateCancelled {
			t.Fatalf("verification cancelled: %v", v.Cancellation())
		}
		return st == sas.StateDone
	})
	waitFor(t, ctx, "each device to see the other as verified", func() bool {
		a, b := known(first, second.DeviceID()), known(second, first.DeviceID())
		return a != nil && b != nil && a.Verification == machine.VerificationVerified && b.Verification == machine.VerificationVerified
	})
	t.Logf("%s and %s verified each other by SAS", first.DeviceID(), second.DeviceID())
}

// TestCrossSignedSecondDevice: a second device of a user, verified by SAS
// and cross-signed, is seen as verified by the other users, through the
// machine alone (no signing by hand in the test).
//
//  1. alice (machine), dave's first device (machine) and carol (mautrix-go)
//     each have cross-signing (botkit.BootstrapCrossSigning; mautrix-go's
//     own), and share an encrypted room.
//  2. alice verifies dave's identity by SAS with dave's first device: each
//     side's MAC carries its master key (the machine hands its own to its
//     verifications once it holds the private key), and alice's machine
//     signs dave's master key with her user-signing key. carol does the
//     same with mautrix-go's verification helper.
//  3. dave logs in a second device and verifies it from the first by SAS:
//     the first, holding the self-signing key, signs it, and the second,
//     told dave's master key in the first's MAC, signs that key with its
//     device key.
//  4. alice (machine) then sees the second device as verified, carol
//     (mautrix-go) as cross-signed by a verified identity, and a message
//     from the second device decrypts at both with that trust. Every
//     message is counted: sent, decrypted, failed; zero failures.
func TestCrossSignedSecondDevice(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ids := map[string]string{}
	for _, u := range []string{"alice", "carol", "dave"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = uid
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ta, tc, td := newTally("alice"), newTally("carol"), newTally("dave-2")
	newMachine := func(user, name string, tl *tally) *botkit.Client {
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
				tl.decryptedWith(m.EventID, m.Body, m.Event.Verification.String())
			},
			OnFailure: func(ctx context.Context, c *botkit.Client, roomID, eventID string, err error) {
				tl.failed(eventID + ": " + err.Error())
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	run := func(c *botkit.Client) {
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(runCtx) }()
	}
	carol := newMautrixBot(runCtx, t, hs.URL, "carol", "password-carol", dir, tc)
	defer func() { stop(); wg.Wait(); <-carol.done; carol.helper.Close() }()
	t.Cleanup(func() {
		if t.Failed() {
			tail(t, filepath.Join(dir, "carol-mautrix.log"), 30)
		}
	})

	// 1. Cross-signing for alice, dave (first device) and carol.
	alice := newMachine("alice", "alice", ta)
	first := newMachine("dave", "dave-first", newTally("dave-1"))
	for c, user := range map[*botkit.Client]string{alice: "alice", first: "dave"} {
		if err := c.SyncOnce(ctx, 0); err != nil { // device keys uploaded
			t.Fatal(err)
		}
		if err := c.BootstrapCrossSigning(ctx, "password-"+user); err != nil {
			t.Fatal(err)
		}
		run(c)
	}
	cm := carol.helper.Machine()
	if _, _, err := cm.GenerateAndUploadCrossSigningKeysWithPassword(ctx, "password-carol", ""); err != nil {
		t.Fatal(err)
	}
	if err := cm.SignOwnDevice(ctx, cm.OwnIdentity()); err != nil {
		t.Fatal(err)
	}
	if err := cm.SignOwnMasterKey(ctx); err != nil {
		t.Fatal(err)
	}
	room, err := alice.CreateRoom(ctx, "trust", []string{ids["dave"], ids["carol"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Do(ctx, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", json.RawMessage(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "carol to join", func() bool {
		m, err := alice.JoinedMembers(ctx, room)
		return err == nil && len(m) == 3
	})
	known := func(c *botkit.Client, user, device string) *machine.Device {
		ds, _ := c.Machine.Devices(ctx, user)
		for _, d := range ds {
			if d.DeviceID == device {
				return d
			}
		}
		return nil
	}
	waitFor(t, ctx, "alice and dave to know each other's cross-signed devices", func() bool {
		a, d := known(alice, ids["dave"], first.DeviceID()), known(first, ids["alice"], alice.DeviceID())
		return a != nil && d != nil && a.Verification == machine.VerificationUnverifiedIdentity && d.Verification == machine.VerificationUnverifiedIdentity
	})

	// 2. alice and carol verify dave's identity by SAS with his first device.
	v, err := alice.RequestVerification(ctx, ids["dave"], first.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "alice's SAS verification of dave to finish", func() bool {
		if v.State() == sas.StateCancelled {
			t.Fatalf("verification cancelled: %v", v.Cancellation())
		}
		return v.State() == sas.StateDone
	})
	if res, _ := v.Result(); res.MasterKey == nil {
		t.Fatalf("alice's verification of dave did not verify his master key: %+v", res)
	}
	mautrixTrust := func(device string) id.TrustState {
		devs, err := cm.FetchKeys(ctx, []id.UserID{id.UserID(ids["dave"])}, true)
		if err != nil {
			t.Logf("carol: fetch keys: %v", err)
		}
		d := devs[id.UserID(ids["dave"])][id.DeviceID(device)]
		if d == nil {
			return id.TrustStateUnset
		}
		ts, err := cm.ResolveTrustContext(ctx, d)
		if err != nil {
			t.Logf("carol: resolve trust: %v", err)
		}
		return ts
	}
	if ts := mautrixTrust(first.DeviceID()); ts != id.TrustStateCrossSignedTOFU {
		t.Errorf("before her verification, carol sees dave's first device as %v", ts)
	}
	// dave's first device asks carol to verify, and starts SAS: carol's
	// side then confirms before dave's MAC arrives. (mautrix-go v0.33's
	// helper, confirming after the other side's MAC came in, checks the
	// other user's master key against its own and fails: its ConfirmSAS
	// passes our own master key to trustKeysAfterMACCheck.)
	cb := &sasCallbacks{accept: true}
	vh := verificationhelper.NewVerificationHelper(carol.cli, cm, verificationhelper.NewInMemoryVerificationStore(), cb, false, false, true)
	cb.vh = vh
	if err := vh.Init(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "dave to know carol's device", func() bool {
		return known(first, ids["carol"], cm.OwnIdentity().DeviceID.String()) != nil
	})
	if _, err := first.RequestVerification(ctx, ids["carol"], cm.OwnIdentity().DeviceID.String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "carol's (mautrix-go) SAS verification of dave to finish", func() bool {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if cb.cancel != "" {
			t.Fatalf("carol's verification cancelled: %s", cb.cancel)
		}
		return cb.done
	})
	waitFor(t, ctx, "carol to trust dave's identity (her user-signing key signed it)", func() bool {
		ok, err := cm.IsUserTrusted(ctx, id.UserID(ids["dave"]))
		return err == nil && ok
	})

	// 3. dave's second device, verified by SAS from the first.
	second := newMachine("dave", "dave-second", td)
	run(second)
	waitFor(t, ctx, "everyone to know dave's second device", func() bool {
		return known(first, ids["dave"], second.DeviceID()) != nil && known(second, ids["dave"], first.DeviceID()) != nil &&
			known(alice, ids["dave"], second.DeviceID()) != nil
	})
	if v := known(alice, ids["dave"], second.DeviceID()).Verification; v != machine.VerificationUnsigned {
		t.Errorf("before its verification, alice sees dave's second device as %v, want %v", v, machine.VerificationUnsigned)
	}
	if ts := mautrixTrust(second.DeviceID()); ts >= id.TrustStateCrossSignedUntrusted {
		t.Errorf("before its verification, carol sees dave's second device as %v", ts)
	}
	v2, err := second.RequestVerification(ctx, ids["dave"], first.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the SAS verification of dave's second device to finish", func() bool {
		if v2.State() == sas.StateCancelled {
			t.Fatalf("verification cancelled: %v", v2.Cancellation())
		}
		return v2.State() == sas.StateDone
	})
	if res, _ := v2.Result(); res.MasterKey == nil {
		t.Errorf("dave's second device was not told dave's master key: %+v", res)
	}

	// 4. The others see it verified, and decrypt its message with that trust.
	waitFor(t, ctx, "alice (machine) to see dave's second device verified", func() bool {
		d := known(alice, ids["dave"], second.DeviceID())
		return d != nil && d.Verification == machine.VerificationVerified
	})
	var ts id.TrustState
	waitFor(t, ctx, "carol (mautrix-go) to see dave's second device cross-signed and verified", func() bool {
		ts = mautrixTrust(second.DeviceID())
		return ts == id.TrustStateCrossSignedVerified
	})
	bodies := []string{"from dave's second device, verified", "and again", "and a third time"}
	for _, b := range bodies {
		if _, err := second.SendText(ctx, room, b, ""); err != nil {
			t.Fatal(err)
		}
		td.sent++
	}
	waitFor(t, ctx, "alice and carol to decrypt dave's message", func() bool {
		return len(ta.has(bodies))+len(tc.has(bodies)) == 0
	})
	time.Sleep(time.Second) // let late failures show
	for _, b := range bodies {
		if got := ta.trustOf(b); got != machine.VerificationVerified.String() {
			t.Errorf("alice decrypted %q from a sender %q, want %q", b, got, machine.VerificationVerified)
		}
		if got := tc.trustOf(b); got != id.TrustStateCrossSignedVerified.String() {
			t.Errorf("carol decrypted %q from a sender %q, want %q", b, got, id.TrustStateCrossSignedVerified)
		}
	}
	t.Log("\n" + td.summary() + "\n" + ta.summary() + "\n" + tc.summary())
	for _, tl := range []*tally{ta, tc, td} {
		for _, f := range tl.failures {
			t.Errorf("%s: failure: %s", tl.name, f)
		}
	}
	t.Logf("dave's second device %s: %v for alice (machine), %v for carol (mautrix-go)",
		second.DeviceID(), known(alice, ids["dave"], second.DeviceID()).Verification, ts)
}

// TestInRoomVerificationWithEchoBot: alice (machine) verifies the echo bot
// (examples/bot, run with -auto-confirm-sas, logged in with -token) in their encrypted room, as
// Element verifies another user: request, ready, start, keys and MACs are
// encrypted room events. Both must end done, alice with bob's device
// verified.
func TestInRoomVerificationWithEchoBot(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ids := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = uid
	}
	tb := newTally("bob")
	// The echo bot logs in with an access token this time (-token).
	var login struct {
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if err := httpJSON(ctx, "POST", hs.URL+"/_matrix/client/v3/login", map[string]any{
		"type": "m.login.password", "identifier": map[string]string{"type": "m.id.user", "user": "bob"}, "password": "password-bob",
	}, &login); err != nil {
		t.Fatal(err)
	}
	bob := &echoBot{t: t, bin: buildBot(t), hs: hs.URL, user: "bob", token: login.AccessToken, store: filepath.Join(dir, "bob-store"), tally: tb, echoes: map[string][]string{}}
	bob.start()
	if bob.devices[0] != login.DeviceID {
		t.Fatalf("the bot started with the token runs device %q, want the token's %q", bob.devices[0], login.DeviceID)
	}
	t.Cleanup(func() {
		select {
		case <-bob.done:
		default:
			bob.kill(syscall.SIGTERM)
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	alice := machineFactory(t, ctx, runCtx, &wg, hs, dir)("alice", "alice", true, nil)
	room, err := alice.CreateRoom(ctx, "verify", []string{ids["bob"]})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "bob to join", func() bool {
		m, err := alice.JoinedMembers(ctx, room)
		return err == nil && len(m) == 2
	})
	v, err := alice.RequestVerificationInRoom(ctx, room, ids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the in-room SAS verification to finish", func() bool {
		if v.State() == sas.StateCancelled {
			t.Fatalf("verification cancelled: %v", v.Cancellation())
		}
		return v.State() == sas.StateDone
	})
	res, _ := v.Result()
	if res.DeviceKey == nil {
		t.Fatalf("verification done without the device key: %+v", res)
	}
	waitFor(t, ctx, "alice to see bob's device as verified", func() bool {
		ds, _ := alice.Machine.Devices(ctx, ids["bob"])
		return len(ds) == 1 && ds[0].Verification == machine.VerificationVerified
	})
	waitFor(t, ctx, "the echo bot to log the verification done", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "bob.log"))
		return strings.Contains(string(b), `"msg":"verification done"`)
	})
	// Both sides showed the same 7 emojis.
	b, _ := os.ReadFile(filepath.Join(dir, "bob.log"))
	a, _ := os.ReadFile(filepath.Join(dir, "alice.log"))
	var emojis string
	for _, l := range strings.Split(string(b), "\n") {
		var line struct{ Msg, Emojis string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "compare these emojis" {
			emojis = line.Emojis
		}
	}
	if emojis == "" || !strings.Contains(string(a), emojis) {
		t.Errorf("the echo bot showed %q; alice's log does not show the same emojis", emojis)
	}
	t.Logf("both sides compared: %s", emojis)
}
