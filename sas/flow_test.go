package sas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// requireDone checks that v finished with exactly the keys named.
func requireDone(t *testing.T, v *sas.Verification, wantDevice, wantMaster *olm.Ed25519PublicKey) {
	t.Helper()
	if v.State() != sas.StateDone {
		t.Fatalf("state %s, cancellation %+v", v.State(), v.Cancellation())
	}
	r, ok := v.Result()
	if !ok {
		t.Fatal("no result")
	}
	if !sameKey(r.DeviceKey, wantDevice) {
		t.Errorf("device key %v, want %v", r.DeviceKey, wantDevice)
	}
	if !sameKey(r.MasterKey, wantMaster) {
		t.Errorf("master key %v, want %v", r.MasterKey, wantMaster)
	}
}

func sameKey(a, b *olm.Ed25519PublicKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func ptr(k olm.Ed25519PublicKey) *olm.Ed25519PublicKey { return &k }

func requireCancelled(t *testing.T, v *sas.Verification, code sas.CancelCode, byUs bool) {
	t.Helper()
	c := v.Cancellation()
	if v.State() != sas.StateCancelled || c == nil {
		t.Fatalf("state %s, want cancelled with %s", v.State(), code)
	}
	if c.Code != code || c.ByUs != byUs {
		t.Fatalf("cancelled with %+v, want code %s byUs %v", *c, code, byUs)
	}
}

// TestSASFlow runs two engines against each other to the end: to-device
// and in-room, with each side requesting and each side starting.
func TestSASFlow(t *testing.T) {
	for _, transport := range []string{"to-device", "in-room"} {
		for _, starter := range []string{"requester", "responder"} {
			t.Run(transport+"/"+starter+"-starts", func(t *testing.T) {
				w := newWorld(t)
				alice := w.addDevice("@alice:example.org", "ALICEDEV")
				bob := w.addDevice("@bob:example.org", "BOBDEV")
				var va, vb *sas.Verification
				if transport == "to-device" {
					va, vb = w.requestToDevice(alice, bob)
				} else {
					va, vb = w.requestInRoom("!dm:example.org", alice, bob)
				}
				if va.State() != sas.StateReady || vb.State() != sas.StateReady {
					t.Fatalf("states %s %s; errors %v %v", va.State(), vb.State(), alice.errs, bob.errs)
				}
				if starter == "requester" {
					w.send(alice, w.must(va.StartSAS())...)
				} else {
					w.send(bob, w.must(vb.StartSAS())...)
				}
				w.pump()
				s := w.compareAndConfirm(alice, va, bob, vb)
				requireDone(t, va, ptr(bob.key), ptr(w.masters[bob.user]))
				requireDone(t, vb, ptr(alice.key), ptr(w.masters[alice.user]))
				if len(alice.errs)+len(bob.errs) > 0 {
					t.Errorf("errors: %v %v", alice.errs, bob.errs)
				}
				_, methods, _ := va.ShortAuthString()
				if strings.Join(methods, ",") != "decimal,emoji" {
					t.Errorf("methods %q", methods)
				}
				t.Logf("%v %v", s.Emojis(), s.Decimals())
			})
		}
	}
}

// TestSASFlowSelfVerification verifies two devices of one user; the MACs
// carry the master key only from the device that trusts it.
func TestSASFlowSelfVerification(t *testing.T) {
	w := newWorld(t)
	old := w.addDevice("@alice:example.org", "OLDDEV")
	fresh := w.addDevice("@alice:example.org", "NEWDEV", untrustedMaster())
	vn, vo := w.requestToDevice(fresh, old)
	w.send(fresh, w.must(vn.StartSAS())...)
	w.pump()
	w.compareAndConfirm(fresh, vn, old, vo)
	master := w.masters["@alice:example.org"]
	requireDone(t, vn, ptr(old.key), ptr(master))
	requireDone(t, vo, ptr(fresh.key), nil)
}

// TestSASFlowNoMasterKey verifies with a user without cross-signing: only
// the device key is MACed and verified.
func TestSASFlowNoMasterKey(t *testing.T) {
	w := newWorld(t)
	alice := w.addDevice("@alice:example.org", "A", noMaster())
	bob := w.addDevice("@bob:example.org", "B")
	va, vb := w.requestToDevice(alice, bob)
	w.send(bob, w.must(vb.StartSAS())...)
	w.pump()
	w.compareAndConfirm(alice, va, bob, vb)
	requireDone(t, va, ptr(bob.key), ptr(w.masters[bob.user]))
	requireDone(t, vb, ptr(alice.key), nil)
}

// TestTieBreak has both sides start at once: the start of the smaller user
// ID (or, for one user, device ID) counts, and the verification completes.
func TestTieBreak(t *testing.T) {
	cases := []struct {
		name                 string
		userA, devA          string
		userB, devB          string
		wantStarterIsA       bool
		transportInRoom      bool
		selfVerificationOnly bool
	}{
		{"smaller user wins", "@a:x", "D1", "@b:x", "D0", true, false, false},
		{"larger user loses", "@z:x", "D0", "@b:x", "D1", false, false, false},
		{"same user smaller device wins", "@a:x", "AAA", "@a:x", "BBB", true, false, true},
		{"same user larger device loses", "@a:x", "ZZZ", "@a:x", "BBB", false, false, true},
		{"in room", "@a:x", "D1", "@b:x", "D0", true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.addDevice(c.userA, c.devA)
			b := w.addDevice(c.userB, c.devB)
			var va, vb *sas.Verification
			if c.transportInRoom {
				va, vb = w.requestInRoom("!r:x", a, b)
			} else {
				va, vb = w.requestToDevice(a, b)
			}
			sa := w.must(va.StartSAS())
			sb := w.must(vb.StartSAS())
			w.send(a, sa...)
			w.send(b, sb...)
			w.pump()
			// The winner's start is the one accepted: the loser sent accept.
			accepter := a.String()
			if c.wantStarterIsA {
				accepter = b.String()
			}
			sawAccept := false
			for _, l := range w.log {
				if strings.HasSuffix(l, " accept") {
					sawAccept = true
					if !strings.HasPrefix(l, accepter+">") {
						t.Errorf("accept sent as %q, want from %s", l, accepter)
					}
				}
			}
			if !sawAccept {
				t.Fatalf("no accept; log %q; errors %v %v", w.log, a.errs, b.errs)
			}
			w.compareAndConfirm(a, va, b, vb)
			if va.State() != sas.StateDone || vb.State() != sas.StateDone {
				t.Fatalf("states %s %s", va.State(), vb.State())
			}
		})
	}
}

func errorsContain(errs []error, target error) bool {
	for _, e := range errs {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

// TestAccessors covers the Verification's plain getters and the early
// cancels.
func TestAccessors(t *testing.T) {
	w := newWorld(t)
	a := w.addDevice("@alice:example.org", "A")
	b1 := w.addDevice("@bob:example.org", "B1")
	w.addDevice("@bob:example.org", "B2")
	v, out, err := a.m.RequestToDevice(b1.user, "B2", "B1", "B1")
	if err != nil || len(out) != 2 {
		t.Fatal(out, err)
	}
	if v.RoomID() != "" || v.OtherUser() != b1.user || v.OtherDevice() != "" || !v.WeRequested() || len(v.TheirMethods()) != 0 {
		t.Errorf("getters: %q %q %q %v %q", v.RoomID(), v.OtherUser(), v.OtherDevice(), v.WeRequested(), v.TheirMethods())
	}
	if got := cancelCodes(t, v.Cancel()); len(got) != 2 {
		t.Errorf("cancel before ready sent %v, want one per device", got)
	}
	if v.State().String() != "cancelled" || sas.State(99).String() != "State(99)" {
		t.Error(v.State(), sas.State(99))
	}
	rv, ev, err := a.m.RequestInRoom("!r:x", b1.user)
	if err != nil || ev.Type != sas.EventRoomMessage || ev.RoomID != "!r:x" || rv.RoomID() != "!r:x" {
		t.Fatal(ev, err)
	}
	if out := rv.Cancel(); len(out) != 0 {
		t.Errorf("cancel of an unsent request sent %v", out)
	}
	if err := rv.RequestSent("$x"); !errors.Is(err, sas.ErrCancelled) {
		t.Errorf("RequestSent after cancel: %v", err)
	}
	if err := v.RequestSent("$x"); !errors.Is(err, sas.ErrState) {
		t.Errorf("RequestSent on a to-device request: %v", err)
	}
	e := establish(t, fixedSAS(t, alicePrivHex), bobPubB64)
	if e.TheirPublicKey().String() != bobPubB64 || e.OurPublicKey().String() != alicePubB64 {
		t.Error("established keys")
	}
	k, _ := sas.ParsePublicKey(bobPubB64)
	if len(k.Bytes()) != 32 {
		t.Error("Bytes")
	}
}

// TestAcceptUnknownDevice: a request from a device whose keys are not known
// yet stays pending until they are.
func TestAcceptUnknownDevice(t *testing.T) {
	p := newScripted(t)
	delete(p.keys, p.user)
	p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
	v := p.engine.Verification("", p.txn)
	if out, err := v.Accept(); !errors.Is(err, sas.ErrUnknownDevice) || len(out) != 0 || v.State() != sas.StateRequestReceived {
		t.Fatalf("%v %v %s", out, err, v.State())
	}
	p.keys[p.user] = sas.UserKeys{Devices: map[string]olm.Ed25519PublicKey{p.dev: p.key}}
	if out, err := v.Accept(); err != nil || len(out) != 1 {
		t.Fatalf("%v %v", out, err)
	}
}
