package machine_test

import (
	"testing"

	"github.com/souverain/e2ee/crossign"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

func (c *client) sendVerif(evs []sas.Event, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	upd, err := c.m.SendVerificationEvents(ctx, evs)
	if err != nil || len(upd.RoomEvents) != 0 {
		c.t.Fatalf("SendVerificationEvents: %v, %+v", err, upd)
	}
	c.flush()
}

// runSAS runs an emoji verification between a's and b's devices through
// their machines and the fake homeserver.
func runSAS(t *testing.T, a, b *client) {
	t.Helper()
	for _, c := range []*client{a, b} {
		c.m.UpdateTrackedUsers(ctx, []string{a.user, b.user})
		c.m.MarkAllTrackedUsersOutdated(ctx)
		c.flush()
	}
	va, out, err := a.m.Verifications().RequestToDevice(b.user, b.dev)
	a.sendVerif(out, err)
	b.sync()
	vs := b.m.Verifications().Verifications()
	if len(vs) != 1 {
		t.Fatalf("bob has %d verifications", len(vs))
	}
	vb := vs[0]
	b.sendVerif(vb.Accept())
	a.sync()
	a.sendVerif(va.StartSAS())
	for i := 0; i < 3; i++ {
		b.sync()
		a.sync()
	}
	sa, _, okA := va.ShortAuthString()
	sb, _, okB := vb.ShortAuthString()
	if !okA || !okB || sa != sb {
		t.Fatalf("SAS: %v %v %v %v", sa, okA, sb, okB)
	}
	a.sendVerif(va.Confirm())
	b.sendVerif(vb.Confirm())
	for i := 0; i < 3; i++ {
		a.sync()
		b.sync()
	}
	if _, ok := va.Result(); !ok {
		t.Fatalf("verification: %s %v", va.State(), va.Cancellation())
	}
}

func TestToDeviceSASThroughTheMachine(t *testing.T) {
	w := newWorld(t)
	a, b := w.alice, w.bob
	runSAS(t, a, b)
	ds, _ := a.m.Devices(ctx, b.user)
	if len(ds) != 1 || ds[0].Verification != machine.VerificationVerified {
		t.Errorf("bob's device after SAS: %+v", ds)
	}
	ds, _ = b.m.Devices(ctx, a.user)
	if len(ds) != 1 || ds[0].Verification != machine.VerificationVerified {
		t.Errorf("alice's device after SAS: %+v", ds)
	}
}

// After verifying her new device, Alice (who holds her cross-signing keys)
// signs it with her self-signing key: Bob then sees it cross-signed.
func TestSASSignsOwnDevice(t *testing.T) {
	w := newWorld(t)
	ks := crossSign(t, w, w.alice)
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		if err := w.alice.m.SetSecret(ctx, k.Usage().SecretName(), k.Secret()); err != nil {
			t.Fatal(err)
		}
	}
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	w.bob.m.UpdateTrackedUsers(ctx, []string{w.alice.user})
	w.bob.flush()
	dev := func() *machine.Device {
		ds, _ := w.bob.m.Devices(ctx, w.alice.user)
		for _, d := range ds {
			if d.DeviceID == "ALICE2" {
				return d
			}
		}
		return nil
	}
	if d := dev(); d == nil || d.Verification != machine.VerificationUnsigned {
		t.Fatalf("before: %+v", d)
	}
	runSAS(t, w.alice, a2)
	w.alice.flush() // the /keys/signatures/upload went out with the syncs
	w.bob.sync()
	if d := dev(); d == nil || d.Verification != machine.VerificationUnverifiedIdentity {
		t.Errorf("after Alice signed it: %+v", d)
	}
}

func TestInRoomVerificationRouted(t *testing.T) {
	w := newWorld(t)
	a, b := w.alice, w.bob
	for _, c := range []*client{a, b} {
		c.m.UpdateTrackedUsers(ctx, []string{a.user, b.user})
		c.flush()
	}
	_, req, err := a.m.Verifications().RequestInRoom(w.room, b.user)
	if err != nil {
		t.Fatal(err)
	}
	req.Sender, req.EventID, req.OriginServerTS = a.user, "$req", w.clock.now().UnixMilli()
	upd, err := b.m.ReceiveRoomVerificationEvent(ctx, req)
	if err != nil || len(upd.RoomEvents) != 0 || upd.Refused != nil {
		t.Fatalf("request: %+v %v", upd, err)
	}
	if len(upd.Changes) != 1 || upd.Changes[0].Action != machine.VerificationAcceptOrCancel || upd.Changes[0].RoomID != w.room {
		t.Fatalf("request reported as %+v", upd.Changes)
	}
	vs := b.m.Verifications().Verifications()
	if len(vs) != 1 || vs[0].RoomID() != w.room {
		t.Fatalf("bob's verifications: %d", len(vs))
	}
	out, err := vs[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	upd, err = b.m.SendVerificationEvents(ctx, out)
	if err != nil || len(upd.RoomEvents) != 1 || upd.RoomEvents[0].Type != "m.key.verification.ready" || upd.RoomEvents[0].RoomID != w.room {
		t.Fatalf("ready: %+v %v", upd, err)
	}
	if len(upd.Changes) != 1 || upd.Changes[0].State != sas.StateReady || upd.Changes[0].Action != machine.VerificationWait {
		t.Fatalf("ready reported as %+v", upd.Changes)
	}
}
