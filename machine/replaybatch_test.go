package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/megolm"
)

// replayStore counts the replay record calls the machine makes and can
// fail their writes. With batch, its Tx is a machine.ReplayBatchTx;
// without, it hides the memory store's batch methods, as a Store written
// before ReplayBatchTx would.
type replayStore struct {
	machine.Store
	batch                   bool
	failPut                 bool
	gets, puts              int // single calls
	batchGets, batchPuts    int // ReplayBatchTx calls
	batchKeys, batchRecords int // what they carried
}

var errReplayPut = errors.New("replay record write failed")

func (s *replayStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	c := &replayTx{Tx: tx, s: s}
	if s.batch {
		return replayBatchTx{c}, nil
	}
	return c, nil
}

type replayTx struct {
	machine.Tx
	s *replayStore
}

func (t *replayTx) ReplayRecord(roomID, sessionID string, index uint32) (machine.ReplayRecord, error) {
	t.s.gets++
	return t.Tx.ReplayRecord(roomID, sessionID, index)
}

func (t *replayTx) PutReplayRecord(r machine.ReplayRecord) error {
	t.s.puts++
	if t.s.failPut {
		return errReplayPut
	}
	return t.Tx.PutReplayRecord(r)
}

type replayBatchTx struct{ *replayTx }

func (t replayBatchTx) ReplayRecords(keys []machine.ReplayKey) (map[machine.ReplayKey]machine.ReplayRecord, error) {
	t.s.batchGets++
	t.s.batchKeys += len(keys)
	return t.Tx.(machine.ReplayBatchTx).ReplayRecords(keys)
}

func (t replayBatchTx) PutReplayRecords(records []machine.ReplayRecord) error {
	t.s.batchPuts++
	t.s.batchRecords += len(records)
	if t.s.failPut {
		// Some written, then the failure: the machine rolls back.
		t.Tx.(machine.ReplayBatchTx).PutReplayRecords(records[:1])
		return errReplayPut
	}
	return t.Tx.(machine.ReplayBatchTx).PutReplayRecords(records)
}

// withEventID returns ev with another event ID: a replay of its
// ciphertext.
func withEventID(t *testing.T, ev json.RawMessage, id string) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	m["event_id"] = id
	b, _ := json.Marshal(m)
	return b
}

// TestDecryptRoomEventsReplayBatch: with a machine.ReplayBatchTx,
// DecryptRoomEvents looks up a batch's replay records in one call and
// writes the new ones in one; without, one call of each per event; the
// outcome is the same. Two events at the same index in one batch: the
// second is a replay unless it is the same event. A batch whose replay
// records fail to be written records nothing.
func TestDecryptRoomEventsReplayBatch(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@carol:x", "CAROL")
	const room = "!r"
	g1, _ := megolm.NewGroupSession()
	g2, _ := megolm.NewGroupSession()
	sessions := []keybackup.ExportedSession{exportOf(t, r, room, g1), exportOf(t, r, room, g2)}
	payload := map[string]any{"type": "m.room.message", "content": map[string]any{}, "room_id": room}
	a0 := r.megolmEvent(g1, room, r.user, payload)
	a1 := r.megolmEvent(g1, room, r.user, payload)
	b0 := r.megolmEvent(g2, room, r.user, payload)
	a0Replay := withEventID(t, a0, "$replay")

	for _, batch := range []bool{false, true} {
		s := &replayStore{Store: memstore.New(), batch: batch}
		m, err := machine.New(ctx, machine.Options{UserID: "@bob:x", DeviceID: "BOB", Store: s, PickleKey: pickleKey(9)})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := m.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup); err != nil || res.Imported != 2 {
			t.Fatalf("batch=%v: import %+v, %v", batch, res, err)
		}

		// A failed write: the batch fails, and nothing is recorded.
		s.failPut = true
		if _, _, err := m.DecryptRoomEvents(ctx, room, []json.RawMessage{a0, b0}); !errors.Is(err, errReplayPut) {
			t.Fatalf("batch=%v: failed write: %v", batch, err)
		}
		s.failPut = false
		tx, err := s.Store.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []*megolm.GroupSession{g1, g2} {
			if _, err := tx.ReplayRecord(room, g.SessionID(), 0); !errors.Is(err, machine.ErrNotFound) {
				t.Errorf("batch=%v: a replay record left by a failed batch (%v)", batch, err)
			}
		}
		tx.Rollback()

		for _, step := range []struct {
			name                  string
			events                []json.RawMessage
			replay                []bool
			newKeys, distinctKeys int
		}{
			// a0 again is the same event; its replay is not.
			{"first", []json.RawMessage{a0, a0Replay, a0, b0}, []bool{false, true, false, false}, 2, 2},
			// Against the records of the first batch.
			{"second", []json.RawMessage{a1, a0Replay, a0, b0, a1}, []bool{false, true, false, false, false}, 1, 3},
		} {
			s.gets, s.puts, s.batchGets, s.batchPuts, s.batchKeys, s.batchRecords = 0, 0, 0, 0, 0, 0
			out, errs, err := m.DecryptRoomEvents(ctx, room, step.events)
			if err != nil {
				t.Fatalf("batch=%v %s: %v", batch, step.name, err)
			}
			for i, replay := range step.replay {
				switch {
				case replay && !errors.Is(errs[i], machine.ErrReplay):
					t.Errorf("batch=%v %s: event %d: %v, want ErrReplay", batch, step.name, i, errs[i])
				case replay && out[i] != nil:
					t.Errorf("batch=%v %s: event %d refused and returned", batch, step.name, i)
				case !replay && (errs[i] != nil || out[i] == nil):
					t.Errorf("batch=%v %s: event %d: %v", batch, step.name, i, errs[i])
				}
			}
			if batch {
				if s.gets != 0 || s.puts != 0 || s.batchGets != 1 || s.batchPuts != 1 || s.batchRecords != step.newKeys {
					t.Errorf("batch %s: %d+%d single calls, %d lookups and %d writes of %d records; want 0, 1 and 1 of %d",
						step.name, s.gets, s.puts, s.batchGets, s.batchPuts, s.batchRecords, step.newKeys)
				}
			} else if s.gets != step.distinctKeys || s.puts != step.newKeys {
				t.Errorf("no batch %s: %d lookups and %d writes; want %d and %d", step.name, s.gets, s.puts, step.distinctKeys, step.newKeys)
			}
		}
		// One event, as DecryptRoomEvent gives: the single calls, with
		// the batch or without.
		s.gets, s.puts, s.batchGets, s.batchPuts = 0, 0, 0, 0
		if _, err := m.DecryptRoomEvent(ctx, room, a1); err != nil {
			t.Errorf("batch=%v: a1 again: %v", batch, err)
		}
		if _, err := m.DecryptRoomEvent(ctx, room, withEventID(t, a1, "$a1-replay")); !errors.Is(err, machine.ErrReplay) {
			t.Errorf("batch=%v: a replay of a1 alone: %v, want ErrReplay", batch, err)
		}
		if s.gets != 2 || s.puts != 0 || s.batchGets != 0 || s.batchPuts != 0 {
			t.Errorf("batch=%v: one event at a time: %d lookups, %d writes, %d+%d batch calls; want 2, 0 and none", batch, s.gets, s.puts, s.batchGets, s.batchPuts)
		}
		m.Close()
	}
}
