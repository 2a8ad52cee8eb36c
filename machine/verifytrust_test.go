package machine_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// publishAll gives a user cross-signing keys on the server (all three,
// the user-signing key included) and signs the client's device with them.
func publishAll(t *testing.T, w *world, c *client) *crossign.PrivateKeys {
	t.Helper()
	ks, err := crossign.GenerateKeys(c.user)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []crossign.Usage{crossign.UsageMaster, crossign.UsageSelfSigning, crossign.UsageUserSigning} {
		k, err := ks.PublicKey(u)
		if err != nil {
			t.Fatal(err)
		}
		w.hs.SetCrossSigningKey(c.user, string(u), k.Bytes())
	}
	signDevice(t, w, c.user, c.dev, ks)
	return ks
}

// holdKeys stores the cross-signing private keys in c's machine, as secret
// storage or gossip would.
func holdKeys(t *testing.T, c *client, ks *crossign.PrivateKeys) {
	t.Helper()
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		if err := c.m.SetSecret(ctx, k.Usage().SecretName(), k.Secret()); err != nil {
			t.Fatal(err)
		}
	}
}

// query has c query the devices of users (and its own).
func (c *client) query(users ...string) {
	c.t.Helper()
	if err := c.m.UpdateTrackedUsers(ctx, append(users, c.user)); err != nil {
		c.t.Fatal(err)
	}
	if err := c.m.MarkAllTrackedUsersOutdated(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.flush()
}

func masterOf(t *testing.T, ks *crossign.PrivateKeys) olm.Ed25519PublicKey {
	t.Helper()
	return ks.Master.PublicKey()
}

// TestSASSendsOwnMasterKey: a machine whose user has cross-signing sends
// its master key in the SAS MAC, whenever it learnt it (the private keys
// stored before or after the query of its own user, or read back from the
// store at New), so the other user verifies the identity, not only the
// device. Without the private keys the master key is not trusted, and not
// sent.
func TestSASSendsOwnMasterKey(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(t *testing.T, w *world, ks *crossign.PrivateKeys)
		wantMaster bool
	}{
		{"keys after the query", func(t *testing.T, w *world, ks *crossign.PrivateKeys) {
			w.alice.query()
			holdKeys(t, w.alice, ks)
		}, true},
		{"keys before the query", func(t *testing.T, w *world, ks *crossign.PrivateKeys) {
			holdKeys(t, w.alice, ks)
			w.alice.query()
		}, true},
		{"after a restart", func(t *testing.T, w *world, ks *crossign.PrivateKeys) {
			holdKeys(t, w.alice, ks)
			w.alice.query()
			w.alice.restart()
		}, true},
		{"no private keys", func(t *testing.T, w *world, ks *crossign.PrivateKeys) {
			w.alice.query()
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			ks := publishAll(t, w, w.alice)
			c.setup(t, w, ks)
			master := masterOf(t, ks)
			if k, trusted := w.alice.m.Verifications().MasterKey(); k != master || trusted != c.wantMaster {
				t.Errorf("alice's verifications have master key %v trusted %v", k, trusted)
			}
			runSAS(t, w.alice, w.bob)
			var res sas.Result
			for _, v := range w.bob.m.Verifications().Verifications() {
				res, _ = v.Result()
			}
			_, verified, _ := machine.IdentityOf(w.bob.m, w.alice.user)
			if c.wantMaster {
				if res.MasterKey == nil || *res.MasterKey != master || verified != master.String() {
					t.Errorf("bob verified master key %v, recorded %q; want %v", res.MasterKey, verified, master)
				}
			} else if res.MasterKey != nil || verified != "" {
				t.Errorf("bob verified master key %v, recorded %q; want none", res.MasterKey, verified)
			}
		})
	}
}

// runSASChecked runs a SAS verification like runSAS, but calls onDone for
// each side right after the sync in which its verification finished,
// before any request goes out (no query, no signature upload).
func runSASChecked(t *testing.T, a, b *client, onDone func(c *client)) {
	t.Helper()
	a.query(b.user)
	b.query(a.user)
	runSASNoQuery(t, a, b, onDone)
}

func device(t *testing.T, c *client, user, dev string) *machine.Device {
	t.Helper()
	ds, err := c.m.Devices(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.DeviceID == dev {
			return d
		}
	}
	return nil
}

// TestSASVerifiesOtherIdentityAtOnce: Alice and Bob both have
// cross-signing; when their SAS ends, each sees the other's identity
// verified at once: the verified device, and the other user's other
// cross-signed device too, before any new query. Each signs the other's
// master key with their user-signing key, and after the upload and a new
// query the verdict stays.
func TestSASVerifiesOtherIdentityAtOnce(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	newClient(t, w.hs, w.bob.user, "BOB2", w.clock)
	signDevice(t, w, w.bob.user, "BOB2", bks)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	other := map[*client]*client{w.alice: w.bob, w.bob: w.alice}
	runSASChecked(t, w.alice, w.bob, func(c *client) {
		for _, d := range []string{other[c].dev, "BOB2"} {
			if other[c] == w.alice && d == "BOB2" {
				continue
			}
			if got := device(t, c, other[c].user, d); got == nil || got.Verification != machine.VerificationVerified {
				t.Errorf("%s sees %s %s as %+v at once", c.user, other[c].user, d, got)
			}
		}
		if _, vm, verified := machine.IdentityOf(c.m, other[c].user); vm == "" || !verified {
			t.Errorf("%s: identity of %s: verified master %q, verified %v", c.user, other[c].user, vm, verified)
		}
	})
	w.alice.query(w.bob.user)
	if got := device(t, w.alice, w.bob.user, "BOB2"); got == nil || got.Verification != machine.VerificationVerified {
		t.Errorf("after a new query alice sees BOB2 as %+v", got)
	}
	// The user-signing signature landed: a fresh device of Alice that
	// trusts her identity sees Bob verified without any SAS of its own.
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	holdKeys(t, a2, aks)
	a2.query(w.bob.user)
	if got := device(t, a2, w.bob.user, "BOB2"); got == nil || got.Verification != machine.VerificationVerified {
		t.Errorf("alice's second device sees BOB2 as %+v", got)
	}
}

// TestSASOwnDeviceBothDirections: Alice's first device holds her
// cross-signing keys and verifies her new second device. The first device
// signs the second with the self-signing key and sees it cross-signed at
// once; the second, told Alice's master key in the first's MAC, trusts its
// own identity at once, signs the master key with its device key, and
// after the uploads and a query is cross-signed and trusted by the server's
// word alone.
func TestSASOwnDeviceBothDirections(t *testing.T) {
	w := newWorld(t)
	ks := publishAll(t, w, w.alice)
	holdKeys(t, w.alice, ks)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	master := masterOf(t, ks)
	runSASChecked(t, w.alice, a2, func(c *client) {
		switch c {
		case w.alice:
			if d := device(t, c, c.user, "ALICE2"); d == nil || d.Verification != machine.VerificationVerified ||
				!machine.DeviceCrossSigned(c.m, c.user, "ALICE2") {
				t.Errorf("alice sees her new device as %+v, cross-signed %v", d, machine.DeviceCrossSigned(c.m, c.user, "ALICE2"))
			}
		case a2:
			if k, trusted := c.m.Verifications().MasterKey(); k != master || !trusted {
				t.Errorf("the new device's master key: %v trusted %v", k, trusted)
			}
			if _, _, verified := machine.IdentityOf(c.m, c.user); !verified {
				t.Error("the new device does not trust its identity at once")
			}
			if d := device(t, c, c.user, w.alice.dev); d == nil || d.Verification != machine.VerificationVerified {
				t.Errorf("the new device sees the first as %+v", d)
			}
		}
	})
	// The uploads went out with the syncs, and the machine queried again
	// once they were sent: the server's word now agrees.
	a2.sync()
	if _, _, verified := machine.IdentityOf(a2.m, a2.user); !verified || !machine.DeviceCrossSigned(a2.m, a2.user, "ALICE2") {
		t.Errorf("after the uploads the new device trusts its identity: %v, is cross-signed: %v",
			verified, machine.DeviceCrossSigned(a2.m, a2.user, "ALICE2"))
	}
	// After a restart (in-memory state gone) and a query, the same.
	a2.restart()
	a2.query()
	if _, _, verified := machine.IdentityOf(a2.m, a2.user); !verified {
		t.Error("after the query the new device does not trust its identity")
	}
	if !machine.DeviceCrossSigned(a2.m, a2.user, "ALICE2") {
		t.Error("after the query the new device is not cross-signed")
	}
	if k, trusted := a2.m.Verifications().MasterKey(); k != master || !trusted {
		t.Errorf("after a restart the new device's master key: %v trusted %v", k, trusted)
	}
	w.bob.query(w.alice.user)
	if got := device(t, w.bob, w.alice.user, "ALICE2"); got == nil || got.Verification != machine.VerificationUnverifiedIdentity {
		t.Errorf("bob sees ALICE2 as %+v, want cross-signed", got)
	}
}

// TestOwnIdentityVerifiedReevaluatesOthers: Alice's first device verified
// Bob (her user-signing key signed his master key). Her new device sees
// Bob's device as cross-signed by an identity it cannot trust while it does
// not trust its own; once a SAS with the first device verifies her master
// key, the new device queries everyone again (after its signature upload
// went out) and sees Bob verified through her user-signing key's signature.
func TestOwnIdentityVerifiedReevaluatesOthers(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	runSAS(t, w.alice, w.bob)
	w.alice.flush()
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.query(w.bob.user)
	if d := device(t, a2, w.bob.user, w.bob.dev); d == nil || d.Verification != machine.VerificationUnverifiedIdentity {
		t.Fatalf("before: the new device sees bob as %+v", d)
	}
	runSASChecked(t, w.alice, a2, func(*client) {})
	for range 3 {
		a2.sync()
	}
	if d := device(t, a2, w.bob.user, w.bob.dev); d == nil || d.Verification != machine.VerificationVerified {
		t.Errorf("after: the new device sees bob as %+v", d)
	}
}

// TestGossipedMasterKeyReachesVerifications: a new device that receives
// the master private key by secret gossip from its verified sibling trusts
// its master key in its verifications at once (the secret is stored through
// the same path as SetSecret).
func TestGossipedMasterKeyReachesVerifications(t *testing.T) {
	w := newWorld(t)
	ks := publishAll(t, w, w.alice)
	holdKeys(t, w.alice, ks)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	verifyEachOther(t, w.alice, a2)
	master := masterOf(t, ks)
	if k, trusted := a2.m.Verifications().MasterKey(); k != master || trusted {
		t.Fatalf("before: %v trusted %v, want the published key, untrusted", k, trusted)
	}
	if err := a2.m.RequestSecret(ctx, crossign.UsageMaster.SecretName()); err != nil {
		t.Fatal(err)
	}
	a2.flush()
	w.alice.sync()
	// The answer arrives; checked before anything else goes out (no query).
	if _, err := a2.m.ReceiveSync(ctx, w.hs.Sync(a2.user, a2.dev)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a2.m.Secret(ctx, crossign.UsageMaster.SecretName()); !ok {
		t.Fatal("the master key was not gossiped")
	}
	if k, trusted := a2.m.Verifications().MasterKey(); k != master || !trusted {
		t.Errorf("after: %v trusted %v, want %v trusted", k, trusted, master)
	}
}

// TestUserIdentity: after a verification Bob's identity is verified; when
// the server serves another master key, the change is reported once (not
// at every query), with the warning that a verified identity was replaced;
// accepting it pins the new key, unverified, and a later change of that
// one carries no such warning.
func TestUserIdentity(t *testing.T) {
	w := newWorld(t)
	aks, bks := publishAll(t, w, w.alice), publishAll(t, w, w.bob)
	holdKeys(t, w.alice, aks)
	holdKeys(t, w.bob, bks)
	if _, err := w.alice.m.UserIdentity(ctx, w.bob.user); !errors.Is(err, machine.ErrNotFound) {
		t.Fatalf("identity before any query: %v", err)
	}
	runSASChecked(t, w.alice, w.bob, func(*client) {})
	w.alice.query(w.bob.user)
	id, err := w.alice.m.UserIdentity(ctx, w.bob.user)
	if err != nil || !id.Verified || id.Changed || id.MasterKey != masterOf(t, bks) {
		t.Fatalf("after the verification: %+v, %v", id, err)
	}
	w.alice.m.Notices()
	changes := func() int {
		n := 0
		for _, no := range w.alice.m.Notices() {
			if errors.Is(no.Err, machine.ErrIdentityChanged) {
				n++
			}
		}
		return n
	}
	// The server serves another identity for Bob.
	ks2, _ := crossign.GenerateKeys(w.bob.user)
	publish(t, w, w.bob.user, ks2)
	signDevice(t, w, w.bob.user, w.bob.dev, ks2)
	w.alice.query(w.bob.user)
	w.alice.query(w.bob.user)
	if n := changes(); n != 1 {
		t.Errorf("%d identity-change notices over two queries, want 1", n)
	}
	id, err = w.alice.m.UserIdentity(ctx, w.bob.user)
	if err != nil || id.Verified || !id.Changed || !id.WasVerified || id.MasterKey != masterOf(t, bks) || id.ServedKey != masterOf(t, ks2) {
		t.Fatalf("after the change: %+v, %v", id, err)
	}
	if err := w.alice.m.AcceptIdentity(ctx, w.bob.user); err != nil {
		t.Fatal(err)
	}
	id, err = w.alice.m.UserIdentity(ctx, w.bob.user)
	if err != nil || id.Verified || id.Changed || id.WasVerified || id.MasterKey != masterOf(t, ks2) {
		t.Fatalf("after AcceptIdentity: %+v, %v", id, err)
	}
	// A change of the accepted, unverified identity.
	ks3, _ := crossign.GenerateKeys(w.bob.user)
	publish(t, w, w.bob.user, ks3)
	w.alice.query(w.bob.user)
	id, err = w.alice.m.UserIdentity(ctx, w.bob.user)
	if err != nil || !id.Changed || id.WasVerified || id.ServedKey != masterOf(t, ks3) {
		t.Fatalf("after a change of an unverified identity: %+v, %v", id, err)
	}
	if n := changes(); n != 1 {
		t.Errorf("%d notices for the second change, want 1", n)
	}
}

// TestQRVerificationOwnDevice: with the QR methods switched on, Alice's
// first device (holding her cross-signing keys) shows a QR code that her
// new device scans; the first device confirms the scan. Both end verified,
// as with SAS: the first signs the new one with the self-signing key, the
// new one trusts its master key at once.
func TestQRVerificationOwnDevice(t *testing.T) {
	w := newWorld(t)
	ks := publishAll(t, w, w.alice)
	qr := []string{sas.MethodQRShow, sas.MethodQRScan, sas.MethodSAS}
	a1 := w.alice
	a1.opts.VerificationMethods = qr
	a1.restart()
	holdKeys(t, a1, ks)
	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.opts.VerificationMethods = qr
	a2.restart()
	a1.query()
	a2.query()

	va, out, err := a2.m.Verifications().RequestToDevice(a1.user, a1.dev)
	a2.sendVerif(out, err)
	a1.sync()
	vb := a1.m.Verifications().Verification("", va.FlowID())
	if vb == nil {
		t.Fatal("no request at the first device")
	}
	a1.sendVerif(vb.Accept())
	a2.sync()
	code, err := vb.QRCode()
	if err != nil {
		t.Fatalf("QR code: %v", err)
	}
	a2.sendVerif(va.ScanQRCode(code))
	res := a1.sync()
	confirm := false
	for _, ch := range res.Verifications {
		confirm = confirm || ch.FlowID == va.FlowID() && ch.Action == machine.VerificationConfirmScan
	}
	if !confirm {
		t.Fatalf("no confirm-scan action at the first device: %+v", res.Verifications)
	}
	a1.sendVerif(vb.Confirm())
	for i := 0; i < 3; i++ {
		a2.sync()
		a1.sync()
	}
	if va.State() != sas.StateDone || vb.State() != sas.StateDone {
		t.Fatalf("states %s %s", va.State(), vb.State())
	}
	if d := device(t, a1, a1.user, "ALICE2"); d == nil || d.Verification != machine.VerificationVerified || !machine.DeviceCrossSigned(a1.m, a1.user, "ALICE2") {
		t.Errorf("the first device sees the new one as %+v", d)
	}
	if k, trusted := a2.m.Verifications().MasterKey(); k != masterOf(t, ks) || !trusted {
		t.Errorf("the new device's master key: %v trusted %v", k, trusted)
	}
	if d := device(t, a2, a2.user, a1.dev); d == nil || d.Verification != machine.VerificationVerified {
		t.Errorf("the new device sees the first as %+v", d)
	}
}

func TestVerificationMethodsChecked(t *testing.T) {
	_, err := machine.New(ctx, machine.Options{UserID: "@a:x", DeviceID: "A", Store: memstore.New(),
		PickleKey: pickleKey(1), VerificationMethods: []string{"m.qr_code.show.v2"}})
	if !errors.Is(err, machine.ErrBadOptions) {
		t.Fatalf("unknown method: %v", err)
	}
}

// TestRequestsResentAfterVerification: a new device asks for the secrets
// and a room key before it is verified; its other device ignores requests
// from an unverified device. Once a verification between them ends, the
// new device asks that device again, and gets them.
func TestRequestsResentAfterVerification(t *testing.T) {
	w := newWorld(t)
	ks := publishAll(t, w, w.alice)
	holdKeys(t, w.alice, ks)
	w.bob.share(w.room, w.alice.user, w.bob.user)
	ev := roomEvent(w.room, w.bob.user, w.bob.encrypt(w.room, `{"body":"before alice2"}`))
	w.alice.sync()

	a2 := newClient(t, w.hs, w.alice.user, "ALICE2", w.clock)
	a2.setEncrypted(w.room)
	a2.query(w.alice.user)
	w.alice.query(w.alice.user)
	asked, err := a2.m.RequestMissingSecrets(ctx)
	if err != nil || len(asked) != 4 {
		t.Fatalf("RequestMissingSecrets: %v, %v", asked, err)
	}
	if _, err := a2.m.DecryptRoomEvent(ctx, w.room, ev); !errors.Is(err, machine.ErrNoSession) {
		t.Fatalf("before any key: %v", err)
	}
	a2.flush()
	w.alice.sync() // ignores both: ALICE2 is not verified
	a2.sync()
	if _, ok, _ := a2.m.Secret(ctx, "m.cross_signing.master"); ok {
		t.Fatal("a secret came to an unverified device")
	}
	runSASChecked(t, w.alice, a2, func(*client) {})
	for i := 0; i < 2; i++ {
		w.alice.sync()
		a2.sync()
	}
	for _, name := range []string{"m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing"} {
		if _, ok, _ := a2.m.Secret(ctx, name); !ok {
			t.Errorf("%s not received after the verification", name)
		}
	}
	d := a2.decrypt(w.room, ev)
	if d.Provenance != machine.ProvenanceForwarded {
		t.Errorf("provenance %v", d.Provenance)
	}
}
