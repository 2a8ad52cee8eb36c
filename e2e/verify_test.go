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

	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/examples/bot/botkit"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// TestSASSecondDevice logs the same user in on two machine devices and
// verifies the second from the first by SAS (emojis), over Dendrite's
// to-device messages: each device must then see the other as verified.
//
// Cross-signing the new device (so that other users see it as verified)
// is not done: the machine has no cross-signing bootstrap yet.
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

// TestCrossSignedSecondDevice: dave bootstraps cross-signing on his first
// machine device (botkit.BootstrapCrossSigning: keys generated with
// crossign, kept as machine secrets, uploaded with password UIA, this
// device signed), then logs in a second device and verifies it from the
// first by SAS. The first device, holding the self-signing key, signs the
// second (the machine queues /keys/signatures/upload when the verification
// is done). Then the others see the second device cross-signed by dave's
// identity: alice (machine) as "unverified identity" rather than
// "unsigned", carol (mautrix-go, an independent check of the signatures
// on the wire) as cross-signed.
//
// Seeing it as *verified* would need alice and carol to verify dave's
// identity, which a machine device cannot offer yet: its SAS never MACs
// the master key (sas.Config.MasterKey is not set from the held keys).
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
	newMachine := machineFactory(t, ctx, runCtx, &wg, hs, dir)
	tc := newTally("carol")
	carol := newMautrixBot(runCtx, t, hs.URL, "carol", "password-carol", dir, tc)
	defer func() { stop(); wg.Wait(); <-carol.done; carol.helper.Close() }()

	alice := newMachine("alice", "alice", true, nil)
	first := newMachine("dave", "dave-first", false, nil)
	if err := first.SyncOnce(ctx, 0); err != nil { // device keys uploaded
		t.Fatal(err)
	}
	if err := first.BootstrapCrossSigning(ctx, "password-dave"); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); first.Run(runCtx) }()

	// alice shares a room with dave, so that she tracks his devices.
	room, err := alice.CreateRoom(ctx, "trust", []string{ids["dave"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Do(ctx, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", json.RawMessage(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	second := newMachine("dave", "dave-second", true, nil)
	known := func(c *botkit.Client, user, device string) *machine.Device {
		ds, _ := c.Machine.Devices(ctx, user)
		for _, d := range ds {
			if d.DeviceID == device {
				return d
			}
		}
		return nil
	}
	waitFor(t, ctx, "alice and dave's devices to know each other", func() bool {
		return known(first, ids["dave"], second.DeviceID()) != nil && known(second, ids["dave"], first.DeviceID()) != nil &&
			known(alice, ids["dave"], second.DeviceID()) != nil
	})
	if v := known(alice, ids["dave"], first.DeviceID()).Verification; v != machine.VerificationUnverifiedIdentity {
		t.Errorf("alice sees dave's first device (self-signed at bootstrap) as %v, want %v", v, machine.VerificationUnverifiedIdentity)
	}
	if v := known(alice, ids["dave"], second.DeviceID()).Verification; v != machine.VerificationUnsigned {
		t.Errorf("before the verification, alice sees dave's second device as %v, want %v", v, machine.VerificationUnsigned)
	}
	mautrixTrust := func(device string) id.TrustState {
		devs, err := carol.helper.Machine().FetchKeys(ctx, []id.UserID{id.UserID(ids["dave"])}, true)
		if err != nil {
			t.Logf("carol: fetch keys: %v", err)
		}
		d := devs[id.UserID(ids["dave"])][id.DeviceID(device)]
		if d == nil {
			return id.TrustStateUnset
		}
		ts, err := carol.helper.Machine().ResolveTrustContext(ctx, d)
		if err != nil {
			t.Logf("carol: resolve trust: %v", err)
		}
		return ts
	}
	if ts := mautrixTrust(second.DeviceID()); ts >= id.TrustStateCrossSignedUntrusted {
		t.Errorf("before the verification, carol sees dave's second device as %v", ts)
	}

	v, err := second.RequestVerification(ctx, ids["dave"], first.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the SAS verification to finish", func() bool {
		if v.State() == sas.StateCancelled {
			t.Fatalf("verification cancelled: %v", v.Cancellation())
		}
		return v.State() == sas.StateDone
	})
	waitFor(t, ctx, "dave's first device to see the second as verified", func() bool {
		d := known(first, ids["dave"], second.DeviceID())
		return d != nil && d.Verification == machine.VerificationVerified
	})
	waitFor(t, ctx, "alice to see dave's second device cross-signed", func() bool {
		d := known(alice, ids["dave"], second.DeviceID())
		return d != nil && d.Verification == machine.VerificationUnverifiedIdentity
	})
	var ts id.TrustState
	waitFor(t, ctx, "carol (mautrix-go) to see dave's second device cross-signed", func() bool {
		ts = mautrixTrust(second.DeviceID())
		return ts >= id.TrustStateCrossSignedUntrusted
	})
	t.Logf("dave's second device %s: verified for dave's first device, %v for alice (machine), %v for carol (mautrix-go)",
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
