package sas_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// This file holds a small in-memory "homeserver" that relays the events of
// several flow engines, with a fake clock, a key directory and hooks to
// tamper with events in transit.

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testKey derives a fixed Ed25519-sized public key from a name. The flow
// treats keys as opaque values, so they need not be valid points.
func testKey(name string) olm.Ed25519PublicKey {
	return olm.Ed25519PublicKey(sha256.Sum256([]byte(name)))
}

type device struct {
	user, id string
	key      olm.Ed25519PublicKey
	m        *sas.Machine
	errs     []error // errors Receive returned
}

func (d *device) String() string { return d.user + "/" + d.id }

// delivered is an event in transit.
type delivered struct {
	from *device
	ev   sas.Event
}

type world struct {
	t       *testing.T
	clock   *clock
	devices []*device
	// directory is what /keys/query returns, per user.
	directory map[string]sas.UserKeys
	masters   map[string]olm.Ed25519PublicKey
	queue     []delivered
	eventSeq  int
	// tamper, if set, may change or drop (return false) an event in
	// transit.
	tamper func(from *device, ev *sas.Event) bool
	// log records every delivered event as "from>to type".
	log []string
}

func newWorld(t *testing.T) *world {
	return &world{
		t:         t,
		clock:     &clock{now: time.Date(2026, 7, 22, 12, 0, 0, 0, time.UTC)},
		directory: map[string]sas.UserKeys{},
		masters:   map[string]olm.Ed25519PublicKey{},
	}
}

type devOpt func(*sas.Config)

func withMethods(m ...string) devOpt { return func(c *sas.Config) { c.Methods = m } }
func withLegacyMAC() devOpt          { return func(c *sas.Config) { c.AllowLegacyMAC = true } }
func untrustedMaster() devOpt        { return func(c *sas.Config) { c.MasterKeyTrusted = false } }
func noMaster() devOpt {
	return func(c *sas.Config) { c.MasterKey, c.MasterKeyTrusted = olm.Ed25519PublicKey{}, false }
}

// addDevice creates a device with its own engine. Users get a master key
// unless noMaster is given for their first device.
func (w *world) addDevice(user, id string, opts ...devOpt) *device {
	d := &device{user: user, id: id, key: testKey("device " + user + id)}
	master, ok := w.masters[user]
	if !ok {
		master = testKey("master " + user)
		w.masters[user] = master
	}
	cfg := sas.Config{
		UserID:           user,
		DeviceID:         id,
		DeviceKey:        d.key,
		MasterKey:        master,
		MasterKeyTrusted: true,
		Keys: func(u string) (sas.UserKeys, bool) {
			k, ok := w.directory[u]
			return k, ok
		},
		Now: w.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := sas.NewMachine(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	d.m = m
	w.devices = append(w.devices, d)
	uk := w.directory[user]
	if uk.Devices == nil {
		uk.Devices = map[string]olm.Ed25519PublicKey{}
	}
	uk.Devices[id] = d.key
	if cfg.MasterKey != (olm.Ed25519PublicKey{}) {
		uk.MasterKey = cfg.MasterKey
		uk.SelfSigningKey = testKey("self-signing " + user)
		uk.UserSigningKey = testKey("user-signing " + user)
	}
	w.directory[user] = uk
	return d
}

func (w *world) send(from *device, evs ...sas.Event) {
	for _, ev := range evs {
		w.queue = append(w.queue, delivered{from, ev})
	}
}

// sendRoom sends an in-room event now and returns its event ID.
func (w *world) sendRoomRequest(from *device, ev sas.Event) string {
	w.eventSeq++
	id := fmt.Sprintf("$event%d", w.eventSeq)
	w.deliverRoom(from, ev, id)
	return id
}

func (w *world) deliverRoom(from *device, ev sas.Event, id string) {
	in := sas.Event{
		Type: ev.Type, Content: ev.Content, Sender: from.user, RoomID: ev.RoomID,
		EventID: id, OriginServerTS: w.clock.Now().UnixMilli(),
	}
	// Everyone in the room sees the event, the sender included.
	for _, d := range w.devices {
		w.receive(from, d, in)
	}
}

func (w *world) receive(from, to *device, in sas.Event) {
	w.log = append(w.log, fmt.Sprintf("%s>%s %s", from, to, strings.TrimPrefix(in.Type, "m.key.verification.")))
	_, out, err := to.m.Receive(in)
	if err != nil {
		to.errs = append(to.errs, err)
	}
	w.send(to, out...)
}

// pump delivers queued events until none are left.
func (w *world) pump() {
	for steps := 0; len(w.queue) > 0; steps++ {
		if steps > 1000 {
			w.t.Fatal("event loop: more than 1000 events")
		}
		d := w.queue[0]
		w.queue = w.queue[1:]
		ev := d.ev
		if w.tamper != nil && !w.tamper(d.from, &ev) {
			continue
		}
		if ev.RoomID != "" {
			w.eventSeq++
			w.deliverRoom(d.from, ev, fmt.Sprintf("$event%d", w.eventSeq))
			continue
		}
		for _, to := range w.devices {
			if to.user == ev.ToUser && (to.id == ev.ToDevice || ev.ToDevice == "*") {
				w.receive(d.from, to, sas.Event{Type: ev.Type, Content: ev.Content, Sender: d.from.user, SenderDevice: d.from.id})
			}
		}
	}
}

func (w *world) must(out []sas.Event, err error) []sas.Event {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// content decodes an event content into a map, for tampering.
func content(t *testing.T, ev sas.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Content, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func setContent(t *testing.T, ev *sas.Event, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ev.Content = b
}

// requestToDevice has from request a verification from to (to-device) and
// returns both Verifications once to has accepted.
func (w *world) requestToDevice(from, to *device) (*sas.Verification, *sas.Verification) {
	w.t.Helper()
	v, out, err := from.m.RequestToDevice(to.user, to.id)
	if err != nil {
		w.t.Fatal(err)
	}
	w.send(from, out...)
	w.pump()
	tv := to.m.Verification("", v.FlowID())
	if tv == nil {
		w.t.Fatalf("%s has no verification for the request; errors %v", to, to.errs)
	}
	w.send(to, w.must(tv.Accept())...)
	w.pump()
	return v, tv
}

// requestInRoom does the same in a room.
func (w *world) requestInRoom(room string, from, to *device) (*sas.Verification, *sas.Verification) {
	w.t.Helper()
	v, ev, err := from.m.RequestInRoom(room, to.user)
	if err != nil {
		w.t.Fatal(err)
	}
	id := w.sendRoomRequest(from, ev)
	if err := v.RequestSent(id); err != nil {
		w.t.Fatal(err)
	}
	tv := to.m.Verification(room, id)
	if tv == nil {
		w.t.Fatalf("%s has no verification for the request; errors %v", to, to.errs)
	}
	w.send(to, w.must(tv.Accept())...)
	w.pump()
	return v, tv
}

// compareAndConfirm checks both sides show the same SAS, confirms on both
// and delivers everything.
func (w *world) compareAndConfirm(da *device, a *sas.Verification, db *device, b *sas.Verification) sas.ShortAuthString {
	w.t.Helper()
	sa, ma, ok := a.ShortAuthString()
	sb, mb, ok2 := b.ShortAuthString()
	if !ok || !ok2 {
		w.t.Fatalf("no SAS: states %s, %s; errors %v %v", a.State(), b.State(), da.errs, db.errs)
	}
	if sa != sb {
		w.t.Fatalf("SAS differ: %v vs %v", sa.Emojis(), sb.Emojis())
	}
	if strings.Join(ma, ",") != strings.Join(mb, ",") {
		w.t.Fatalf("SAS methods differ: %q vs %q", ma, mb)
	}
	w.send(da, w.must(a.Confirm())...)
	w.send(db, w.must(b.Confirm())...)
	w.pump()
	return sa
}
