package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
)

// RunMachine runs conversations between two Machines over a fake
// homeserver, each Machine on a store from open (a new, empty one per
// call): Olm and Megolm both ways, restarts (a new Machine over the same
// store), replay refusal after a restart, rotation, and a failure injected
// at every write of the store followed by a restart, after which every
// message must still decrypt and no Megolm index be used twice. Trust runs
// cross-signing, secret storage and key backup with restarts, also with a
// failure injected at every 11th write. Dehydrated rehydrates a dehydrated
// device into the store over several pages, also with a failure injected
// at every 7th write.
func RunMachine(t *testing.T, open func(t *testing.T) machine.Store) {
	t.Run("Conversation", func(t *testing.T) { testConversation(t, open) })
	t.Run("Trust", func(t *testing.T) { testTrust(t, open) })
	t.Run("TrustFailAtEveryWrite", func(t *testing.T) { testTrustFailAtEveryWrite(t, open) })
	t.Run("FailAtEveryWrite", func(t *testing.T) { testFailAtEveryWrite(t, open) })
	t.Run("Dehydrated", func(t *testing.T) { testDehydrated(t, open) })
	t.Run("DehydratedFailAtEveryWrite", func(t *testing.T) { testDehydratedFailAtEveryWrite(t, open) })
}

var bg = context.Background()

type peer struct {
	t         *testing.T
	hs        *fakehs.Server
	opts      machine.Options
	m         *machine.Machine
	user, dev string
}

func newPeer(t *testing.T, hs *fakehs.Server, s machine.Store, user, dev string, now func() time.Time) *peer {
	key := make([]byte, machine.PickleKeySize)
	key[0] = byte(len(user))
	p := &peer{t: t, hs: hs, user: user, dev: dev,
		opts: machine.Options{UserID: user, DeviceID: dev, Store: s, PickleKey: key, Clock: now}}
	p.retry(func() error { return nil })
	return p
}

// retry runs step; after a failure of the store it starts a new Machine over
// the same store (a restart) and runs step again.
func (p *peer) retry(step func() error) {
	p.t.Helper()
	for i := 0; ; i++ {
		if p.m == nil {
			m, err := machine.New(bg, p.opts)
			if err != nil {
				if errors.Is(err, errInjected) && i < 10 {
					continue
				}
				p.t.Fatalf("%s: New: %v", p.user, err)
			}
			p.m = m
		}
		err := step()
		if err == nil {
			return
		}
		if !errors.Is(err, errInjected) || i >= 10 {
			p.t.Fatalf("%s: %v", p.user, err)
		}
		p.restart()
	}
}

func (p *peer) restart() {
	if p.m != nil {
		p.m.Close()
	}
	p.m = nil
}

func (p *peer) send(reqs []machine.Request) error {
	for _, r := range reqs {
		body, err := p.hs.Do(p.user, p.dev, r)
		if err != nil {
			p.t.Fatalf("%s: the server refused %s: %v", p.user, r.Kind, err)
		}
		if err := p.m.MarkRequestSent(bg, r.ID, body); err != nil {
			return err
		}
	}
	return nil
}

func (p *peer) flush() {
	p.t.Helper()
	for i := 0; i < 20; i++ {
		var reqs []machine.Request
		p.retry(func() error {
			var err error
			if reqs, err = p.m.OutgoingRequests(bg); err != nil {
				return err
			}
			return p.send(reqs)
		})
		if len(reqs) == 0 {
			return
		}
	}
	p.t.Fatalf("%s: requests never end", p.user)
}

func (p *peer) sync() {
	p.t.Helper()
	sc := p.hs.Sync(p.user, p.dev)
	p.retry(func() error {
		res, err := p.m.ReceiveSync(bg, sc)
		if err == nil {
			for _, ev := range res.ToDevice {
				if ev.Err != nil {
					p.t.Errorf("%s: %s refused: %v", p.user, ev.Type, ev.Err)
				}
			}
		}
		return err
	})
	p.flush()
}

func (p *peer) share(room string, members ...string) {
	p.t.Helper()
	for i := 0; i < 20; i++ {
		var reqs []machine.Request
		p.retry(func() error {
			var err error
			if reqs, err = p.m.ShareRoomKey(bg, room, members); err != nil {
				return err
			}
			return p.send(reqs)
		})
		if len(reqs) == 0 {
			return
		}
	}
	p.t.Fatalf("%s: sharing never ends", p.user)
}

// say shares if needed and encrypts body, returning the room event.
func (p *peer) say(room string, n *int, body string, members ...string) json.RawMessage {
	p.t.Helper()
	for {
		p.share(room, members...)
		var ct json.RawMessage
		p.retry(func() error {
			var err error
			ct, err = p.m.EncryptRoomEvent(bg, room, "m.room.message", json.RawMessage(fmt.Sprintf(`{"body":%q}`, body)))
			if errors.Is(err, machine.ErrShareRequired) {
				ct = nil
				return nil
			}
			return err
		})
		if ct != nil {
			*n++
			ev, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "sender": p.user, "room_id": room,
				"event_id": fmt.Sprintf("$e%d", *n), "origin_server_ts": 1700000000000 + *n, "content": ct})
			return ev
		}
	}
}

func (p *peer) read(room string, ev json.RawMessage) *machine.DecryptedEvent {
	p.t.Helper()
	var d *machine.DecryptedEvent
	p.retry(func() error {
		var err error
		d, err = p.m.DecryptRoomEvent(bg, room, ev)
		return err
	})
	return d
}

type pair struct {
	a, b *peer
	room string
	n    int
}

func newPair(t *testing.T, sa, sb machine.Store) *pair {
	hs := fakehs.New()
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	p := &pair{room: "!room:x"}
	p.a = newPeer(t, hs, sa, "@alice:x", "ALICE", now)
	p.a.flush()
	p.b = newPeer(t, hs, sb, "@bob:x", "BOB", now)
	p.b.flush()
	for _, c := range []*peer{p.a, p.b} {
		c.retry(func() error {
			return c.m.SetRoomEncryption(bg, p.room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_msgs":3}`))
		})
	}
	return p
}

// converse runs the conversation and checks every event on both sides.
func (p *pair) converse(t *testing.T) {
	type sent struct {
		ev   json.RawMessage
		body string
	}
	var all []sent
	members := []string{p.a.user, p.b.user}
	for i := 0; i < 4; i++ {
		b := fmt.Sprint("alice ", i)
		all = append(all, sent{p.a.say(p.room, &p.n, b, members...), b})
	}
	p.b.sync()
	p.b.restart()
	for i := 0; i < 2; i++ {
		b := fmt.Sprint("bob ", i)
		all = append(all, sent{p.b.say(p.room, &p.n, b, members...), b})
	}
	p.a.sync()
	p.a.restart()
	all = append(all, sent{p.a.say(p.room, &p.n, "alice again", members...), "alice again"})
	p.b.sync()
	used := map[string]string{}
	for _, c := range []*peer{p.a, p.b} {
		for _, s := range all {
			d := c.read(p.room, s.ev)
			if !strings.Contains(string(d.Content), s.body) {
				t.Fatalf("%s read %s, want %q", c.user, d.Content, s.body)
			}
			k := fmt.Sprint(d.SessionID, "/", d.Index)
			if prev, ok := used[k]; ok && prev != s.body {
				t.Fatalf("message index %s used by %q and %q", k, prev, s.body)
			}
			used[k] = s.body
		}
	}
}

func testConversation(t *testing.T, open func(t *testing.T) machine.Store) {
	sa, sb := open(t), open(t)
	defer sa.Close()
	defer sb.Close()
	p := newPair(t, sa, sb)
	p.converse(t)
	// After a restart, the replay records are still there.
	p.b.restart()
	ev := p.a.say(p.room, &p.n, "once", p.a.user, p.b.user)
	p.b.sync()
	p.b.read(p.room, ev)
	p.b.restart()
	var e map[string]any
	json.Unmarshal(ev, &e)
	e["event_id"] = "$forged"
	forged, _ := json.Marshal(e)
	p.b.retry(func() error { return nil })
	if _, err := p.b.m.DecryptRoomEvent(bg, p.room, forged); !errors.Is(err, machine.ErrReplay) {
		t.Errorf("replay after a restart: %v, want ErrReplay", err)
	}
}

var errInjected = errors.New("storetest: injected failure")

func testFailAtEveryWrite(t *testing.T, open func(t *testing.T) machine.Store) {
	failAtEveryWrite(t, open, 2, 1, 17, func(t *testing.T, s []machine.Store) {
		newPair(t, s[0], s[1]).converse(t)
	})
}

// failAtEveryWrite runs a scenario over n stores with a failure of the
// stores injected at one write after the other (every step-th write, or
// every shortStep-th in -short mode), after a run without failure counted
// the writes. The scenario restarts after each failure and must end as
// the run without failure did.
func failAtEveryWrite(t *testing.T, open func(t *testing.T) machine.Store, n, step, shortStep int, run func(t *testing.T, stores []machine.Store)) {
	count := func(t *testing.T, at int) int {
		f := &failer{at: at}
		stores := make([]machine.Store, n)
		for i := range stores {
			s := open(t)
			defer s.Close()
			stores[i] = &failStore{s, f}
		}
		run(t, stores)
		return f.n
	}
	total := count(t, 0)
	if testing.Short() {
		step = shortStep
	}
	for at := 1; at <= total; at += step {
		if !t.Run(fmt.Sprint("write", at), func(t *testing.T) { count(t, at) }) {
			return
		}
	}
}

type failer struct{ n, at int }

func (f *failer) write() error {
	f.n++
	if f.n == f.at {
		return errInjected
	}
	return nil
}

type failStore struct {
	machine.Store
	f *failer
}

func (s *failStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	ft := &failTx{tx, s.f}
	if _, ok := tx.(machine.ReplayBatchTx); ok {
		return failReplayBatchTx{ft}, nil
	}
	return ft, nil
}

// failReplayBatchTx is a failTx over a machine.ReplayBatchTx, whose batch
// write fails like the others.
type failReplayBatchTx struct{ *failTx }

func (t failReplayBatchTx) ReplayRecords(keys []machine.ReplayKey) (map[machine.ReplayKey]machine.ReplayRecord, error) {
	return t.Tx.(machine.ReplayBatchTx).ReplayRecords(keys)
}
func (t failReplayBatchTx) PutReplayRecords(records []machine.ReplayRecord) error {
	return t.do(func() error { return t.Tx.(machine.ReplayBatchTx).PutReplayRecords(records) })
}

type failTx struct {
	machine.Tx
	f *failer
}

func (t *failTx) do(put func() error) error {
	if err := t.f.write(); err != nil {
		return err
	}
	return put()
}

func (t *failTx) Commit() error {
	if err := t.f.write(); err != nil {
		t.Tx.Rollback()
		return err
	}
	return t.Tx.Commit()
}
func (t *failTx) PutAccount(r machine.AccountRecord) error {
	return t.do(func() error { return t.Tx.PutAccount(r) })
}
func (t *failTx) PutOlmSession(r machine.OlmSessionRecord) error {
	return t.do(func() error { return t.Tx.PutOlmSession(r) })
}
func (t *failTx) DeleteOlmSession(a, b string) error {
	return t.do(func() error { return t.Tx.DeleteOlmSession(a, b) })
}
func (t *failTx) PutInboundGroupSession(r machine.InboundGroupSessionRecord) error {
	return t.do(func() error { return t.Tx.PutInboundGroupSession(r) })
}
func (t *failTx) DeleteInboundGroupSession(a, b string) error {
	return t.do(func() error { return t.Tx.DeleteInboundGroupSession(a, b) })
}
func (t *failTx) PutReplayRecord(r machine.ReplayRecord) error {
	return t.do(func() error { return t.Tx.PutReplayRecord(r) })
}
func (t *failTx) PutOutboundGroupSession(r machine.OutboundGroupSessionRecord) error {
	return t.do(func() error { return t.Tx.PutOutboundGroupSession(r) })
}
func (t *failTx) DeleteOutboundGroupSession(a string) error {
	return t.do(func() error { return t.Tx.DeleteOutboundGroupSession(a) })
}
func (t *failTx) PutDevice(r machine.DeviceRecord) error {
	return t.do(func() error { return t.Tx.PutDevice(r) })
}
func (t *failTx) DeleteDevice(a, b string) error {
	return t.do(func() error { return t.Tx.DeleteDevice(a, b) })
}
func (t *failTx) Put(ns machine.Namespace, k string, v []byte) error {
	return t.do(func() error { return t.Tx.Put(ns, k, v) })
}
func (t *failTx) Delete(ns machine.Namespace, k string) error {
	return t.do(func() error { return t.Tx.Delete(ns, k) })
}
func (t *failTx) ResetBackedUp() error {
	return t.do(func() error { return t.Tx.ResetBackedUp() })
}
