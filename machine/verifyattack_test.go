package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/machine/memstore"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// runSASNoQuery runs a SAS verification between a and b like
// runSASChecked, without querying anyone first, and calls onDone for each
// side right after the sync in which its verification finished.
func runSASNoQuery(t *testing.T, a, b *client, onDone func(c *client)) {
	t.Helper()
	va, out, err := a.m.Verifications().RequestToDevice(b.user, b.dev)
	a.sendVerif(out, err)
	b.sync()
	vb := b.m.Verifications().Verification("", va.FlowID())
	if vb == nil {
		t.Fatal("no request at b")
	}
	b.sendVerif(vb.Accept())
	a.sync()
	a.sendVerif(va.StartSAS())
	for i := 0; i < 3; i++ {
		b.sync()
		a.sync()
	}
	a.sendVerif(va.Confirm())
	b.sendVerif(vb.Confirm())
	seen := map[*client]bool{}
	for i := 0; i < 4; i++ {
		for _, p := range []struct {
			c *client
			v *sas.Verification
		}{{a, va}, {b, vb}} {
			res, err := p.c.m.ReceiveSync(ctx, p.c.hs.Sync(p.c.user, p.c.dev))
			if err != nil {
				t.Fatal(err)
			}
			p.c.lastResult = res
			if p.v.State() == sas.StateDone && !seen[p.c] {
				seen[p.c] = true
				onDone(p.c)
			}
			p.c.flush()
		}
	}
	if !seen[a] || !seen[b] {
		t.Fatalf("verification not done: %s %s", va.State(), vb.State())
	}
}

// TestAcceptedIdentityChangeNotReflectedAsVerified: the server swaps Bob's
// master key for one of its own and adds a device cross-signed by it;
// Alice accepts the change (AcceptIdentity: she acknowledges it, she does
// not verify the new key), then verifies Bob's real device, whose MAC
// carries Bob's real (pinned) master key. The server's device, cross-signed
// under the swapped key, must not become verified, at once or later.
func TestAcceptedIdentityChangeNotReflectedAsVerified(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	w.alice.query(w.bob.user)
	w.bob.query(w.alice.user)
	// The server's own identity for Bob, and its device.
	evil, err := crossign.GenerateKeys(w.bob.user)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning, crossign.UsageUserSigning} {
		k, _ := evil.PublicKey(u)
		w.hs.SetCrossSigningKey(w.bob.user, string(u), k.Bytes())
	}
	newClient(t, w.hs, w.bob.user, "EVIL", w.clock)
	signDevice(t, w, w.bob.user, "EVIL", evil)
	w.alice.query(w.bob.user)
	w.alice.sync()
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); !changed {
		t.Fatal("the swap was not seen")
	}
	if err := w.alice.m.AcceptIdentity(ctx, w.bob.user); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if d := device(t, w.alice, w.bob.user, "EVIL"); d == nil || d.Verification == machine.VerificationVerified {
			t.Errorf("%s: alice sees the server's device as %+v", when, d)
		}
	}
	runSASNoQuery(t, w.alice, w.bob, func(c *client) {
		if c == w.alice {
			check("at once")
		}
	})
	w.alice.flush()
	check("after the uploads")
	w.alice.query(w.bob.user)
	check("after a query")
}

// commitFailStore is a Store whose next commit fails once armed.
type commitFailStore struct {
	machine.Store
	armed bool
}

func (s *commitFailStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &commitFailTx{Tx: tx, s: s}, nil
}

type commitFailTx struct {
	machine.Tx
	s *commitFailStore
}

func (t *commitFailTx) Commit() error {
	if t.s.armed {
		t.s.armed = false
		t.Tx.Rollback()
		return errInjected
	}
	return t.Tx.Commit()
}

// TestVerificationDoneAppliedAfterFailedSync: the sync that finishes a
// verification fails at its commit (the sas.Machine has moved to done, the
// store has not recorded it). The next sync reports the verification done
// ("the machine already recorded it"): by then the device must be
// recorded as verified, not merely reported.
func TestVerificationDoneAppliedAfterFailedSync(t *testing.T) {
	w := newWorld(t)
	st := &commitFailStore{Store: memstore.New()}
	a := &client{t: t, hs: w.hs, user: "@carla:x", dev: "CARLA", store: st, key: pickleKey(9), clock: w.clock}
	a.opts = machine.Options{UserID: a.user, DeviceID: a.dev, Store: st, PickleKey: a.key, Clock: w.clock.now}
	a.open()
	a.flush()
	b := w.bob
	a.query(b.user)
	b.query(a.user)
	va, out, err := a.m.Verifications().RequestToDevice(b.user, b.dev)
	a.sendVerif(out, err)
	b.sync()
	vb := b.m.Verifications().Verification("", va.FlowID())
	if vb == nil {
		t.Fatal("no request at bob")
	}
	b.sendVerif(vb.Accept())
	a.sync()
	a.sendVerif(va.StartSAS())
	for i := 0; i < 3; i++ {
		b.sync()
		a.sync()
	}
	a.sendVerif(va.Confirm())
	b.sendVerif(vb.Confirm())
	a.sync()
	b.sync()
	if vb.State() != sas.StateDone || va.State() != sas.StateWaitingForDone {
		t.Fatalf("states %s %s", va.State(), vb.State())
	}
	st.armed = true
	if _, err := a.m.ReceiveSync(ctx, w.hs.Sync(a.user, a.dev)); !errors.Is(err, errInjected) {
		t.Fatalf("the failing sync: %v", err)
	}
	if va.State() != sas.StateDone {
		t.Fatalf("state %s", va.State())
	}
	res := a.sync()
	reported := false
	for _, ch := range res.Verifications {
		reported = reported || ch.Action == machine.VerificationDone
	}
	if d := device(t, a, b.user, b.dev); reported && (d == nil || d.Verification != machine.VerificationVerified) {
		t.Errorf("reported done, but bob's device is %+v", d)
	}
	if !reported {
		t.Error("the done was not reported")
	}
}

// TestAcceptAfterQueryOfNewDevice: a request from a device the machine
// does not know yet (a new device's request comes in the same sync as the
// device list change) cannot be accepted before the query, and can once
// the query has brought the device's keys.
func TestAcceptAfterQueryOfNewDevice(t *testing.T) {
	w := newWorld(t)
	w.alice.query(w.bob.user)
	b2 := newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	b2.query(w.alice.user)
	_, out, err := b2.m.Verifications().RequestToDevice(w.alice.user, w.alice.dev)
	b2.sendVerif(out, err)
	if _, err := w.alice.m.ReceiveSync(ctx, w.hs.Sync(w.alice.user, w.alice.dev)); err != nil {
		t.Fatal(err)
	}
	vs := w.alice.m.Verifications().Verifications()
	if len(vs) != 1 {
		t.Fatalf("alice has %d verifications", len(vs))
	}
	if _, err := vs[0].Accept(); !errors.Is(err, sas.ErrUnknownDevice) {
		t.Fatalf("accept before the query: %v", err)
	}
	w.alice.query(w.bob.user)
	if device(t, w.alice, w.bob.user, "BOB2") == nil {
		t.Fatal("the query did not bring BOB2")
	}
	if _, err := vs[0].Accept(); err != nil {
		t.Errorf("accept after the query: %v", err)
	}
}

// TestVerificationKeySnapshotBounded: a server forges verification events
// from ever new user IDs (to-device verification events are not
// encrypted: the server names any sender). The key snapshot the machine
// keeps for the verifications must not keep an entry for each of them once
// no verification with that user remains.
func TestVerificationKeySnapshotBounded(t *testing.T) {
	w := newWorld(t)
	for round := 0; round < 5; round++ {
		var evs []json.RawMessage
		for i := 0; i < 200; i++ {
			ev, _ := json.Marshal(map[string]any{
				"type": "m.key.verification.cancel", "sender": fmt.Sprintf("@u%d-%d:evil", round, i),
				"content": map[string]any{"transaction_id": fmt.Sprintf("t%d", i), "code": "m.user", "reason": "x"},
			})
			evs = append(evs, ev)
		}
		if _, err := w.alice.m.ReceiveSync(ctx, machine.SyncChanges{ToDevice: evs}); err != nil {
			t.Fatal(err)
		}
	}
	if n := machine.VerifierKeyUsers(w.alice.m); n > 2 {
		t.Errorf("the key snapshot holds %d users", n)
	}
}

// TestReverifyChangedIdentity: Alice verified Bob; Bob resets his
// cross-signing identity, and Alice sees the change (his devices flagged).
// A new SAS with Bob, whose MAC carries his new master key, re-verifies
// him: after the query that follows, his identity is the new key,
// verified, no longer flagged as changed.
func TestReverifyChangedIdentity(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	runSAS(t, w.alice, w.bob)
	w.alice.flush()
	w.bob.flush()
	reset := publishAll(t, w, w.bob)
	holdKeys(t, w.bob, reset)
	w.bob.query(w.alice.user)
	w.alice.query(w.bob.user)
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); !changed {
		t.Fatal("the reset was not seen")
	}
	runSASNoQuery(t, w.alice, w.bob, func(*client) {})
	w.alice.flush()
	w.alice.query(w.bob.user)
	master, verifiedMaster, verified := machine.IdentityOf(w.alice.m, w.bob.user)
	if want := reset.Master.PublicKey().String(); master != want || verifiedMaster != want || !verified {
		t.Errorf("bob's identity: master %s verified master %s verified %v; want %s verified", master, verifiedMaster, verified, want)
	}
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); changed {
		t.Error("bob's identity is still flagged as changed")
	}
	if d := device(t, w.alice, w.bob.user, w.bob.dev); d == nil || d.Verification != machine.VerificationVerified {
		t.Errorf("bob's device: %+v", d)
	}
}

// TestAcceptIdentityStays: a change that the user accepted
// (AcceptIdentity) is not flagged again by the next query of the same,
// unchanged identity.
func TestAcceptIdentityStays(t *testing.T) {
	w := newWorld(t)
	publishAll(t, w, w.alice)
	publishAll(t, w, w.bob)
	w.alice.query(w.bob.user)
	reset := publishAll(t, w, w.bob)
	w.alice.query(w.bob.user)
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); !changed {
		t.Fatal("the reset was not seen")
	}
	if err := w.alice.m.AcceptIdentity(ctx, w.bob.user); err != nil {
		t.Fatal(err)
	}
	w.alice.query(w.bob.user)
	if changed, _ := w.alice.m.IdentityChanged(ctx, w.bob.user); changed {
		t.Error("the accepted change is flagged again")
	}
	if master, _, _ := machine.IdentityOf(w.alice.m, w.bob.user); master != reset.Master.PublicKey().String() {
		t.Errorf("pinned master %s, want the accepted one", master)
	}
}

// TestReverifyChangedIdentityAtOnce: as TestReverifyChangedIdentity, but
// checked at once, when the verification ends: the new master key is the
// pinned one, verified, the change cleared, and Alice's user-signing key
// signs it, so that a new device of Alice's sees Bob verified too.
func TestReverifyChangedIdentityAtOnce(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	runSAS(t, w.alice, w.bob)
	w.alice.flush()
	w.bob.flush()
	reset := publishAll(t, w, w.bob)
	holdKeys(t, w.bob, reset)
	w.bob.query(w.alice.user)
	w.alice.query(w.bob.user)
	want := reset.Master.PublicKey().String()
	runSASNoQuery(t, w.alice, w.bob, func(c *client) {
		if c != w.alice {
			return
		}
		master, _, verified := machine.IdentityOf(c.m, w.bob.user)
		if master != want || !verified {
			t.Errorf("at once: bob's master %s verified %v; want %s verified", master, verified, want)
		}
		if changed, _ := c.m.IdentityChanged(ctx, w.bob.user); changed {
			t.Error("at once: bob's identity is still flagged as changed")
		}
	})
	w.alice.flush()
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	holdKeys(t, a2, aks)
	a2.query(w.bob.user)
	if d := device(t, a2, w.bob.user, w.bob.dev); d == nil || d.Verification != machine.VerificationVerified {
		t.Errorf("alice's new device sees bob's device as %+v", d)
	}
}

// TestSASSignsOnlyTheVerifiedDeviceKey: Alice's record of her device
// ALICE2 holds the device object of ALICE3 (a tampered store). When a SAS
// verifies ALICE2's key, her self-signing key must not sign ALICE3's
// object: it signs only a device object carrying the key the MAC verified.
func TestSASSignsOnlyTheVerifiedDeviceKey(t *testing.T) {
	w := newWorld(t)
	ks := publishAll(t, w, w.alice)
	holdKeys(t, w.alice, ks)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	newClient(t, w.hs, w.alice.user, "ALICE3", w.clock)
	w.alice.query()
	a2.query()
	for range 2 {
		w.alice.sync()
		a2.sync()
	}
	if err := machine.CopyDeviceObject(w.alice.m, w.alice.user, "ALICE3", "ALICE2"); err != nil {
		t.Fatal(err)
	}
	runSASNoQuery(t, w.alice, a2, func(*client) {})
	w.alice.flush()
	fresh := newClient(t, w.hs, w.alice.user, "ALICE4", w.clock)
	fresh.query()
	if machine.DeviceCrossSigned(fresh.m, w.alice.user, "ALICE3") {
		t.Error("ALICE3, which no verification verified, was signed")
	}
}

// TestSASSignsOnlyTheVerifiedMasterKey: Alice's record of Bob's identity
// holds Carol's master key object (a tampered store). When a SAS verifies
// Bob's master key, Alice's user-signing key must not sign Carol's.
func TestSASSignsOnlyTheVerifiedMasterKey(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	carol := newClient(t, w.hs, "@carol:x", "CAROL", w.clock)
	cks := publishAll(t, w, carol)
	w.alice.query(w.bob.user, carol.user)
	w.bob.query(w.alice.user)
	for range 2 {
		w.alice.sync()
		w.bob.sync()
	}
	k, err := cks.PublicKey(crossign.UsageMaster)
	if err != nil {
		t.Fatal(err)
	}
	if err := machine.SetMasterObject(w.alice.m, w.bob.user, k.Bytes()); err != nil {
		t.Fatal(err)
	}
	runSASNoQuery(t, w.alice, w.bob, func(*client) {})
	w.alice.flush()
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	holdKeys(t, a2, aks)
	a2.query(carol.user)
	if _, _, verified := machine.IdentityOf(a2.m, carol.user); verified {
		t.Error("Carol's master key, which no verification verified, was signed")
	}
}
