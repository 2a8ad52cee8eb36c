package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/verificationhelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sasCallbacks drives mautrix-go's verification helper like a user who
// starts SAS once ready and confirms the emojis shown.
type sasCallbacks struct {
	vh      *verificationhelper.VerificationHelper
	mu      sync.Mutex
	emojis  string
	done    bool
	cancel  string
	started bool
	// accept makes the callbacks accept requests from others and let the
	// requester start SAS (instead of starting it themselves).
	accept bool
}

func (c *sasCallbacks) VerificationRequested(ctx context.Context, txnID id.VerificationTransactionID, from id.UserID, fromDevice id.DeviceID) {
	if c.accept {
		go c.vh.AcceptVerification(context.WithoutCancel(ctx), txnID)
	}
}

func (c *sasCallbacks) VerificationReady(ctx context.Context, txnID id.VerificationTransactionID, otherDeviceID id.DeviceID, supportsSAS, supportsScanQRCode bool, qrCode *verificationhelper.QRCode) {
	if !c.accept {
		go c.vh.StartSAS(context.WithoutCancel(ctx), txnID)
	}
}

func (c *sasCallbacks) VerificationCancelled(ctx context.Context, txnID id.VerificationTransactionID, code event.VerificationCancelCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel = string(code) + ": " + reason
}

func (c *sasCallbacks) VerificationDone(ctx context.Context, txnID id.VerificationTransactionID, method event.VerificationMethod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
}

func (c *sasCallbacks) ShowSAS(ctx context.Context, txnID id.VerificationTransactionID, emojis []rune, descriptions []string, decimals []int) {
	c.mu.Lock()
	c.emojis = strings.Join(descriptions, ", ")
	c.mu.Unlock()
	go c.vh.ConfirmSAS(context.WithoutCancel(ctx), txnID)
}

// TestMautrixVerifiesEchoBot: carol, on mautrix-go v0.33's own verification
// helper (an independent SAS implementation), verifies the echo bot
// (examples/bot subprocess) by to-device messages. Both end done and show
// the same emojis.
func TestMautrixVerifiesEchoBot(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ids := map[string]string{}
	for _, u := range []string{"carol", "bob"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatal(err)
		}
		ids[u] = uid
	}
	bob := &echoBot{t: t, bin: buildBot(t), hs: hs.URL, user: "bob", pass: "password-bob", store: filepath.Join(dir, "bob-store"), tally: newTally("bob"), echoes: map[string][]string{}}
	bob.start()
	t.Cleanup(func() {
		select {
		case <-bob.done:
		default:
			bob.kill(syscall.SIGTERM)
		}
	})
	runCtx, stop := context.WithCancel(ctx)
	carol := newMautrixBot(runCtx, t, hs.URL, "carol", "password-carol", dir, newTally("carol"))
	defer func() { stop(); <-carol.done; carol.helper.Close() }()

	cb := &sasCallbacks{}
	vh := verificationhelper.NewVerificationHelper(carol.cli, carol.helper.Machine(), verificationhelper.NewInMemoryVerificationStore(), cb, false, false, true)
	cb.vh = vh
	if err := vh.Init(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := carol.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Invite: []id.UserID{id.UserID(ids["bob"])},
		InitialState: []*event.Event{{
			Type: event.StateEncryption, StateKey: new(string),
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	waitFor(t, ctx, "bob to join", func() bool {
		m, err := carol.cli.JoinedMembers(ctx, room)
		return err == nil && len(m.Joined) == 2
	})
	// To-device: mautrix-go v0.33.0's StartInRoomVerification encrypts the
	// request itself and then SendMessageEvent encrypts it again when the
	// client has Crypto set (the receiver decrypts an m.room.message whose
	// content is another encrypted payload), so the in-room path cannot be
	// used from a cryptohelper client.
	if _, err := vh.StartVerification(ctx, id.UserID(ids["bob"])); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			tail(t, filepath.Join(dir, "bob.log"), 25)
			tail(t, filepath.Join(dir, "carol-mautrix.log"), 25)
		}
	})
	vctx, vcancel := context.WithTimeout(ctx, 40*time.Second)
	defer vcancel()
	waitFor(t, vctx, "mautrix-go's verification to finish", func() bool {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		if cb.cancel != "" {
			t.Fatalf("cancelled: %s", cb.cancel)
		}
		return cb.done
	})
	waitFor(t, ctx, "the echo bot to log the verification done", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "bob.log"))
		return strings.Contains(string(b), `"msg":"verification done"`)
	})
	b, _ := os.ReadFile(filepath.Join(dir, "bob.log"))
	var emojis string
	for _, l := range strings.Split(string(b), "\n") {
		var line struct{ Msg, Emojis string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "compare these emojis" {
			emojis = line.Emojis
		}
	}
	cb.mu.Lock()
	mautrixEmojis := cb.emojis
	cb.mu.Unlock()
	t.Logf("echo bot: %s\nmautrix-go: %s", emojis, mautrixEmojis)
	var names []string
	for _, e := range strings.Split(emojis, ", ") {
		if _, name, ok := strings.Cut(e, " "); ok {
			names = append(names, name)
		}
	}
	if got := strings.Join(names, ", "); emojis == "" || got != mautrixEmojis {
		t.Errorf("the echo bot showed %q, mautrix-go %q", got, mautrixEmojis)
	}
}
