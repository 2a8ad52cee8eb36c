package machine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

var ctx = context.Background()

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// client is one device talking to the fake homeserver.
type client struct {
	t          testing.TB
	hs         *fakehs.Server
	user, dev  string
	store      machine.Store
	key        []byte
	clock      *clock
	m          *machine.Machine
	opts       machine.Options
	lastResult *machine.SyncResult
}

func pickleKey(seed byte) []byte {
	k := make([]byte, machine.PickleKeySize)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func newClient(t testing.TB, hs *fakehs.Server, user, dev string, clk *clock) *client {
	t.Helper()
	c := &client{t: t, hs: hs, user: user, dev: dev, store: memstore.New(), key: pickleKey(byte(len(user) + len(dev))), clock: clk}
	c.opts = machine.Options{UserID: user, DeviceID: dev, Store: c.store, PickleKey: c.key, Clock: clk.now}
	c.open()
	c.flush()
	return c
}

// open (re)opens the machine over the client's store.
func (c *client) open() {
	c.t.Helper()
	m, err := machine.New(ctx, c.opts)
	if err != nil {
		c.t.Fatalf("%s: New: %v", c.user, err)
	}
	c.m = m
}

// restart drops the machine and opens a new one over the same store.
func (c *client) restart() {
	c.t.Helper()
	c.m.Close()
	c.open()
}

func (c *client) send(r machine.Request) {
	c.t.Helper()
	body, err := c.hs.Do(c.user, c.dev, r)
	if err != nil {
		c.t.Fatalf("%s: %s %s: %v", c.user, r.Method, r.Path, err)
	}
	if err := c.m.MarkRequestSent(ctx, r.ID, body); err != nil {
		c.t.Fatalf("%s: MarkRequestSent(%s): %v", c.user, r.Kind, err)
	}
}

// flush sends outgoing requests until there are none.
func (c *client) flush() {
	c.t.Helper()
	for i := 0; ; i++ {
		reqs, err := c.m.OutgoingRequests(ctx)
		if err != nil {
			c.t.Fatalf("%s: OutgoingRequests: %v", c.user, err)
		}
		if len(reqs) == 0 {
			return
		}
		if i > 20 {
			c.t.Fatalf("%s: outgoing requests never end: %v", c.user, kinds(reqs))
		}
		for _, r := range reqs {
			c.send(r)
		}
	}
}

func kinds(rs []machine.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Kind.String())
	}
	return out
}

// sync receives what the server has for the device, then flushes.
func (c *client) sync() *machine.SyncResult {
	c.t.Helper()
	res, err := c.m.ReceiveSync(ctx, c.hs.Sync(c.user, c.dev))
	if err != nil {
		c.t.Fatalf("%s: ReceiveSync: %v", c.user, err)
	}
	for _, ev := range res.ToDevice {
		if ev.Err != nil {
			c.t.Logf("%s: to-device %s from %s refused: %v", c.user, ev.Type, ev.Sender, ev.Err)
		}
	}
	c.lastResult = res
	c.flush()
	return res
}

// share shares the room key until nothing is left to send.
func (c *client) share(room string, members ...string) {
	c.t.Helper()
	for i := 0; ; i++ {
		reqs, err := c.m.ShareRoomKey(ctx, room, members)
		if err != nil {
			c.t.Fatalf("%s: ShareRoomKey: %v", c.user, err)
		}
		if len(reqs) == 0 {
			return
		}
		if i > 20 {
			c.t.Fatalf("%s: sharing never ends: %v", c.user, kinds(reqs))
		}
		for _, r := range reqs {
			c.send(r)
		}
	}
}

func (c *client) encrypt(room string, content string) json.RawMessage {
	c.t.Helper()
	ct, err := c.m.EncryptRoomEvent(ctx, room, "m.room.message", json.RawMessage(content))
	if err != nil {
		c.t.Fatalf("%s: EncryptRoomEvent: %v", c.user, err)
	}
	return ct
}

func (c *client) setEncrypted(room string) {
	c.t.Helper()
	if err := c.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
		c.t.Fatal(err)
	}
}

var eventSeq atomic.Int64

// roomEvent wraps encrypted content as the server would deliver it.
func roomEvent(room, sender string, content json.RawMessage) json.RawMessage {
	n := eventSeq.Add(1)
	b, _ := json.Marshal(map[string]any{
		"type": "m.room.encrypted", "sender": sender, "room_id": room,
		"event_id": fmt.Sprintf("$event%d", n), "origin_server_ts": 1700000000000 + n, "content": content,
	})
	return b
}

func (c *client) decrypt(room string, ev json.RawMessage) *machine.DecryptedEvent {
	c.t.Helper()
	d, err := c.m.DecryptRoomEvent(ctx, room, ev)
	if err != nil {
		c.t.Fatalf("%s: DecryptRoomEvent: %v", c.user, err)
	}
	return d
}

// world is a fake homeserver with Alice and Bob in an encrypted room.
type world struct {
	hs         *fakehs.Server
	clock      *clock
	alice, bob *client
	room       string
}

func newWorld(t testing.TB) *world {
	hs := fakehs.New()
	clk := newClock()
	w := &world{hs: hs, clock: clk, room: "!room:x"}
	w.alice = newClient(t, hs, "@alice:x", "ALICE", clk)
	w.bob = newClient(t, hs, "@bob:x", "BOB", clk)
	w.alice.setEncrypted(w.room)
	w.bob.setEncrypted(w.room)
	return w
}
