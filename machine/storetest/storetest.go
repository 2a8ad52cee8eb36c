// Package storetest holds the conformance tests of machine.Store. Every Store
// implementation runs them from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) machine.Store { return openEmptyStore(t) })
//	}
//
// The package uses only the standard library, so that stores in other modules
// can run it without extra dependencies.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/souverain/e2ee/machine"
)

// Run runs every conformance test. open must return a new, empty store for
// each call; Run closes it at the end of the subtest.
func Run(t *testing.T, open func(t *testing.T) machine.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, machine.Store)
	}{
		{"Empty", testEmpty},
		{"Account", testAccount},
		{"CommitPersists", testCommitPersists},
		{"RollbackDiscards", testRollbackDiscards},
		{"ReadYourWrites", testReadYourWrites},
		{"OlmSessions", testOlmSessions},
		{"InboundGroupSessions", testInbound},
		{"DeleteInboundDeletesReplay", testDeleteInboundDeletesReplay},
		{"ReplayRecords", testReplay},
		{"NotBackedUp", testNotBackedUp},
		{"ResetBackedUp", testResetBackedUp},
		{"OutboundGroupSessions", testOutbound},
		{"Devices", testDevices},
		{"KeyValue", testKeyValue},
		{"Copies", testCopies},
		{"TxDone", testTxDone},
		{"Sequential", testSequential},
		{"LargeValue", testLargeValue},
		{"BulkInbound", testBulkInbound},
		{"ManyMisses", testManyMisses},
		{"ContextEndsAfterBegin", testContextEndsAfterBegin},
		{"BatchInbound", testBatchInbound},
		{"BatchInboundBulk", testBatchInboundBulk},
		{"BatchReplay", testBatchReplay},
		{"BatchReplayBulk", testBatchReplayBulk},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.f(t, s)
		})
	}
}

func begin(t *testing.T, s machine.Store) machine.Tx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return tx
}

// update runs f in a transaction and commits it.
func update(t *testing.T, s machine.Store, f func(tx machine.Tx) error) {
	t.Helper()
	tx := begin(t, s)
	if err := f(tx); err != nil {
		tx.Rollback()
		t.Fatalf("in transaction: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// view runs f in a transaction and rolls it back.
func view(t *testing.T, s machine.Store, f func(tx machine.Tx)) {
	t.Helper()
	tx := begin(t, s)
	defer func() {
		if err := tx.Rollback(); err != nil {
			t.Errorf("Rollback: %v", err)
		}
	}()
	f(tx)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("%s: error %v, want ErrNotFound", what, err)
	}
}

func testEmpty(t *testing.T, s machine.Store) {
	view(t, s, func(tx machine.Tx) {
		_, err := tx.Account()
		wantNotFound(t, "Account", err)
		_, err = tx.InboundGroupSession("!r", "s")
		wantNotFound(t, "InboundGroupSession", err)
		_, err = tx.OutboundGroupSession("!r")
		wantNotFound(t, "OutboundGroupSession", err)
		_, err = tx.ReplayRecord("!r", "s", 0)
		wantNotFound(t, "ReplayRecord", err)
		_, err = tx.Get(machine.NSValues, "k")
		wantNotFound(t, "Get", err)
		if o, err := tx.OlmSessions("k"); err != nil || len(o) != 0 {
			t.Errorf("OlmSessions = %v, %v; want none", o, err)
		}
		if d, err := tx.Devices("@u:x"); err != nil || len(d) != 0 {
			t.Errorf("Devices = %v, %v; want none", d, err)
		}
		if l, err := tx.List(machine.NSValues); err != nil || len(l) != 0 {
			t.Errorf("List = %v, %v; want none", l, err)
		}
		if l, err := tx.InboundGroupSessionsNotBackedUp(10); err != nil || len(l) != 0 {
			t.Errorf("InboundGroupSessionsNotBackedUp = %v, %v; want none", l, err)
		}
		// Deleting what does not exist is not an error.
		must(t, tx.DeleteOlmSession("k", "s"))
		must(t, tx.DeleteInboundGroupSession("!r", "s"))
		must(t, tx.DeleteOutboundGroupSession("!r"))
		must(t, tx.DeleteDevice("@u:x", "D"))
		must(t, tx.Delete(machine.NSValues, "k"))
	})
}

func testAccount(t *testing.T, s machine.Store) {
	a := machine.AccountRecord{UserID: "@a:x", DeviceID: "DEV", Pickle: []byte("pickle 1")}
	update(t, s, func(tx machine.Tx) error { return tx.PutAccount(a) })
	view(t, s, func(tx machine.Tx) {
		got, err := tx.Account()
		must(t, err)
		if got.UserID != a.UserID || got.DeviceID != a.DeviceID || !bytes.Equal(got.Pickle, a.Pickle) {
			t.Errorf("Account = %+v, want %+v", got, a)
		}
	})
	a.Pickle = []byte("pickle 2")
	update(t, s, func(tx machine.Tx) error { return tx.PutAccount(a) })
	view(t, s, func(tx machine.Tx) {
		got, err := tx.Account()
		must(t, err)
		if !bytes.Equal(got.Pickle, a.Pickle) {
			t.Errorf("Account pickle = %q after replace, want %q", got.Pickle, a.Pickle)
		}
	})
}

// writeOneOfEach writes a record of every kind with the given label.
func writeOneOfEach(tx machine.Tx, label string) error {
	p := []byte(label)
	for _, err := range []error{
		tx.PutAccount(machine.AccountRecord{UserID: "@a:x", DeviceID: "D", Pickle: p}),
		tx.PutOlmSession(machine.OlmSessionRecord{SenderKey: "sk", SessionID: "os", Pickle: p}),
		tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{RoomID: "!r", SessionID: "gs", SenderKey: "sk", Provenance: machine.ProvenanceDirect, Pickle: p}),
		tx.PutReplayRecord(machine.ReplayRecord{RoomID: "!r", SessionID: "gs", Index: 3, EventID: "$" + label, Timestamp: 1}),
		tx.PutOutboundGroupSession(machine.OutboundGroupSessionRecord{RoomID: "!r", SessionID: "out", Pickle: p}),
		tx.PutDevice(machine.DeviceRecord{UserID: "@b:x", DeviceID: "B", Curve25519Key: "ck", Pickle: p}),
		tx.Put(machine.NSValues, "k", p),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOneOfEach checks that every record written by writeOneOfEach(label)
// is there, or, with label "", that none is.
func checkOneOfEach(t *testing.T, tx machine.Tx, label string) {
	t.Helper()
	check := func(what string, p []byte, err error) {
		t.Helper()
		if label == "" {
			wantNotFound(t, what, err)
			return
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if string(p) != label {
			t.Errorf("%s = %q, want %q", what, p, label)
		}
	}
	a, err := tx.Account()
	check("Account", a.Pickle, err)
	o, err := tx.OlmSessions("sk")
	if err == nil && len(o) == 0 {
		err = fmt.Errorf("none: %w", machine.ErrNotFound)
	}
	if err == nil {
		check("OlmSessions", o[0].Pickle, nil)
	} else {
		check("OlmSessions", nil, err)
	}
	i, err := tx.InboundGroupSession("!r", "gs")
	check("InboundGroupSession", i.Pickle, err)
	r, err := tx.ReplayRecord("!r", "gs", 3)
	if err == nil {
		check("ReplayRecord", []byte(r.EventID[1:]), nil)
	} else {
		check("ReplayRecord", nil, err)
	}
	out, err := tx.OutboundGroupSession("!r")
	check("OutboundGroupSession", out.Pickle, err)
	d, err := tx.Devices("@b:x")
	if err == nil && len(d) == 0 {
		err = fmt.Errorf("none: %w", machine.ErrNotFound)
	}
	if err == nil {
		check("Devices", d[0].Pickle, nil)
	} else {
		check("Devices", nil, err)
	}
	v, err := tx.Get(machine.NSValues, "k")
	check("Get", v, err)
}

func testCommitPersists(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error { return writeOneOfEach(tx, "one") })
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "one") })
}

func testRollbackDiscards(t *testing.T, s machine.Store) {
	// Writes rolled back leave nothing.
	tx := begin(t, s)
	must(t, writeOneOfEach(tx, "one"))
	must(t, tx.Rollback())
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "") })

	// Replacements and deletions rolled back leave the committed state.
	update(t, s, func(tx machine.Tx) error { return writeOneOfEach(tx, "one") })
	tx = begin(t, s)
	must(t, writeOneOfEach(tx, "two"))
	must(t, tx.Rollback())
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "one") })

	tx = begin(t, s)
	must(t, tx.DeleteOlmSession("sk", "os"))
	must(t, tx.DeleteInboundGroupSession("!r", "gs"))
	must(t, tx.DeleteOutboundGroupSession("!r"))
	must(t, tx.DeleteDevice("@b:x", "B"))
	must(t, tx.Delete(machine.NSValues, "k"))
	must(t, tx.Rollback())
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "one") })
}

func testReadYourWrites(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error { return writeOneOfEach(tx, "one") })
	tx := begin(t, s)
	defer tx.Rollback()
	must(t, writeOneOfEach(tx, "two"))
	checkOneOfEach(t, tx, "two")
	must(t, tx.DeleteOlmSession("sk", "os"))
	must(t, tx.DeleteInboundGroupSession("!r", "gs"))
	must(t, tx.DeleteOutboundGroupSession("!r"))
	must(t, tx.DeleteDevice("@b:x", "B"))
	must(t, tx.Delete(machine.NSValues, "k"))
	if o, _ := tx.OlmSessions("sk"); len(o) != 0 {
		t.Errorf("OlmSessions after delete = %d records", len(o))
	}
	_, err := tx.InboundGroupSession("!r", "gs")
	wantNotFound(t, "InboundGroupSession after delete", err)
	_, err = tx.ReplayRecord("!r", "gs", 3)
	wantNotFound(t, "ReplayRecord after deleting its session", err)
	_, err = tx.OutboundGroupSession("!r")
	wantNotFound(t, "OutboundGroupSession after delete", err)
	if d, _ := tx.Devices("@b:x"); len(d) != 0 {
		t.Errorf("Devices after delete = %d records", len(d))
	}
	_, err = tx.Get(machine.NSValues, "k")
	wantNotFound(t, "Get after delete", err)
	// Put again after delete in the same transaction.
	must(t, tx.Put(machine.NSValues, "k", []byte("three")))
	if v, err := tx.Get(machine.NSValues, "k"); err != nil || string(v) != "three" {
		t.Errorf("Get after delete and put = %q, %v", v, err)
	}
}

func testOlmSessions(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for _, r := range []machine.OlmSessionRecord{
			{SenderKey: "A", SessionID: "1", Pickle: []byte("a1")},
			{SenderKey: "A", SessionID: "2", Pickle: []byte("a2")},
			{SenderKey: "B", SessionID: "1", Pickle: []byte("b1")},
		} {
			if err := tx.PutOlmSession(r); err != nil {
				return err
			}
		}
		return nil
	})
	sessions := func(tx machine.Tx, key string) map[string]string {
		rs, err := tx.OlmSessions(key)
		must(t, err)
		m := map[string]string{}
		for _, r := range rs {
			if r.SenderKey != key {
				t.Errorf("OlmSessions(%q) returned a record of %q", key, r.SenderKey)
			}
			m[r.SessionID] = string(r.Pickle)
		}
		return m
	}
	view(t, s, func(tx machine.Tx) {
		if got := sessions(tx, "A"); len(got) != 2 || got["1"] != "a1" || got["2"] != "a2" {
			t.Errorf("OlmSessions(A) = %v", got)
		}
		if got := sessions(tx, "B"); len(got) != 1 || got["1"] != "b1" {
			t.Errorf("OlmSessions(B) = %v", got)
		}
	})
	update(t, s, func(tx machine.Tx) error {
		if err := tx.PutOlmSession(machine.OlmSessionRecord{SenderKey: "A", SessionID: "1", Pickle: []byte("a1'")}); err != nil {
			return err
		}
		return tx.DeleteOlmSession("A", "2")
	})
	view(t, s, func(tx machine.Tx) {
		if got := sessions(tx, "A"); len(got) != 1 || got["1"] != "a1'" {
			t.Errorf("OlmSessions(A) after replace and delete = %v", got)
		}
		if got := sessions(tx, "B"); len(got) != 1 {
			t.Errorf("OlmSessions(B) changed: %v", got)
		}
	})
}

func testInbound(t *testing.T, s machine.Store) {
	r1 := machine.InboundGroupSessionRecord{RoomID: "!r1", SessionID: "S", SenderKey: "k1", Provenance: machine.ProvenanceForwarded, BackedUp: true, Pickle: []byte("1")}
	r2 := machine.InboundGroupSessionRecord{RoomID: "!r2", SessionID: "S", SenderKey: "k2", Provenance: machine.ProvenanceBackup, Pickle: []byte("2")}
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.PutInboundGroupSession(r1))
		return tx.PutInboundGroupSession(r2)
	})
	same := func(a, b machine.InboundGroupSessionRecord) bool {
		return a.RoomID == b.RoomID && a.SessionID == b.SessionID && a.SenderKey == b.SenderKey &&
			a.Provenance == b.Provenance && a.BackedUp == b.BackedUp && bytes.Equal(a.Pickle, b.Pickle)
	}
	view(t, s, func(tx machine.Tx) {
		for _, want := range []machine.InboundGroupSessionRecord{r1, r2} {
			got, err := tx.InboundGroupSession(want.RoomID, want.SessionID)
			must(t, err)
			if !same(got, want) {
				t.Errorf("InboundGroupSession(%s) = %+v, want %+v", want.RoomID, got, want)
			}
		}
		_, err := tx.InboundGroupSession("!r3", "S")
		wantNotFound(t, "session ID in another room", err)
	})
	r1.Provenance, r1.Pickle, r1.BackedUp = machine.ProvenanceDirect, []byte("1'"), false
	update(t, s, func(tx machine.Tx) error { return tx.PutInboundGroupSession(r1) })
	view(t, s, func(tx machine.Tx) {
		got, err := tx.InboundGroupSession("!r1", "S")
		must(t, err)
		if !same(got, r1) {
			t.Errorf("after replace: %+v, want %+v", got, r1)
		}
	})
}

func testDeleteInboundDeletesReplay(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for _, room := range []string{"!a", "!b"} {
			must(t, tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{RoomID: room, SessionID: "S", Pickle: []byte("p")}))
			for i := uint32(0); i < 5; i++ {
				must(t, tx.PutReplayRecord(machine.ReplayRecord{RoomID: room, SessionID: "S", Index: i, EventID: "$e", Timestamp: 7}))
			}
		}
		return nil
	})
	update(t, s, func(tx machine.Tx) error { return tx.DeleteInboundGroupSession("!a", "S") })
	view(t, s, func(tx machine.Tx) {
		for i := uint32(0); i < 5; i++ {
			_, err := tx.ReplayRecord("!a", "S", i)
			wantNotFound(t, "replay record of a deleted session", err)
			if _, err := tx.ReplayRecord("!b", "S", i); err != nil {
				t.Errorf("replay record of the session in another room: %v", err)
			}
		}
	})
	// A session put again under the same ID starts without replay records,
	// also when deleted and recreated within one transaction.
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.DeleteInboundGroupSession("!b", "S"))
		must(t, tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{RoomID: "!b", SessionID: "S", Pickle: []byte("q")}))
		must(t, tx.PutReplayRecord(machine.ReplayRecord{RoomID: "!b", SessionID: "S", Index: 9, EventID: "$n", Timestamp: 8}))
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		_, err := tx.ReplayRecord("!b", "S", 0)
		wantNotFound(t, "replay record from before the session was deleted", err)
		if r, err := tx.ReplayRecord("!b", "S", 9); err != nil || r.EventID != "$n" {
			t.Errorf("replay record written after recreation: %+v, %v", r, err)
		}
	})
}

func testReplay(t *testing.T, s machine.Store) {
	recs := []machine.ReplayRecord{
		{RoomID: "!r", SessionID: "S", Index: 0, EventID: "$0", Timestamp: 10},
		{RoomID: "!r", SessionID: "S", Index: math.MaxUint32, EventID: "$max", Timestamp: math.MaxInt64},
		{RoomID: "!r", SessionID: "T", Index: 0, EventID: "$t", Timestamp: -1},
		{RoomID: "!q", SessionID: "S", Index: 0, EventID: "$q", Timestamp: 0},
	}
	update(t, s, func(tx machine.Tx) error {
		for _, r := range recs {
			if err := tx.PutReplayRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		for _, want := range recs {
			got, err := tx.ReplayRecord(want.RoomID, want.SessionID, want.Index)
			if err != nil || got != want {
				t.Errorf("ReplayRecord(%s, %s, %d) = %+v, %v; want %+v", want.RoomID, want.SessionID, want.Index, got, err, want)
			}
		}
		_, err := tx.ReplayRecord("!r", "S", 1)
		wantNotFound(t, "other index", err)
	})
}

func testNotBackedUp(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for i := 0; i < 10; i++ {
			must(t, tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{
				RoomID: "!r", SessionID: fmt.Sprint(i), BackedUp: i%2 == 0, Pickle: []byte{byte(i)},
			}))
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		all, err := tx.InboundGroupSessionsNotBackedUp(100)
		must(t, err)
		if len(all) != 5 {
			t.Errorf("InboundGroupSessionsNotBackedUp(100) = %d records, want 5", len(all))
		}
		for _, r := range all {
			if r.BackedUp {
				t.Errorf("returned a backed-up session %s", r.SessionID)
			}
		}
		some, err := tx.InboundGroupSessionsNotBackedUp(3)
		must(t, err)
		if len(some) != 3 {
			t.Errorf("InboundGroupSessionsNotBackedUp(3) = %d records, want 3", len(some))
		}
	})
	update(t, s, func(tx machine.Tx) error {
		r, err := tx.InboundGroupSession("!r", "1")
		must(t, err)
		r.BackedUp = true
		return tx.PutInboundGroupSession(r)
	})
	view(t, s, func(tx machine.Tx) {
		all, err := tx.InboundGroupSessionsNotBackedUp(100)
		must(t, err)
		if len(all) != 4 {
			t.Errorf("after marking one backed up: %d records, want 4", len(all))
		}
	})
	// Replacing a session without changing BackedUp keeps it, one
	// transaction per session and all in one.
	for _, i := range []int{2, 3} {
		update(t, s, func(tx machine.Tx) error {
			return tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{
				RoomID: "!r", SessionID: fmt.Sprint(i), BackedUp: i%2 == 0, Pickle: []byte("new"),
			})
		})
	}
	update(t, s, func(tx machine.Tx) error {
		for _, i := range []int{4, 5} {
			must(t, tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{
				RoomID: "!r", SessionID: fmt.Sprint(i), BackedUp: i%2 == 0, Pickle: []byte("new"),
			}))
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		all, err := tx.InboundGroupSessionsNotBackedUp(100)
		must(t, err)
		if len(all) != 4 {
			t.Errorf("after replacing sessions with the same BackedUp: %d records, want 4", len(all))
		}
		for i := 2; i < 6; i++ {
			r, err := tx.InboundGroupSession("!r", fmt.Sprint(i))
			if err != nil || r.BackedUp != (i%2 == 0) || string(r.Pickle) != "new" {
				t.Errorf("session %d after replacement: %+v, %v", i, r, err)
			}
		}
	})
}

func testResetBackedUp(t *testing.T, s machine.Store) {
	recs := map[string]machine.InboundGroupSessionRecord{}
	update(t, s, func(tx machine.Tx) error {
		for i := 0; i < 6; i++ {
			r := machine.InboundGroupSessionRecord{
				RoomID: "!r", SessionID: fmt.Sprint(i), SenderKey: "k", Provenance: machine.ProvenanceDirect,
				BackedUp: i%2 == 0, Pickle: []byte{byte(i)},
			}
			recs[r.SessionID] = r
			must(t, tx.PutInboundGroupSession(r))
		}
		return nil
	})
	// Rolled back: nothing changes.
	tx, err := s.Begin(context.Background())
	must(t, err)
	must(t, tx.ResetBackedUp())
	must(t, tx.Rollback())
	view(t, s, func(tx machine.Tx) {
		if l, err := tx.InboundGroupSessionsNotBackedUp(100); err != nil || len(l) != 3 {
			t.Errorf("after a rolled-back ResetBackedUp: %d not backed up, %v; want 3", len(l), err)
		}
	})
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.ResetBackedUp())
		// Visible in the same transaction.
		if l, err := tx.InboundGroupSessionsNotBackedUp(100); err != nil || len(l) != 6 {
			t.Errorf("in the transaction of ResetBackedUp: %d not backed up, %v; want 6", len(l), err)
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		for id, want := range recs {
			got, err := tx.InboundGroupSession("!r", id)
			must(t, err)
			want.BackedUp = false
			if got.BackedUp || got.SenderKey != want.SenderKey || got.Provenance != want.Provenance || !bytes.Equal(got.Pickle, want.Pickle) {
				t.Errorf("session %s after ResetBackedUp = %+v, want %+v", id, got, want)
			}
		}
	})
}

func testOutbound(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.PutOutboundGroupSession(machine.OutboundGroupSessionRecord{RoomID: "!a", SessionID: "1", Pickle: []byte("a")}))
		return tx.PutOutboundGroupSession(machine.OutboundGroupSessionRecord{RoomID: "!b", SessionID: "2", Pickle: []byte("b")})
	})
	update(t, s, func(tx machine.Tx) error {
		return tx.PutOutboundGroupSession(machine.OutboundGroupSessionRecord{RoomID: "!a", SessionID: "3", Pickle: []byte("a'")})
	})
	view(t, s, func(tx machine.Tx) {
		a, err := tx.OutboundGroupSession("!a")
		if err != nil || a.SessionID != "3" || string(a.Pickle) != "a'" {
			t.Errorf("OutboundGroupSession(!a) = %+v, %v", a, err)
		}
		b, err := tx.OutboundGroupSession("!b")
		if err != nil || b.SessionID != "2" || string(b.Pickle) != "b" {
			t.Errorf("OutboundGroupSession(!b) = %+v, %v", b, err)
		}
	})
	update(t, s, func(tx machine.Tx) error { return tx.DeleteOutboundGroupSession("!a") })
	view(t, s, func(tx machine.Tx) {
		_, err := tx.OutboundGroupSession("!a")
		wantNotFound(t, "deleted outbound session", err)
	})
}

func testDevices(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for _, d := range []machine.DeviceRecord{
			{UserID: "@a:x", DeviceID: "A1", Curve25519Key: "c1", Pickle: []byte("1")},
			{UserID: "@a:x", DeviceID: "A2", Curve25519Key: "c2", Pickle: []byte("2")},
			{UserID: "@b:x", DeviceID: "A1", Curve25519Key: "c3", Pickle: []byte("3")},
		} {
			if err := tx.PutDevice(d); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		ds, err := tx.Devices("@a:x")
		must(t, err)
		got := map[string]string{}
		for _, d := range ds {
			got[d.DeviceID] = d.Curve25519Key + "/" + string(d.Pickle)
		}
		if len(got) != 2 || got["A1"] != "c1/1" || got["A2"] != "c2/2" {
			t.Errorf("Devices(@a:x) = %v", got)
		}
		ds, err = tx.Devices("@b:x")
		must(t, err)
		if len(ds) != 1 || ds[0].UserID != "@b:x" || ds[0].Curve25519Key != "c3" {
			t.Errorf("Devices(@b:x) = %+v", ds)
		}
	})
	update(t, s, func(tx machine.Tx) error { return tx.DeleteDevice("@a:x", "A1") })
	view(t, s, func(tx machine.Tx) {
		ds, _ := tx.Devices("@a:x")
		if len(ds) != 1 || ds[0].DeviceID != "A2" {
			t.Errorf("Devices(@a:x) after delete = %+v", ds)
		}
	})
}

func testKeyValue(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.Put(machine.NSValues, "b", []byte("2")))
		must(t, tx.Put(machine.NSValues, "a", []byte("1")))
		must(t, tx.Put(machine.NSValues, "c", []byte{}))
		must(t, tx.Put(machine.NSValues, "B", []byte("upper")))
		must(t, tx.Put(machine.NSRequests, "a", []byte("other namespace")))
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		l, err := tx.List(machine.NSValues)
		must(t, err)
		var keys []string
		for _, kv := range l {
			keys = append(keys, kv.Key)
		}
		if fmt.Sprint(keys) != "[B a b c]" {
			t.Errorf("List keys = %v, want [B a b c] (byte order)", keys)
		}
		if v, err := tx.Get(machine.NSValues, "c"); err != nil || len(v) != 0 {
			t.Errorf("empty value: %q, %v", v, err)
		}
		if v, err := tx.Get(machine.NSRequests, "a"); err != nil || string(v) != "other namespace" {
			t.Errorf("namespaces not separate: %q, %v", v, err)
		}
		if v, err := tx.Get(machine.NSValues, "a"); err != nil || string(v) != "1" {
			t.Errorf("Get(a) = %q, %v", v, err)
		}
		l, err = tx.List(machine.NSSecrets)
		must(t, err)
		if len(l) != 0 {
			t.Errorf("List of an unused namespace = %v", l)
		}
	})
	// A namespace the machine does not know yet works the same.
	update(t, s, func(tx machine.Tx) error { return tx.Put(machine.Namespace("future"), "k", []byte("v")) })
	view(t, s, func(tx machine.Tx) {
		if v, err := tx.Get(machine.Namespace("future"), "k"); err != nil || string(v) != "v" {
			t.Errorf("unknown namespace: %q, %v", v, err)
		}
	})
}

func testCopies(t *testing.T, s machine.Store) {
	p := []byte("original")
	v := []byte("value")
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.PutAccount(machine.AccountRecord{UserID: "@a:x", DeviceID: "D", Pickle: p}))
		must(t, tx.Put(machine.NSValues, "k", v))
		p[0], v[0] = 'X', 'X' // the caller reuses its buffers
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		a, err := tx.Account()
		must(t, err)
		if string(a.Pickle) != "original" {
			t.Errorf("store aliased the pickle passed to PutAccount: %q", a.Pickle)
		}
		a.Pickle[0] = 'Y'
		got, err := tx.Get(machine.NSValues, "k")
		must(t, err)
		if string(got) != "value" {
			t.Errorf("store aliased the value passed to Put: %q", got)
		}
		got[0] = 'Y'
	})
	view(t, s, func(tx machine.Tx) {
		a, _ := tx.Account()
		if string(a.Pickle) != "original" {
			t.Errorf("store aliased the pickle it returned: %q", a.Pickle)
		}
		got, _ := tx.Get(machine.NSValues, "k")
		if string(got) != "value" {
			t.Errorf("store aliased the value it returned: %q", got)
		}
	})
}

func testTxDone(t *testing.T, s machine.Store) {
	tx := begin(t, s)
	must(t, tx.Commit())
	if err := tx.Commit(); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("second Commit: %v, want ErrTxDone", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("Rollback after Commit: %v, want nil", err)
	}
	if _, err := tx.Account(); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("Account after Commit: %v, want ErrTxDone", err)
	}
	if err := tx.Put(machine.NSValues, "k", nil); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("Put after Commit: %v, want ErrTxDone", err)
	}
	tx = begin(t, s)
	must(t, tx.Rollback())
	if err := tx.PutAccount(machine.AccountRecord{}); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("PutAccount after Rollback: %v, want ErrTxDone", err)
	}
	if err := tx.Commit(); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("Commit after Rollback: %v, want ErrTxDone", err)
	}
	view(t, s, func(tx machine.Tx) {
		_, err := tx.Get(machine.NSValues, "k")
		wantNotFound(t, "write after Commit leaked", err)
	})
}

func testSequential(t *testing.T, s machine.Store) {
	// Many short transactions, committed and rolled back in turn, each
	// seeing the previous commits: a counter.
	for i := 0; i < 50; i++ {
		tx := begin(t, s)
		n := 0
		if v, err := tx.Get(machine.NSValues, "n"); err == nil {
			fmt.Sscan(string(v), &n)
		} else if !errors.Is(err, machine.ErrNotFound) {
			t.Fatal(err)
		}
		must(t, tx.Put(machine.NSValues, "n", []byte(fmt.Sprint(n+1))))
		if i%3 == 2 {
			must(t, tx.Rollback())
		} else {
			must(t, tx.Commit())
		}
	}
	view(t, s, func(tx machine.Tx) {
		v, err := tx.Get(machine.NSValues, "n")
		if err != nil || string(v) != "34" {
			t.Errorf("counter = %q, %v; want 34", v, err)
		}
	})
}

func testLargeValue(t *testing.T, s machine.Store) {
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18) // 1 MiB, binary
	update(t, s, func(tx machine.Tx) error {
		must(t, tx.PutAccount(machine.AccountRecord{UserID: "@a:x", DeviceID: "D", Pickle: big}))
		return tx.Put(machine.NSValues, "big", big)
	})
	view(t, s, func(tx machine.Tx) {
		a, err := tx.Account()
		if err != nil || !bytes.Equal(a.Pickle, big) {
			t.Errorf("large account pickle not kept: %v", err)
		}
		v, err := tx.Get(machine.NSValues, "big")
		if err != nil || !bytes.Equal(v, big) {
			t.Errorf("large value not kept: %v", err)
		}
	})
}

func testBulkInbound(t *testing.T, s machine.Store) {
	// A key backup restore: 10,000 sessions in one transaction.
	n := 10000
	if testing.Short() {
		n = 1000
	}
	pickle := bytes.Repeat([]byte("p"), 400)
	update(t, s, func(tx machine.Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{
				RoomID: fmt.Sprintf("!room%d:x", i%37), SessionID: fmt.Sprintf("session%d", i),
				SenderKey: "k", Provenance: machine.ProvenanceBackup, BackedUp: true, Pickle: pickle,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		for _, i := range []int{0, 1, n / 2, n - 1} {
			r, err := tx.InboundGroupSession(fmt.Sprintf("!room%d:x", i%37), fmt.Sprintf("session%d", i))
			if err != nil || r.Provenance != machine.ProvenanceBackup || !bytes.Equal(r.Pickle, pickle) {
				t.Errorf("session %d: %+v, %v", i, r.SessionID, err)
			}
		}
		if l, err := tx.InboundGroupSessionsNotBackedUp(10); err != nil || len(l) != 0 {
			t.Errorf("InboundGroupSessionsNotBackedUp = %d, %v; want 0", len(l), err)
		}
	})
}

func testClose(t *testing.T, s machine.Store) {
	must(t, s.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := s.Begin(ctx)
	if err == nil {
		tx.Rollback()
		t.Fatal("Begin after Close succeeded")
	}
	if !errors.Is(err, machine.ErrClosed) {
		t.Errorf("Begin after Close: %v, want ErrClosed", err)
	}
}
