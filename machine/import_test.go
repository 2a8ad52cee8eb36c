package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/megolm"
)

func exportOf(t testing.TB, r *rogue, room string, g *megolm.GroupSession) keybackup.ExportedSession {
	in, err := megolm.NewInboundGroupSession(g.SessionKey())
	if err != nil {
		t.Fatal(err)
	}
	return keybackup.NewExportedSession(room, in, r.a.Curve25519Key(), r.a.Ed25519Key(), nil)
}

func TestImportProvenance(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@carol:x", "CAROL")
	msg := func(g *megolm.GroupSession, room string) []byte {
		return r.megolmEvent(g, room, r.user, map[string]any{"type": "m.room.message", "content": map[string]any{}, "room_id": room})
	}

	// A key received directly stays direct when a backup copy arrives.
	g := r.sendRoomKey(w.bob, w.room)
	ev := msg(g, w.room) // index 0
	w.bob.sync()
	res, err := w.bob.m.ImportRoomKeys(ctx, []keybackup.ExportedSession{exportOf(t, r, w.room, g)}, machine.ProvenanceBackup)
	if err != nil || res.Imported != 0 || len(res.Errors) != 0 {
		t.Fatalf("import of a known session: %+v, %v", res, err)
	}
	if d := w.bob.decrypt(w.room, ev); d.Provenance != machine.ProvenanceDirect {
		t.Errorf("after a backup copy: provenance %s", d.Provenance)
	}

	// A key known only from backup says so.
	g2, _ := megolm.NewGroupSession()
	ex2 := exportOf(t, r, "!other:x", g2)
	ev2 := msg(g2, "!other:x")
	res, err = w.bob.m.ImportRoomKeys(ctx, []keybackup.ExportedSession{ex2}, machine.ProvenanceBackup)
	if err != nil || res.Imported != 1 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if d := w.bob.decrypt("!other:x", ev2); d.Provenance != machine.ProvenanceBackup {
		t.Errorf("restored key: provenance %s", d.Provenance)
	}

	// A copy with the same session ID but another ratchet is refused.
	bad := exportOf(t, r, w.room, g)
	in, _ := megolm.ParseExportedSessionKey(bad.SessionKey)
	b := in.Bytes()
	b[10] ^= 1 // inside the ratchet; the signing key (the ID) is unchanged
	k, err := megolm.NewExportedSessionKey(b)
	if err != nil {
		t.Fatal(err)
	}
	bad.SessionKey = k.Encode()
	res, err = w.bob.m.ImportRoomKeys(ctx, []keybackup.ExportedSession{bad}, machine.ProvenanceExport)
	if err != nil || len(res.Errors) != 1 {
		t.Fatalf("unconnected copy: %+v, %v", res, err)
	}
	if d := w.bob.decrypt(w.room, ev); d.Provenance != machine.ProvenanceDirect {
		t.Errorf("after the refused copy: %s", d.Provenance)
	}

	// Import may not claim to be direct.
	if _, err := w.bob.m.ImportRoomKeys(ctx, nil, machine.ProvenanceDirect); !errors.Is(err, machine.ErrBadOptions) {
		t.Errorf("direct import: %v", err)
	}
}

func TestImportBulk(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@carol:x", "CAROL")
	n := 2000
	if testing.Short() {
		n = 200
	}
	var sessions []keybackup.ExportedSession
	for i := 0; i < n; i++ {
		g, _ := megolm.NewGroupSession()
		sessions = append(sessions, exportOf(t, r, fmt.Sprint("!r", i%10), g))
	}
	res, err := w.bob.m.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup)
	if err != nil || res.Imported != n {
		t.Fatalf("bulk import: %d of %d, %v", res.Imported, n, err)
	}
}

// A session forged into the backup (anyone can encrypt to the backup's
// public key) claiming a verified device's keys decrypts as
// VerificationUnauthenticated, not VerificationVerified (review F5).
func TestImportedSessionNeverReportsVerified(t *testing.T) {
	w := newWorld(t)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.bob.flush()
	ds, _ := w.bob.m.Devices(ctx, w.alice.user)
	if err := w.bob.m.SetDeviceVerified(ctx, w.alice.user, w.alice.dev, ds[0].Ed25519, true); err != nil {
		t.Fatal(err)
	}
	aliceCurve, aliceEd, _ := w.alice.m.IdentityKeys(ctx)
	g, _ := megolm.NewGroupSession() // the attacker's
	in, _ := megolm.NewInboundGroupSession(g.SessionKey())
	ex := keybackup.NewExportedSession(w.room, in, aliceCurve, aliceEd, nil)
	if _, err := w.bob.m.ImportRoomKeys(ctx, []keybackup.ExportedSession{ex}, machine.ProvenanceBackup); err != nil {
		t.Fatal(err)
	}
	r := &rogue{t: t}
	ev := r.megolmEvent(g, w.room, w.alice.user, map[string]any{"type": "m.room.message", "content": map[string]any{"body": "forged"}, "room_id": w.room})
	d, err := w.bob.m.DecryptRoomEvent(ctx, w.room, ev)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verification == machine.VerificationVerified {
		t.Fatalf("forged backup session: sender %s, device %s, verification %s, provenance %s", d.Sender, d.SenderDevice.DeviceID, d.Verification, d.Provenance)
	}
}

// countingStore counts the inbound session lookups the machine makes. With
// batch, its Tx is a machine.BatchTx; without, it hides the memory store's
// InboundGroupSessionsByID, as a Store written before BatchTx would.
type countingStore struct {
	machine.Store
	batch           bool
	single, batched int
}

func (s *countingStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	c := &countingTx{Tx: tx, s: s}
	if s.batch {
		return countingBatchTx{c}, nil
	}
	return c, nil
}

type countingTx struct {
	machine.Tx
	s *countingStore
}

func (t *countingTx) InboundGroupSession(roomID, sessionID string) (machine.InboundGroupSessionRecord, error) {
	t.s.single++
	return t.Tx.InboundGroupSession(roomID, sessionID)
}

type countingBatchTx struct{ *countingTx }

func (t countingBatchTx) InboundGroupSessionsByID(keys []machine.InboundGroupSessionKey) (map[machine.InboundGroupSessionKey]machine.InboundGroupSessionRecord, error) {
	t.s.batched++
	return t.Tx.(machine.BatchTx).InboundGroupSessionsByID(keys)
}

// ImportRoomKeys looks the restored sessions up in batches when the store
// has machine.BatchTx, one at a time otherwise, with the same outcome:
// known sessions skipped or improved, a conflicting copy refused.
func TestImportLooksUpInBatches(t *testing.T) {
	w := newWorld(t)
	r := newRogue(t, w.hs, "@carol:x", "CAROL")
	const n = 2500
	var sessions []keybackup.ExportedSession
	var groups []*megolm.GroupSession
	for i := 0; i < n; i++ {
		g, _ := megolm.NewGroupSession()
		groups = append(groups, g)
		sessions = append(sessions, exportOf(t, r, fmt.Sprint("!r", i%10), g))
	}
	// A copy of session 7 with another ratchet and the same ID.
	bad := sessions[7]
	in, _ := megolm.ParseExportedSessionKey(bad.SessionKey)
	b := in.Bytes()
	b[10] ^= 1
	k, err := megolm.NewExportedSessionKey(b)
	if err != nil {
		t.Fatal(err)
	}
	bad.SessionKey = k.Encode()
	// Sessions 0-99 are known before, 100-199 from a later index (the
	// import lowers it), and session 5 is imported twice.
	var known []keybackup.ExportedSession
	for i := 0; i < 200; i++ {
		if i >= 100 {
			groups[i].Encrypt([]byte("advance"))
			in, _ := megolm.NewInboundGroupSession(groups[i].SessionKey())
			known = append(known, keybackup.NewExportedSession(sessions[i].RoomID, in, r.a.Curve25519Key(), r.a.Ed25519Key(), nil))
			continue
		}
		known = append(known, sessions[i])
	}
	all := append(append(append([]keybackup.ExportedSession{}, sessions...), sessions[5]), bad)

	// Events of three sessions of one room, for DecryptRoomEvents after a
	// restart.
	var events []json.RawMessage
	for _, i := range []int{0, 10, 20, 10} {
		events = append(events, r.megolmEvent(groups[i], "!r0", r.user, map[string]any{"type": "m.room.message", "content": map[string]any{}, "room_id": "!r0"}))
	}

	var results []*machine.ImportResult
	for _, batch := range []bool{false, true} {
		s := &countingStore{Store: memstore.New(), batch: batch}
		m, err := machine.New(ctx, machine.Options{UserID: "@bob:x", DeviceID: "BOB", Store: s, PickleKey: pickleKey(9)})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := m.ImportRoomKeys(ctx, known, machine.ProvenanceBackup); err != nil || res.Imported != len(known) {
			t.Fatalf("batch=%v: first import %+v, %v", batch, res, err)
		}
		s.single, s.batched = 0, 0
		res, err := m.ImportRoomKeys(ctx, all, machine.ProvenanceBackup)
		if err != nil {
			t.Fatalf("batch=%v: %v", batch, err)
		}
		// 2,300 new, 100 lowered; the duplicate and the copy of a known
		// index are not counted; the other ratchet is refused.
		if res.Imported != n-100 || len(res.Errors) != 1 || res.Errors[len(all)-1] == nil {
			t.Errorf("batch=%v: imported %d, errors %v; want %d and one for the last entry", batch, res.Imported, res.Errors, n-100)
		}
		results = append(results, res)
		if batch {
			if s.single != 0 || s.batched != 3 {
				t.Errorf("batch: %d single lookups and %d batches; want 0 and 3 (1,000 sessions a batch)", s.single, s.batched)
			}
		} else if s.single < len(all) {
			t.Errorf("no batch: %d single lookups; want at least %d", s.single, len(all))
		}
		m.Close()

		// DecryptRoomEvents after a restart looks up the batch's sessions
		// at once.
		m, err = machine.New(ctx, machine.Options{UserID: "@bob:x", DeviceID: "BOB", Store: s, PickleKey: pickleKey(9)})
		if err != nil {
			t.Fatal(err)
		}
		s.single, s.batched = 0, 0
		_, errs, err := m.DecryptRoomEvents(ctx, "!r0", events)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("batch=%v: event %d: %v", batch, i, err)
			}
		}
		if batch && (s.single != 0 || s.batched != 1) {
			t.Errorf("DecryptRoomEvents: %d single lookups and %d batches; want 0 and 1", s.single, s.batched)
		}
		if !batch && s.single != 3 {
			t.Errorf("DecryptRoomEvents without BatchTx: %d single lookups; want 3", s.single)
		}
		m.Close()
	}
	if results[0].Imported != results[1].Imported || len(results[0].Errors) != len(results[1].Errors) {
		t.Errorf("with and without BatchTx: %+v and %+v", results[0], results[1])
	}
}
