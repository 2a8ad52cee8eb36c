package e2e

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
