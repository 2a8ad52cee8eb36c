package sas_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// TestSetMasterKey: a device that learns its master key after NewMachine
// sends it in the MACs of the verifications that pin their keys after
// SetMasterKey, so the other side verifies the identity; a flow that
// pinned before keeps what it pinned.
func TestSetMasterKey(t *testing.T) {
	cases := []struct {
		name string
		// set is when alice learns her master key: "never", "before" the
		// request, or "after" bob accepted (her flow pinned already).
		set     string
		trusted bool
		// wantMaster: bob verified alice's master key.
		wantMaster bool
	}{
		{"never", "never", false, false},
		{"before, trusted", "before", true, true},
		{"before, untrusted", "before", false, false},
		{"after the keys were pinned", "after", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			alice := w.addDevice("@alice:example.org", "ALICEDEV", noMaster())
			bob := w.addDevice("@bob:example.org", "BOBDEV")
			master := testKey("late master @alice:example.org")
			set := func() {
				if err := alice.m.SetMasterKey(master, c.trusted); err != nil {
					t.Fatal(err)
				}
			}
			if c.set != "never" {
				// What /keys/query says of alice, for bob to pin.
				uk := w.directory[alice.user]
				uk.MasterKey = master
				w.directory[alice.user] = uk
			}
			if c.set == "before" {
				set()
			}
			va, vb := w.requestToDevice(alice, bob)
			if c.set == "after" {
				set()
			}
			w.send(bob, w.must(vb.StartSAS())...)
			w.pump()
			w.compareAndConfirm(alice, va, bob, vb)
			var want *olm.Ed25519PublicKey
			if c.wantMaster {
				want = ptr(master)
			}
			requireDone(t, vb, ptr(alice.key), want)
			if k, tr := alice.m.MasterKey(); c.set != "never" && (k != master || tr != c.trusted) {
				t.Errorf("MasterKey() = %v %v", k, tr)
			}
		})
	}
}

// TestSetMasterKeyRefused: a key that this device's ID spells is refused
// and changes nothing; a zero key is never trusted; nil and closed
// machines fail with their sentinels.
func TestSetMasterKeyRefused(t *testing.T) {
	w := newWorld(t)
	d := w.addDevice("@alice:example.org", "DEV")
	before, trusted := d.m.MasterKey()
	spelled := testKey("collides")
	m, err := sas.NewMachine(sas.Config{UserID: "@alice:example.org", DeviceID: spelled.String(), DeviceKey: testKey("k"),
		Keys: func(string) (sas.UserKeys, bool) { return sas.UserKeys{}, false }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetMasterKey(spelled, true); !errors.Is(err, sas.ErrKeyIDCollision) {
		t.Errorf("colliding key: %v", err)
	}
	if k, tr := m.MasterKey(); k != (olm.Ed25519PublicKey{}) || tr {
		t.Errorf("after a refused key: %v %v", k, tr)
	}
	if err := d.m.SetMasterKey(olm.Ed25519PublicKey{}, true); err != nil {
		t.Fatal(err)
	}
	if k, tr := d.m.MasterKey(); k != (olm.Ed25519PublicKey{}) || tr {
		t.Errorf("zero key: %v %v (was %v %v)", k, tr, before, trusted)
	}
	var nilM *sas.Machine
	if err := nilM.SetMasterKey(spelled, true); !errors.Is(err, sas.ErrNil) {
		t.Errorf("nil machine: %v", err)
	}
	d.m.Close()
	if err := d.m.SetMasterKey(spelled, true); !errors.Is(err, sas.ErrClosed) {
		t.Errorf("closed machine: %v", err)
	}
}
