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

// testContextEndsAfterBegin checks that the ctx given to Begin bounds Begin
// only: the transaction outlives it, and its writes commit.
func testContextEndsAfterBegin(t *testing.T, s machine.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := s.Begin(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Begin: %v", err)
	}
	cancel()
	must(t, writeOneOfEach(tx, "one"))
	checkOneOfEach(t, tx, "one")
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after the ctx of Begin ended: %v", err)
	}
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "one") })

	// A ctx whose deadline passes while the transaction is open.
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	tx, err = s.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	<-ctx.Done()
	must(t, writeOneOfEach(tx, "two"))
	must(t, tx.Rollback())
	view(t, s, func(tx machine.Tx) { checkOneOfEach(t, tx, "one") })
}

// batchTx returns the store's transaction as a machine.BatchTx, or skips
// the test if the store does not have it.
func batchTx(t *testing.T, tx machine.Tx) machine.BatchTx {
	t.Helper()
	bt, ok := tx.(machine.BatchTx)
	if !ok {
		tx.Rollback()
		t.Skip("the store's Tx does not implement machine.BatchTx")
	}
	return bt
}

func ik(room, id string) machine.InboundGroupSessionKey {
	return machine.InboundGroupSessionKey{RoomID: room, SessionID: id}
}

func inboundRec(room, id, label string) machine.InboundGroupSessionRecord {
	return machine.InboundGroupSessionRecord{RoomID: room, SessionID: id, SenderKey: "sk-" + label,
		Provenance: machine.ProvenanceForwarded, BackedUp: label == "backed", Pickle: []byte("pickle-" + label)}
}

// testBatchInbound checks BatchTx.InboundGroupSessionsByID: committed
// sessions, the transaction's own puts and deletes, missing keys, keys
// that mix the room of one session with the ID of another, duplicates, no
// keys, copies, and ErrTxDone.
func testBatchInbound(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for _, r := range []machine.InboundGroupSessionRecord{
			inboundRec("!a:x", "s1", "a1"), inboundRec("!a:x", "s2", "backed"),
			inboundRec("!b:x", "s3", "b3"), inboundRec("!b:x", "gone", "gone"),
			inboundRec("!c\x00:x", "s\x00\xff", "binary"),
		} {
			must(t, tx.PutInboundGroupSession(r))
		}
		return nil
	})
	tx := begin(t, s)
	defer tx.Rollback()
	bt := batchTx(t, tx)

	got, err := bt.InboundGroupSessionsByID(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("no keys: %v, %v; want an empty map", got, err)
	}

	// This transaction's writes: a new session, a replaced one, a deleted
	// one.
	must(t, tx.PutInboundGroupSession(inboundRec("!b:x", "s4", "new")))
	must(t, tx.PutInboundGroupSession(inboundRec("!a:x", "s1", "replaced")))
	must(t, tx.DeleteInboundGroupSession("!b:x", "gone"))

	keys := []machine.InboundGroupSessionKey{
		ik("!a:x", "s1"), ik("!a:x", "s2"), ik("!b:x", "s3"), ik("!b:x", "s4"),
		ik("!c\x00:x", "s\x00\xff"),
		ik("!b:x", "gone"),    // deleted in this transaction
		ik("!a:x", "s3"),      // s3 is in !b:x
		ik("!b:x", "s1"),      // s1 is in !a:x
		ik("!a:x", "missing"), // never stored
		ik("!zz:x", "s1"),     // no such room
		ik("", ""),
		ik("!a:x", "s1"), ik("!b:x", "s4"), ik("!a:x", "s2"), // duplicates
	}
	want := map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord{
		ik("!a:x", "s1"):            inboundRec("!a:x", "s1", "replaced"),
		ik("!a:x", "s2"):            inboundRec("!a:x", "s2", "backed"),
		ik("!b:x", "s3"):            inboundRec("!b:x", "s3", "b3"),
		ik("!b:x", "s4"):            inboundRec("!b:x", "s4", "new"),
		ik("!c\x00:x", "s\x00\xff"): inboundRec("!c\x00:x", "s\x00\xff", "binary"),
	}
	got, err = bt.InboundGroupSessionsByID(keys)
	if err != nil {
		t.Fatalf("InboundGroupSessionsByID: %v", err)
	}
	checkBatch(t, got, want)
	// The same as one lookup at a time.
	for _, k := range keys {
		r, err := tx.InboundGroupSession(k.RoomID, k.SessionID)
		w, ok := want[k]
		switch {
		case !ok:
			wantNotFound(t, fmt.Sprintf("InboundGroupSession(%q, %q)", k.RoomID, k.SessionID), err)
		case err != nil || !sameInbound(r, w):
			t.Errorf("InboundGroupSession(%q, %q) = %+v, %v; want %+v", k.RoomID, k.SessionID, r, err, w)
		}
	}
	// Copies: changing a returned pickle changes nothing stored.
	got[ik("!a:x", "s2")].Pickle[0] ^= 0xff
	got, err = bt.InboundGroupSessionsByID([]machine.InboundGroupSessionKey{ik("!a:x", "s2")})
	must(t, err)
	checkBatch(t, got, map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord{ik("!a:x", "s2"): want[ik("!a:x", "s2")]})
	// Only missing keys.
	got, err = bt.InboundGroupSessionsByID([]machine.InboundGroupSessionKey{ik("!a:x", "missing"), ik("!a:x", "missing")})
	if err != nil || len(got) != 0 {
		t.Errorf("missing keys: %v, %v; want an empty map", got, err)
	}

	must(t, tx.Commit())
	if _, err := bt.InboundGroupSessionsByID(keys); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("InboundGroupSessionsByID after Commit: %v, want ErrTxDone", err)
	}
	tx = begin(t, s)
	bt = batchTx(t, tx)
	must(t, tx.Rollback())
	if _, err := bt.InboundGroupSessionsByID(keys); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("InboundGroupSessionsByID after Rollback: %v, want ErrTxDone", err)
	}
	// What the first transaction wrote is committed.
	view(t, s, func(tx machine.Tx) {
		got, err := batchTx(t, tx).InboundGroupSessionsByID(keys)
		must(t, err)
		checkBatch(t, got, want)
	})
}

// testBatchInboundBulk looks up 2,500 keys at once, half of them stored,
// some put in the same transaction and not committed, each key twice:
// more than any one statement of an SQL store takes.
func testBatchInboundBulk(t *testing.T, s machine.Store) {
	const n = 2500
	rec := func(i int) machine.InboundGroupSessionRecord {
		return inboundRec(fmt.Sprintf("!room%d:x", i%7), fmt.Sprintf("session%d", i), fmt.Sprint(i))
	}
	update(t, s, func(tx machine.Tx) error {
		for i := 0; i < n; i += 2 {
			must(t, tx.PutInboundGroupSession(rec(i)))
		}
		return nil
	})
	tx := begin(t, s)
	defer tx.Rollback()
	bt := batchTx(t, tx)
	want := map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord{}
	var keys []machine.InboundGroupSessionKey
	for i := 0; i < n; i++ {
		r := rec(i)
		if i%2 == 0 {
			want[ik(r.RoomID, r.SessionID)] = r
		}
		if i%10 == 1 {
			must(t, tx.PutInboundGroupSession(r))
			want[ik(r.RoomID, r.SessionID)] = r
		}
		keys = append(keys, ik(r.RoomID, r.SessionID))
	}
	keys = append(keys, keys...)
	got, err := bt.InboundGroupSessionsByID(keys)
	if err != nil {
		t.Fatalf("InboundGroupSessionsByID: %v", err)
	}
	checkBatch(t, got, want)
}

func sameInbound(a, b machine.InboundGroupSessionRecord) bool {
	return a.RoomID == b.RoomID && a.SessionID == b.SessionID && a.SenderKey == b.SenderKey &&
		a.Provenance == b.Provenance && a.BackedUp == b.BackedUp && bytes.Equal(a.Pickle, b.Pickle)
}

func checkBatch(t *testing.T, got, want map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("session (%q, %q) missing from the batch", k.RoomID, k.SessionID)
		} else if !sameInbound(g, w) {
			t.Errorf("session (%q, %q) = %+v, want %+v", k.RoomID, k.SessionID, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("session (%q, %q) in the batch, want none", k.RoomID, k.SessionID)
		}
	}
}

// testManyMisses runs many Gets and Deletes that find nothing, as a
// restore of many sessions does, around Puts and Deletes that find
// something: a store that remembers a namespace is empty must forget it
// at the next Put.
func testManyMisses(t *testing.T, s machine.Store) {
	ns, other := machine.NSWithheld, machine.NSKeyRequests
	update(t, s, func(tx machine.Tx) error { return tx.Put(other, "kept", []byte("v")) })
	misses := func(tx machine.Tx, ns machine.Namespace) {
		t.Helper()
		for i := 0; i < 20; i++ {
			_, err := tx.Get(ns, fmt.Sprint("missing", i))
			wantNotFound(t, "Get of a missing key", err)
			must(t, tx.Delete(ns, fmt.Sprint("missing", i)))
		}
	}
	get := func(tx machine.Tx, ns machine.Namespace, k, want string) {
		t.Helper()
		v, err := tx.Get(ns, k)
		if want == "" {
			wantNotFound(t, "Get "+k, err)
		} else if err != nil || string(v) != want {
			t.Errorf("Get %s = %q, %v; want %q", k, v, err, want)
		}
	}
	update(t, s, func(tx machine.Tx) error {
		misses(tx, ns)
		misses(tx, other)
		get(tx, other, "kept", "v")
		must(t, tx.Put(ns, "a", []byte("1")))
		get(tx, ns, "a", "1")
		misses(tx, ns)
		get(tx, ns, "a", "1")
		must(t, tx.Delete(ns, "a"))
		get(tx, ns, "a", "")
		misses(tx, ns)
		must(t, tx.Put(ns, "b", []byte("2")))
		misses(tx, ns)
		get(tx, ns, "b", "2")
		return nil
	})
	update(t, s, func(tx machine.Tx) error {
		misses(tx, other)
		must(t, tx.Delete(other, "kept"))
		get(tx, other, "kept", "")
		misses(tx, ns)
		get(tx, ns, "b", "2")
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		get(tx, ns, "a", "")
		get(tx, ns, "b", "2")
		get(tx, other, "kept", "")
		if l, err := tx.List(other); err != nil || len(l) != 0 {
			t.Errorf("List after deleting the last key: %v, %v", l, err)
		}
	})
}

// replayBatchTx returns the store's transaction as a
// machine.ReplayBatchTx, or skips the test if the store does not have it.
func replayBatchTx(t *testing.T, tx machine.Tx) machine.ReplayBatchTx {
	t.Helper()
	bt, ok := tx.(machine.ReplayBatchTx)
	if !ok {
		tx.Rollback()
		t.Skip("the store's Tx does not implement machine.ReplayBatchTx")
	}
	return bt
}

func rk(room, id string, index uint32) machine.ReplayKey {
	return machine.ReplayKey{RoomID: room, SessionID: id, Index: index}
}

func replayRec(room, id string, index uint32, event string) machine.ReplayRecord {
	return machine.ReplayRecord{RoomID: room, SessionID: id, Index: index, EventID: event, Timestamp: int64(index)*1000 + int64(len(event))}
}

// testBatchReplay checks machine.ReplayBatchTx: committed records, the
// transaction's own single and batch writes (the last of two with the same
// key stays), records of a deleted session, keys that differ from a
// record's in one field, duplicates, no keys, the same answers as
// ReplayRecord, Rollback discarding a batch write, and ErrTxDone.
func testBatchReplay(t *testing.T, s machine.Store) {
	update(t, s, func(tx machine.Tx) error {
		for _, r := range []machine.ReplayRecord{
			replayRec("!a:x", "s1", 0, "$a0"), replayRec("!a:x", "s1", 1, "$a1"),
			replayRec("!a:x", "s2", 0, "$b0"), replayRec("!b:x", "gone", 5, "$gone"),
			replayRec("!c\x00:x", "s\x00\xff", math.MaxUint32, "$binary\x00"),
		} {
			must(t, tx.PutInboundGroupSession(inboundRec(r.RoomID, r.SessionID, "x")))
			must(t, tx.PutReplayRecord(r))
		}
		return nil
	})
	tx := begin(t, s)
	defer tx.Rollback()
	bt := replayBatchTx(t, tx)

	got, err := bt.ReplayRecords(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("no keys: %v, %v; want an empty map", got, err)
	}
	must(t, bt.PutReplayRecords(nil))

	must(t, tx.PutReplayRecord(replayRec("!a:x", "s1", 2, "$single")))
	// A batch of one, over a stored record with the same values.
	must(t, bt.PutReplayRecords([]machine.ReplayRecord{replayRec("!a:x", "s2", 0, "$b0")}))
	must(t, bt.PutReplayRecords([]machine.ReplayRecord{
		replayRec("!a:x", "s1", 3, "$new"),
		replayRec("!a:x", "s1", 1, "$replaced"),
		replayRec("!a:x", "s1", 4, "$first"), replayRec("!a:x", "s1", 4, "$last"),
	}))
	must(t, tx.DeleteInboundGroupSession("!b:x", "gone"))

	keys := []machine.ReplayKey{
		rk("!a:x", "s1", 0), rk("!a:x", "s1", 1), rk("!a:x", "s1", 2), rk("!a:x", "s1", 3), rk("!a:x", "s1", 4),
		rk("!a:x", "s2", 0), rk("!c\x00:x", "s\x00\xff", math.MaxUint32),
		rk("!b:x", "gone", 5), // its session was deleted in this transaction
		rk("!a:x", "s2", 1),   // another index
		rk("!b:x", "s1", 0),   // another room
		rk("!a:x", "s3", 0),   // another session
		rk("", "", 0),
		rk("!a:x", "s1", 0), rk("!a:x", "s1", 3), rk("!a:x", "s2", 1), // duplicates
	}
	want := map[machine.ReplayKey]machine.ReplayRecord{
		rk("!a:x", "s1", 0):                         replayRec("!a:x", "s1", 0, "$a0"),
		rk("!a:x", "s1", 1):                         replayRec("!a:x", "s1", 1, "$replaced"),
		rk("!a:x", "s1", 2):                         replayRec("!a:x", "s1", 2, "$single"),
		rk("!a:x", "s1", 3):                         replayRec("!a:x", "s1", 3, "$new"),
		rk("!a:x", "s1", 4):                         replayRec("!a:x", "s1", 4, "$last"),
		rk("!a:x", "s2", 0):                         replayRec("!a:x", "s2", 0, "$b0"),
		rk("!c\x00:x", "s\x00\xff", math.MaxUint32): replayRec("!c\x00:x", "s\x00\xff", math.MaxUint32, "$binary\x00"),
	}
	got, err = bt.ReplayRecords(keys)
	if err != nil {
		t.Fatalf("ReplayRecords: %v", err)
	}
	checkReplayBatch(t, got, want)
	// The same as one lookup at a time.
	for _, k := range keys {
		r, err := tx.ReplayRecord(k.RoomID, k.SessionID, k.Index)
		w, ok := want[k]
		switch {
		case !ok:
			wantNotFound(t, fmt.Sprintf("ReplayRecord(%q, %q, %d)", k.RoomID, k.SessionID, k.Index), err)
		case err != nil || r != w:
			t.Errorf("ReplayRecord(%q, %q, %d) = %+v, %v; want %+v", k.RoomID, k.SessionID, k.Index, r, err, w)
		}
	}
	must(t, tx.Commit())
	if _, err := bt.ReplayRecords(keys); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("ReplayRecords after Commit: %v, want ErrTxDone", err)
	}
	if err := bt.PutReplayRecords([]machine.ReplayRecord{replayRec("!a:x", "s1", 9, "$late")}); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("PutReplayRecords after Commit: %v, want ErrTxDone", err)
	}

	// A batch write rolled back leaves nothing.
	tx = begin(t, s)
	bt = replayBatchTx(t, tx)
	must(t, bt.PutReplayRecords([]machine.ReplayRecord{replayRec("!a:x", "s1", 0, "$rolledback"), replayRec("!a:x", "s1", 7, "$rolledback")}))
	must(t, tx.Rollback())
	if _, err := bt.ReplayRecords(keys); !errors.Is(err, machine.ErrTxDone) {
		t.Errorf("ReplayRecords after Rollback: %v, want ErrTxDone", err)
	}
	view(t, s, func(tx machine.Tx) {
		got, err := replayBatchTx(t, tx).ReplayRecords(append(keys, rk("!a:x", "s1", 7)))
		must(t, err)
		checkReplayBatch(t, got, want)
	})
}

// testBatchReplayBulk writes 2,500 replay records in one batch, half of
// them over records already stored, and looks up 5,000 keys at once, each
// twice: more than any one statement of an SQL store takes.
func testBatchReplayBulk(t *testing.T, s machine.Store) {
	const n = 2500
	rec := func(i int, event string) machine.ReplayRecord {
		return replayRec(fmt.Sprintf("!room%d:x", i%7), fmt.Sprintf("session%d", i%13), uint32(i), event)
	}
	update(t, s, func(tx machine.Tx) error {
		for i := 0; i < n; i += 2 {
			must(t, tx.PutReplayRecord(rec(i, "$old")))
		}
		return nil
	})
	want := map[machine.ReplayKey]machine.ReplayRecord{}
	var keys []machine.ReplayKey
	update(t, s, func(tx machine.Tx) error {
		bt := replayBatchTx(t, tx)
		var batch []machine.ReplayRecord
		for i := 0; i < 2*n; i++ {
			r := rec(i, "$old")
			switch {
			case i < n && i%4 == 0:
				r = rec(i, "$new")
				batch = append(batch, r)
			case i < n && i%2 == 1:
				batch = append(batch, r)
			case i >= n || i%2 == 1:
				keys = append(keys, machine.ReplayKey{RoomID: r.RoomID, SessionID: r.SessionID, Index: r.Index})
				continue
			}
			want[machine.ReplayKey{RoomID: r.RoomID, SessionID: r.SessionID, Index: r.Index}] = r
			keys = append(keys, machine.ReplayKey{RoomID: r.RoomID, SessionID: r.SessionID, Index: r.Index})
		}
		must(t, bt.PutReplayRecords(batch))
		got, err := bt.ReplayRecords(append(keys, keys...))
		if err != nil {
			t.Fatalf("ReplayRecords: %v", err)
		}
		checkReplayBatch(t, got, want)
		return nil
	})
	view(t, s, func(tx machine.Tx) {
		got, err := replayBatchTx(t, tx).ReplayRecords(keys)
		must(t, err)
		checkReplayBatch(t, got, want)
	})
}

func checkReplayBatch(t *testing.T, got, want map[machine.ReplayKey]machine.ReplayRecord) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("replay record (%q, %q, %d) missing from the batch", k.RoomID, k.SessionID, k.Index)
		} else if g != w {
			t.Errorf("replay record (%q, %q, %d) = %+v, want %+v", k.RoomID, k.SessionID, k.Index, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("replay record (%q, %q, %d) in the batch, want none", k.RoomID, k.SessionID, k.Index)
		}
	}
}
