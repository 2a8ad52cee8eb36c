package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
)

// testDehydrated runs a dehydrated device (MSC3814) over the store: Alice
// bootstraps cross-signing and uploads a dehydrated device, her only device
// goes away, Bob writes in three rooms, and Alice's new device (on the
// store under test) rehydrates the device over several pages and, after a
// restart, reads Bob's messages.
func testDehydrated(t *testing.T, open func(t *testing.T) machine.Store) {
	stores := []machine.Store{open(t), open(t), open(t)}
	for _, s := range stores {
		defer s.Close()
	}
	runDehydrated(t, stores)
}

// testDehydratedFailAtEveryWrite runs testDehydrated's scenario with a
// failure of the store injected at one write after the other (every 7th
// write, or every 29th in -short mode), each followed by a restart; a
// rehydration cut short starts again from the server's events.
func testDehydratedFailAtEveryWrite(t *testing.T, open func(t *testing.T) machine.Store) {
	failAtEveryWrite(t, open, 3, 7, 29, runDehydrated)
}

func runDehydrated(t *testing.T, stores []machine.Store) {
	hs := fakehs.New()
	hs.DehydratedPageSize = 2
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	a := newPeer(t, hs, stores[0], "@alice:x", "ALICE", now)
	a.flush()
	b := newPeer(t, hs, stores[2], "@bob:x", "BOB", now)
	b.flush()

	var bs *machine.CrossSigningBootstrap
	a.retry(func() (err error) {
		bs, err = a.m.BootstrapCrossSigning(bg, machine.BootstrapOptions{})
		return err
	})
	if _, err := hs.Do(a.user, a.dev, machine.Request{Method: "POST", Path: "/_matrix/client/v3/keys/device_signing/upload", Body: bs.DeviceSigningUpload}); err != nil {
		t.Fatal(err)
	}
	a.retry(func() error { return a.m.ConfirmCrossSigningUpload(bg) })
	a.flush()
	var d *machine.DehydratedDevice
	a.retry(func() (err error) {
		d, err = a.m.CreateDehydratedDevice(bg, nil)
		return err
	})
	if _, err := hs.Do(a.user, a.dev, d.Request); err != nil {
		t.Fatal(err)
	}
	var key string
	a.retry(func() (err error) {
		key, _, err = a.m.Secret(bg, dehydrated.SecretName)
		return err
	})
	hs.DeleteDevice(a.user, a.dev)

	const rooms = 3
	var events []string
	var n int
	for i := range rooms {
		room := fmt.Sprintf("!away%d:x", i)
		b.retry(func() error {
			return b.m.SetRoomEncryption(bg, room, []byte(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
		})
		events = append(events, string(b.say(room, &n, fmt.Sprint("away ", i), a.user, b.user)))
	}

	a2 := newPeer(t, hs, stores[1], a.user, "ALICE2", now)
	a2.flush()
	a2.retry(func() error { return a2.m.SetSecret(bg, dehydrated.SecretName, key) })
	keys := 0
	a2.retry(func() error {
		keys = 0
		body, err := hs.Do(a.user, a2.dev, machine.GetDehydratedDeviceRequest())
		if err != nil {
			t.Fatal(err)
		}
		r, err := a2.m.Rehydrate(bg, nil, body)
		if err != nil {
			return err
		}
		defer r.Close()
		for req := r.NextRequest(); req != nil; req = r.NextRequest() {
			page, err := hs.Do(a.user, a2.dev, *req)
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.ReceiveEvents(bg, page)
			if err != nil {
				return err
			}
			if len(res.Failed) != 0 {
				t.Errorf("rehydration refused %v", res.Failed)
			}
			keys += len(res.RoomKeys)
		}
		return nil
	})
	if keys != rooms {
		t.Fatalf("%d room keys rehydrated, want %d", keys, rooms)
	}
	a2.restart()
	for i, ev := range events {
		got := a2.read(fmt.Sprintf("!away%d:x", i), []byte(ev))
		if !strings.Contains(string(got.Content), fmt.Sprint("away ", i)) || got.Provenance != machine.ProvenanceDirect {
			t.Errorf("message %d: %s (%s)", i, got.Content, got.Provenance)
		}
	}
}
