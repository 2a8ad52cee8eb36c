package sqlstore_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/souverain/e2ee/machine"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

func pickleKey(seed byte) []byte {
	k := make([]byte, machine.PickleKeySize)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// TestScenario: Alice and Bob, each a machine over its own store, exchange
// Olm and Megolm through the relay, restart, and keep every key and replay
// record.
func TestScenario(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			srv := httptest.NewServer(newRelay())
			defer srv.Close()
			room := "!room:x"
			mk := func(user, dev string, seed byte) *peer {
				s := b.open(t)
				t.Cleanup(func() { s.Close() })
				p := &peer{t: t, base: srv.URL, user: user, dev: dev,
					opts: machine.Options{UserID: user, DeviceID: dev, Store: s, PickleKey: pickleKey(seed)}}
				p.open()
				p.flush()
				if err := p.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
					t.Fatal(err)
				}
				return p
			}
			a := mk("@alice:x", "ALICE", 1)
			bob := mk("@bob:x", "BOB", 2)
			a.sync()
			bob.sync()

			a.share(room, a.user, bob.user)
			a.post(room, "hello bob")
			res := bob.sync()
			if len(res.RoomKeys) != 1 || res.RoomKeys[0].Provenance != machine.ProvenanceDirect {
				t.Fatalf("room keys: %+v", res.RoomKeys)
			}
			// Bob answers over Olm and his own Megolm session.
			bob.share(room, a.user, bob.user)
			bob.post(room, "hi alice")
			a.sync()

			// Both restart over the same stores.
			a.m.Close()
			bob.m.Close()
			a.open()
			bob.open()
			a.post(room, "after restart")

			for _, p := range []*peer{a, bob} {
				for _, ev := range p.timeline() {
					d, err := p.m.DecryptRoomEvent(ctx, room, ev.Event)
					if err != nil {
						t.Fatalf("%s: decrypt %s: %v", p.user, ev.EventID, err)
					}
					if d.Sender != ev.Sender || !strings.Contains(string(d.Content), "body") {
						t.Errorf("%s: decrypted %s from %s", p.user, d.Content, d.Sender)
					}
				}
			}
			// A replayed index is refused, also after a restart.
			ev := bob.timeline()[0]
			var orig map[string]any
			json.Unmarshal(ev.Event, &orig)
			orig["event_id"] = "$forged"
			forged, _ := json.Marshal(orig)
			bob.m.Close()
			bob.open()
			if _, err := bob.m.DecryptRoomEvent(ctx, room, forged); !errors.Is(err, machine.ErrReplay) {
				t.Errorf("replayed index after restart: %v, want ErrReplay", err)
			}
		})
	}
}

// TestWrongPickleKey: a machine opened over a store with another pickle
// key fails in machine.New with ErrBadPickleKey.
func TestWrongPickleKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crypto.db")
	s, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	opts := machine.Options{UserID: "@a:x", DeviceID: "D", Store: s, PickleKey: pickleKey(1)}
	m, err := machine.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	s.Close()

	s, err = sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts.Store = s
	opts.PickleKey = pickleKey(2)
	if _, err := machine.New(ctx, opts); !errors.Is(err, machine.ErrBadPickleKey) {
		t.Fatalf("machine.New with another pickle key: %v, want ErrBadPickleKey", err)
	}
	opts.PickleKey = pickleKey(1)
	m, err = machine.New(ctx, opts)
	if err != nil {
		t.Fatalf("machine.New with the right key after a wrong one: %v", err)
	}
	m.Close()
}
