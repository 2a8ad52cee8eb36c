package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/olm"
)

var errInjected = errors.New("injected store failure")

// failer counts writes across stores and fails the one numbered at.
type failer struct {
	n, at int
}

func (f *failer) write() error {
	f.n++
	if f.n == f.at {
		return errInjected
	}
	return nil
}

// failStore is a Store whose writes (and commits) can be made to fail.
type failStore struct {
	machine.Store
	f *failer
}

func (s *failStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &failTx{Tx: tx, f: s.f}, nil
}

type failTx struct {
	machine.Tx
	f *failer
}

func (t *failTx) Commit() error {
	if err := t.f.write(); err != nil {
		t.Tx.Rollback()
		return err
	}
	return t.Tx.Commit()
}
func (t *failTx) PutAccount(r machine.AccountRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutAccount(r) })
}
func (t *failTx) PutOlmSession(r machine.OlmSessionRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutOlmSession(r) })
}
func (t *failTx) PutInboundGroupSession(r machine.InboundGroupSessionRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutInboundGroupSession(r) })
}
func (t *failTx) PutReplayRecord(r machine.ReplayRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutReplayRecord(r) })
}
func (t *failTx) PutOutboundGroupSession(r machine.OutboundGroupSessionRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutOutboundGroupSession(r) })
}
func (t *failTx) PutDevice(r machine.DeviceRecord) error {
	return first(t.f.write(), func() error { return t.Tx.PutDevice(r) })
}
func (t *failTx) Put(ns machine.Namespace, k string, v []byte) error {
	return first(t.f.write(), func() error { return t.Tx.Put(ns, k, v) })
}
func (t *failTx) Delete(ns machine.Namespace, k string) error {
	return first(t.f.write(), func() error { return t.Tx.Delete(ns, k) })
}
func (t *failTx) DeleteOlmSession(a, b string) error {
	return first(t.f.write(), func() error { return t.Tx.DeleteOlmSession(a, b) })
}
func (t *failTx) DeleteInboundGroupSession(a, b string) error {
	return first(t.f.write(), func() error { return t.Tx.DeleteInboundGroupSession(a, b) })
}
func (t *failTx) DeleteOutboundGroupSession(a string) error {
	return first(t.f.write(), func() error { return t.Tx.DeleteOutboundGroupSession(a) })
}
func (t *failTx) DeleteDevice(a, b string) error {
	return first(t.f.write(), func() error { return t.Tx.DeleteDevice(a, b) })
}
func (t *failTx) ResetBackedUp() error {
	return first(t.f.write(), func() error { return t.Tx.ResetBackedUp() })
}

func first(err error, f func() error) error {
	if err != nil {
		return err
	}
	return f()
}

// crashClient is a client whose every step restarts the machine after a
// failure and tries again, as a process restarted after a crash would.
type crashClient struct {
	t         *testing.T
	hs        *fakehs.Server
	user, dev string
	opts      machine.Options
	m         *machine.Machine
	crashes   int
	// keep, if true, goes on with the same Machine after a failure
	// instead of restarting: the machine must have dropped whatever its
	// cache held from the failed transaction.
	keep bool
}

func newCrashClient(t *testing.T, hs *fakehs.Server, f *failer, user, dev string, clk *clock, keep bool) *crashClient {
	c := &crashClient{t: t, hs: hs, user: user, dev: dev, keep: keep}
	c.opts = machine.Options{UserID: user, DeviceID: dev, Store: &failStore{memstore.New(), f}, PickleKey: pickleKey(7), Clock: clk.now}
	c.retry(func() error {
		var err error
		c.m, err = machine.New(ctx, c.opts)
		return err
	})
	return c
}

// retry runs step until it succeeds, restarting after each injected failure.
func (c *crashClient) retry(step func() error) {
	c.t.Helper()
	for i := 0; ; i++ {
		err := step()
		if err == nil {
			return
		}
		if !errors.Is(err, errInjected) || i > 5 {
			c.t.Fatalf("%s: %v", c.user, err)
		}
		c.crashes++
		if c.keep && c.m != nil {
			continue
		}
		if c.m != nil {
			c.m.Close()
		}
		m, err := machine.New(ctx, c.opts)
		for errors.Is(err, errInjected) {
			m, err = machine.New(ctx, c.opts)
		}
		if err != nil {
			c.t.Fatalf("%s: restart: %v", c.user, err)
		}
		c.m = m
	}
}

func (c *crashClient) sendAll(reqs []machine.Request) error {
	for _, r := range reqs {
		body, err := c.hs.Do(c.user, c.dev, r)
		if err != nil {
			c.t.Fatalf("%s: server refused %s: %v", c.user, r.Kind, err)
		}
		if err := c.m.MarkRequestSent(ctx, r.ID, body); err != nil {
			return err
		}
	}
	return nil
}

func (c *crashClient) flush() {
	c.t.Helper()
	for i := 0; i < 20; i++ {
		var reqs []machine.Request
		c.retry(func() error {
			var err error
			if reqs, err = c.m.OutgoingRequests(ctx); err != nil {
				return err
			}
			return c.sendAll(reqs)
		})
		if len(reqs) == 0 {
			return
		}
	}
	c.t.Fatalf("%s: requests never end", c.user)
}

func (c *crashClient) sync() {
	c.t.Helper()
	sc := c.hs.Sync(c.user, c.dev) // redelivered until processed
	c.retry(func() error {
		_, err := c.m.ReceiveSync(ctx, sc)
		return err
	})
	c.flush()
}

func (c *crashClient) share(room string, members ...string) {
	c.t.Helper()
	for i := 0; i < 20; i++ {
		var reqs []machine.Request
		c.retry(func() error {
			var err error
			if reqs, err = c.m.ShareRoomKey(ctx, room, members); err != nil {
				return err
			}
			return c.sendAll(reqs)
		})
		if len(reqs) == 0 {
			return
		}
	}
	c.t.Fatalf("%s: share never ends", c.user)
}

func (c *crashClient) encrypt(room string, n int) json.RawMessage {
	c.t.Helper()
	var ct json.RawMessage
	c.retry(func() error {
		var err error
		ct, err = c.m.EncryptRoomEvent(ctx, room, "m.room.message", json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)))
		if errors.Is(err, machine.ErrShareRequired) {
			return nil
		}
		return err
	})
	return ct
}

// crashScript runs a conversation with store failures at write number at
// (0: none) and checks that nothing was lost or reused. It returns the
// number of writes the script made.
func crashScript(t *testing.T, at int, keep bool) int {
	hs := fakehs.New()
	clk := newClock()
	f := &failer{at: at}
	room := "!crash:x"
	a := newCrashClient(t, hs, f, "@alice:x", "ALICE", clk, keep)
	a.flush()
	b := newCrashClient(t, hs, f, "@bob:x", "BOB", clk, keep)
	b.flush()
	for _, c := range []*crashClient{a, b} {
		c.retry(func() error {
			return c.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","rotation_period_msgs":3}`))
		})
	}
	type sent struct {
		from *crashClient
		ev   json.RawMessage
		n    int
	}
	var events []sent
	send := func(c *crashClient, n int) {
		for {
			c.share(room, a.user, b.user)
			if ct := c.encrypt(room, n); ct != nil {
				events = append(events, sent{c, roomEvent(room, c.user, ct), n})
				return
			}
		}
	}
	for i := 0; i < 4; i++ {
		send(a, i)
	}
	b.sync()
	send(b, 100)
	send(b, 101)
	a.sync()
	send(a, 4)
	b.sync()
	a.sync()

	// Every event decrypts on both sides, and no (session, index) is used
	// by two events.
	used := map[string]int{}
	for _, c := range []*crashClient{a, b} {
		for _, s := range events {
			var d *machine.DecryptedEvent
			c.retry(func() error {
				var err error
				d, err = c.m.DecryptRoomEvent(ctx, room, s.ev)
				return err
			})
			if !strings.Contains(string(d.Content), fmt.Sprint(s.n)) {
				t.Fatalf("event %d decrypted to %s", s.n, d.Content)
			}
			k := fmt.Sprint(d.SessionID, "/", d.Index)
			if prev, ok := used[k]; ok && prev != s.n {
				t.Fatalf("failure at write %d: index %s used by events %d and %d", at, k, prev, s.n)
			}
			used[k] = s.n
		}
	}
	return f.n
}

// TestCrashAtEveryWrite fails the store at each write of the script and
// restarts the machine from the store, as after a crash.
func TestCrashAtEveryWrite(t *testing.T) { crashAtEveryWrite(t, false) }

// TestFailedWriteKeepsMachine fails the store at each write but goes on
// with the same Machine: its cache must not keep state the store lost.
func TestFailedWriteKeepsMachine(t *testing.T) { crashAtEveryWrite(t, true) }

func crashAtEveryWrite(t *testing.T, keep bool) {
	total := crashScript(t, 0, keep)
	step := 1
	if testing.Short() {
		step = 13
	}
	t.Logf("%d writes in the script", total)
	for at := 1; at <= total; at += step {
		ok := t.Run(fmt.Sprint("write", at), func(t *testing.T) { crashScript(t, at, keep) })
		if !ok {
			break
		}
	}
}

// A failed store write does not leave the device generation bumped in
// memory: otherwise a share records that generation, a restart reads back
// one lower, a later blacklist bumps the stored counter to the same value
// and EncryptRoomEvent no longer notices (review F7).
func TestDeviceGenRestoredOnFailedWrite(t *testing.T) {
	w := newWorld(t)
	f := &failer{}
	// Alice again, on a failing store.
	c := &client{t: t, hs: w.hs, user: "@carla:x", dev: "CARLA", store: &failStore{Store: memstore.New(), f: f}, key: pickleKey(9), clock: w.clock}
	c.opts = machine.Options{UserID: c.user, DeviceID: c.dev, Store: c.store, PickleKey: c.key, Clock: w.clock.now}
	c.open()
	c.flush()
	c.setEncrypted(w.room)
	c.m.UpdateTrackedUsers(ctx, []string{w.bob.user})
	c.flush()
	c.share(w.room, c.user, w.bob.user)
	w.bob.sync()
	// 1. A blacklist (of Bob, say) fails at its first write.
	gen := machine.DeviceGen(c.m)
	f.at = f.n + 1
	if err := c.m.SetDeviceBlacklisted(ctx, w.bob.user, w.bob.dev, true); !errors.Is(err, errInjected) {
		t.Fatalf("want injected failure, got %v", err)
	}
	f.at = 0
	if got := machine.DeviceGen(c.m); got != gen {
		t.Fatalf("device generation %d in memory after a failed write, %d stored", got, gen)
	}
	// 2. A share records the in-memory generation.
	c.share(w.room, c.user, w.bob.user)
	// 3. Restart: the generation is read back, one lower.
	c.restart()
	// 4. Now Bob is blacklisted for real.
	if err := c.m.SetDeviceBlacklisted(ctx, w.bob.user, w.bob.dev, true); err != nil {
		t.Fatal(err)
	}
	ct, err := c.m.EncryptRoomEvent(ctx, w.room, "m.room.message", json.RawMessage(`{"body":"after blacklist"}`))
	if err != nil {
		return // refused: fine
	}
	w.bob.sync()
	if _, err := w.bob.m.DecryptRoomEvent(ctx, w.room, roomEvent(w.room, c.user, ct)); err == nil {
		t.Fatal("blacklisted device decrypts the next message: deviceGen diverged after a failed store write")
	}
}

// devFailStore fails the first PutDevice after *fail is set.
type devFailStore struct {
	machine.Store
	fail *bool
}

func (s *devFailStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &devFailTx{Tx: tx, fail: s.fail}, nil
}

type devFailTx struct {
	machine.Tx
	fail *bool
}

func (t *devFailTx) PutDevice(r machine.DeviceRecord) error {
	if *t.fail {
		*t.fail = false
		return errInjected
	}
	return t.Tx.PutDevice(r)
}

// A store failure while a finished verification is applied does not lose
// the verification: the retried sync applies it (review F8).
func TestVerificationAppliedAfterFailedWrite(t *testing.T) {
	w := newWorld(t)
	fail := false
	c := &client{t: t, hs: w.hs, user: "@carla:x", dev: "CARLA", store: &devFailStore{Store: memstore.New(), fail: &fail}, key: pickleKey(9), clock: w.clock}
	c.opts = machine.Options{UserID: c.user, DeviceID: c.dev, Store: c.store, PickleKey: c.key, Clock: w.clock.now}
	c.open()
	c.flush()
	a, b := c, w.bob
	for _, x := range []*client{a, b} {
		x.m.UpdateTrackedUsers(ctx, []string{a.user, b.user})
		x.m.MarkAllTrackedUsersOutdated(ctx)
		x.flush()
	}
	va, out, err := a.m.Verifications().RequestToDevice(b.user, b.dev)
	a.sendVerif(out, err)
	b.sync()
	vb := b.m.Verifications().Verifications()[0]
	b.sendVerif(vb.Accept())
	a.sync()
	a.sendVerif(va.StartSAS())
	for i := 0; i < 3; i++ {
		b.sync()
		a.sync()
	}
	b.sendVerif(vb.Confirm())
	a.sync()
	a.sendVerif(va.Confirm())
	b.sync() // Bob gets Alice's MAC and sends done
	// Alice's sync carrying the end of the flow fails at its device write;
	// she retries the same response, as ReceiveSync's doc says.
	sc := w.hs.Sync(a.user, a.dev)
	fail = true
	_, err = a.m.ReceiveSync(ctx, sc)
	t.Logf("first ReceiveSync: %v (still armed: %v)", err, fail)
	fail = false
	if _, err := a.m.ReceiveSync(ctx, sc); err != nil {
		t.Fatal(err)
	}
	a.flush()
	if _, ok := va.Result(); !ok {
		t.Fatalf("flow not done: %s", va.State())
	}
	ds, _ := a.m.Devices(ctx, b.user)
	if ds[0].Verification != machine.VerificationVerified {
		t.Fatalf("verification finished but Bob's device is %s after a failed store write and a retry", ds[0].Verification)
	}
}

// TestNoticesOfFailedTransactions: a transaction that fails takes back the
// notices it raised, so that retrying the same input reports a problem
// once, not once per attempt.
func TestNoticesOfFailedTransactions(t *testing.T) {
	failedAfterNotice := false
	for k := 1; k <= 12; k++ {
		hs := fakehs.New()
		clk := newClock()
		alice := newClient(t, hs, "@alice:x", "ALICE", clk)
		f := &failer{}
		bob := newCrashClient(t, hs, f, "@bob:x", "BOB", clk, true)
		bob.retry(func() error { return bob.m.UpdateTrackedUsers(ctx, []string{alice.user}) })
		bob.flush()
		// The server swaps in a device of its own under Alice's device ID.
		evil, _ := olm.NewAccount()
		dk, _ := evil.DeviceKeys(alice.user, alice.dev)
		hs.SetDeviceKeys(alice.user, alice.dev, dk)
		bob.retry(func() error { return bob.m.MarkAllTrackedUsersOutdated(ctx) })
		crashes := bob.crashes
		f.at = f.n + k
		bob.flush()
		n := 0
		for _, no := range bob.m.Notices() {
			if errors.Is(no.Err, machine.ErrDeviceKeysChanged) {
				n++
			}
		}
		if bob.crashes > crashes {
			failedAfterNotice = true
		}
		if n != 1 {
			t.Errorf("failure at write %d: %d notices of the key change, want 1", k, n)
		}
	}
	if !failedAfterNotice {
		t.Fatal("no injected failure hit the query")
	}
}
