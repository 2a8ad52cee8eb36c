package machine_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
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
