package interop_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

type elemIdentity struct {
	Exists                bool `json:"exists"`
	Own                   bool `json:"own"`
	Verified              bool `json:"verified"`
	WasPreviouslyVerified bool `json:"was_previously_verified"`
	VerificationViolation bool `json:"verification_violation"`
	MasterKey             struct {
		Keys       map[string]string            `json:"keys"`
		Signatures map[string]map[string]string `json:"signatures"`
	} `json:"master_key"`
}

type elemDevice struct {
	Exists              bool `json:"exists"`
	Verified            bool `json:"verified"`
	LocallyTrusted      bool `json:"locally_trusted"`
	CrossSignedByOwner  bool `json:"cross_signed_by_owner"`
	CrossSigningTrusted bool `json:"cross_signing_trusted"`
}

// sasDriver is the machine's side of a verification as an application
// writes it: it acts only on the changes the machine reports
// (SyncResult.Verifications, VerificationUpdate.Changes), as in
// ExampleVerificationChange, except that it holds the comparison until
// the test has compared the emojis with Element's.
type sasDriver struct {
	w       *trustWorld
	compare *machine.VerificationChange
	done    *machine.VerificationChange
	actions []machine.VerificationAction
}

func (d *sasDriver) act(chs []machine.VerificationChange) {
	d.w.t.Helper()
	for _, ch := range chs {
		d.actions = append(d.actions, ch.Action)
		var evs []sas.Event
		var err error
		switch ch.Action {
		case machine.VerificationAcceptOrCancel:
			evs, err = ch.Verification.Accept()
		case machine.VerificationStartSAS:
			evs, err = ch.Verification.StartSAS()
		case machine.VerificationCompare:
			c := ch
			d.compare = &c
		case machine.VerificationDone:
			c := ch
			d.done = &c
		case machine.VerificationCancelled:
			d.w.t.Fatalf("the machine's verification was cancelled: %+v", ch.Cancellation)
		}
		if err != nil {
			d.w.t.Fatalf("%s: %v", ch.Action, err)
		}
		d.send(evs)
	}
}

func (d *sasDriver) send(evs []sas.Event) {
	d.w.t.Helper()
	if len(evs) == 0 {
		return
	}
	upd, err := d.w.m.SendVerificationEvents(meCtx, evs)
	if err != nil {
		d.w.t.Fatal(err)
	}
	d.w.goFlush()
	d.sendRoom(upd.RoomEvents)
	d.act(upd.Changes)
}

// sendRoom sends the machine's in-room verification events to the DM room.
func (d *sasDriver) sendRoom(evs []sas.Event) {
	d.w.t.Helper()
	for _, ev := range evs {
		if ev.RoomID != d.w.dm || d.w.dm == "" {
			d.w.t.Fatalf("the machine sent %s to room %q", ev.Type, ev.RoomID)
		}
		d.w.roomEvent(d.w.goUser, ev.Type, ev.Content)
	}
}

// receiveRoom hands an in-room verification event of Element's to the
// machine, and acts on what it reports.
func (d *sasDriver) receiveRoom(ev sas.Event) {
	d.w.t.Helper()
	upd, err := d.w.m.ReceiveRoomVerificationEvent(meCtx, ev)
	if err != nil {
		d.w.t.Fatal(err)
	}
	if upd.Refused != nil {
		d.w.t.Errorf("the machine refused Element's in-room %s: %v", ev.Type, upd.Refused)
	}
	d.w.goFlush()
	d.sendRoom(upd.RoomEvents)
	d.act(upd.Changes)
}

// TestCrossSigningSASWithElement: the machine bootstraps cross-signing;
// Element's OlmMachine of another user, with its own cross-signing
// identity, sees the machine's identity and its device cross-signed but
// not trusted. Element asks the machine's device for a SAS verification
// (to-device, or in an unencrypted DM room, where the machine gets
// Element's events through ReceiveRoomVerificationEvent and sends its own
// from the RoomEvents of its updates), or the machine asks Element's
// device; the machine is driven only by the changes it reports. After both
// confirm the same emojis, each side signs the other's master key with
// its user-signing key, the signatures reach the server, and after a
// query each side sees the other verified: Element's identity of the
// machine's user and its device, the machine's Devices for Element's.
// Then each side resets its identity: the machine flags Element's user
// (IdentityChanged, a notice, until AcceptIdentity), and Element reports a
// verification violation for the machine's user.
func TestCrossSigningSASWithElement(t *testing.T) {
	t.Run("Element requests", func(t *testing.T) { testCrossSigningSASWithElement(t, true, false) })
	t.Run("machine requests", func(t *testing.T) { testCrossSigningSASWithElement(t, false, false) })
	t.Run("Element requests in room", func(t *testing.T) { testCrossSigningSASWithElement(t, true, true) })
}

func testCrossSigningSASWithElement(t *testing.T, elementRequests, inRoom bool) {
	w, b, elemMaster, elemUSK := newCrossUserWorld(t)
	node, goUser, elemUser := w.node, w.goUser, w.elemUser

	goDevice := func() elemDevice {
		var d elemDevice
		node.call(&d, "device_info", map[string]any{"user": goUser, "device": w.goDev})
		return d
	}
	goIdentity := func() elemIdentity {
		var id elemIdentity
		node.call(&id, "identity_info", map[string]any{"user": goUser})
		return id
	}
	machineSeesElement := func() machine.Verification {
		ds, err := w.m.Devices(meCtx, elemUser)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.DeviceID == w.elemDev {
				return d.Verification
			}
		}
		return machine.VerificationUnknownDevice
	}
	id := goIdentity()
	w.check(id.Exists && !id.Own && !id.Verified && id.MasterKey.Keys["ed25519:"+b.MasterKey.String()] == b.MasterKey.String(),
		"before SAS, Element sees our identity as %+v", id)
	d := goDevice()
	w.check(d.Exists && d.CrossSignedByOwner && !d.CrossSigningTrusted && !d.Verified, "before SAS, Element sees our device as %+v", d)
	w.check(machineSeesElement() == machine.VerificationUnverifiedIdentity, "before SAS, the machine sees Element's device as %s", machineSeesElement())

	// One side asks; the machine acts only on its reported changes.
	var drv *sasDriver
	switch {
	case inRoom:
		w.dm = "!dm:localhost"
		drv = w.elementRequestsSASInRoom()
	case elementRequests:
		drv = w.elementRequestsSAS()
	default:
		drv = w.machineRequestsSAS()
	}
	w.check(drv.done.RoomID == w.dm, "the verification ran in room %q, want %q", drv.done.RoomID, w.dm)
	r := drv.done.Result
	w.check(r != nil && r.UserID == elemUser && r.DeviceID == w.elemDev && r.MasterKey != nil && r.MasterKey.String() == elemMaster,
		"the machine verified %+v", r)
	w.goFlush()
	w.elemSettle()

	// The signatures are on the server.
	var q struct {
		MasterKeys map[string]struct {
			Signatures map[string]map[string]string `json:"signatures"`
		} `json:"master_keys"`
	}
	json.Unmarshal(w.do(elemUser, w.elemDev, "POST", "/_matrix/client/v3/keys/query",
		[]byte(`{"device_keys":{"`+goUser+`":[],"`+elemUser+`":[]}}`)), &q)
	w.check(q.MasterKeys[elemUser].Signatures[goUser]["ed25519:"+b.UserSigningKey.String()] != "",
		"the machine's user-signing signature of Element's master key is not on the server: %+v", q.MasterKeys[elemUser])
	w.check(q.MasterKeys[goUser].Signatures[elemUser]["ed25519:"+elemUSK] != "",
		"Element's user-signing signature of our master key is not on the server: %+v", q.MasterKeys[goUser])

	// Each side queries again and sees the other verified.
	w.elemSync()
	id = goIdentity()
	w.check(id.Exists && id.Verified, "after SAS, Element sees our identity as %+v", id)
	d = goDevice()
	w.check(d.Verified && d.CrossSigningTrusted && d.CrossSignedByOwner, "after SAS, Element sees our device as %+v", d)
	var own elemIdentity
	node.call(&own, "identity_info", map[string]any{"user": elemUser})
	w.check(own.Own && own.MasterKey.Signatures[goUser]["ed25519:"+b.UserSigningKey.String()] != "",
		"Element's own master key as Element sees it: %+v", own.MasterKey.Signatures)
	w.goSync()
	w.check(machineSeesElement() == machine.VerificationVerified, "after SAS, the machine sees Element's device as %s", machineSeesElement())
	changed, err := w.m.IdentityChanged(meCtx, elemUser)
	w.check(err == nil && !changed, "Element's identity changed before any reset: %v %v", changed, err)

	// Element resets its identity: the machine flags the verified user
	// until it accepts the change.
	w.m.Notices()
	var boot struct {
		UploadSigningKeys json.RawMessage `json:"upload_signing_keys"`
		UploadSignatures  json.RawMessage `json:"upload_signatures"`
	}
	node.call(&boot, "bootstrap_cross_signing", nil)
	w.do(elemUser, w.elemDev, "POST", "/_matrix/client/v3/keys/device_signing/upload", boot.UploadSigningKeys)
	w.do(elemUser, w.elemDev, "POST", "/_matrix/client/v3/keys/signatures/upload", boot.UploadSignatures)
	w.goSync()
	changed, err = w.m.IdentityChanged(meCtx, elemUser)
	w.check(err == nil && changed, "the machine missed Element's identity reset: %v %v", changed, err)
	var noticed bool
	for _, n := range w.m.Notices() {
		noticed = noticed || n.UserID == elemUser && errors.Is(n.Err, machine.ErrIdentityChanged)
	}
	w.check(noticed, "no ErrIdentityChanged notice for Element's reset")
	if err := w.m.AcceptIdentity(meCtx, elemUser); err != nil {
		t.Fatal(err)
	}
	changed, _ = w.m.IdentityChanged(meCtx, elemUser)
	w.check(!changed, "the change is still flagged after AcceptIdentity")

	// The machine resets its identity: Element reports a verification
	// violation for the user it had verified.
	b2, err := w.m.BootstrapCrossSigning(meCtx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	w.do(goUser, w.goDev, "POST", "/_matrix/client/v3/keys/device_signing/upload", b2.DeviceSigningUpload)
	if err := w.m.ConfirmCrossSigningUpload(meCtx); err != nil {
		t.Fatal(err)
	}
	w.goFlush()
	w.elemSync()
	id = goIdentity()
	w.check(id.MasterKey.Keys["ed25519:"+b2.MasterKey.String()] != "" && !id.Verified && id.WasPreviouslyVerified && id.VerificationViolation,
		"after our reset, Element sees our identity as %+v", id)
	d = goDevice()
	w.check(d.CrossSignedByOwner && !d.CrossSigningTrusted, "after our reset, Element sees our device as %+v", d)
}

// elementRequestsSAS has Element ask the machine's device for a SAS
// verification and runs it to the end: the machine acts only on the
// changes it reports, and both confirm once the test has compared their
// emojis.
func (w *trustWorld) elementRequestsSAS() *sasDriver {
	w.t.Helper()
	var req struct {
		FlowID  string       `json:"flow_id"`
		Request trustRequest `json:"request"`
	}
	w.node.call(&req, "request", map[string]any{"user": w.goUser, "device": w.goDev})
	w.elemSend([]trustRequest{req.Request})
	return w.runSAS(&sasDriver{w: w}, req.FlowID, true)
}

// machineRequestsSAS has the machine ask Element's device for a SAS
// verification, through its Verifications, and runs it to the end as
// elementRequestsSAS does: Element accepts the request, the machine starts
// SAS when its changes say so, and Element accepts the start.
func (w *trustWorld) machineRequestsSAS() *sasDriver {
	w.t.Helper()
	v, evs, err := w.m.Verifications().RequestToDevice(w.elemUser, w.elemDev)
	if err != nil {
		w.t.Fatal(err)
	}
	drv := &sasDriver{w: w}
	drv.send(evs)
	return w.runSAS(drv, v.FlowID(), false)
}

// runSAS runs a verification between the machine and Element to its end.
func (w *trustWorld) runSAS(drv *sasDriver, flowID string, elementRequested bool) *sasDriver {
	w.t.Helper()
	flow := map[string]any{"user": w.goUser, "flow_id": flowID}
	var started, confirmed, accepted, sasAccepted bool
	var elemSAS struct {
		Exists         bool  `json:"exists"`
		CanBePresented bool  `json:"can_be_presented"`
		EmojiIndex     []int `json:"emoji_index"`
		Done           bool  `json:"done"`
		Cancelled      bool  `json:"cancelled"`
	}
	for round := 0; round < 12 && !(drv.done != nil && elemSAS.Done); round++ {
		drv.act(w.goSync().Verifications)
		w.elemSync()
		var ri struct {
			Exists    bool `json:"exists"`
			Ready     bool `json:"ready"`
			Cancelled bool `json:"cancelled"`
		}
		w.node.call(&ri, "request_info", flow)
		if ri.Cancelled {
			w.t.Fatal("Element's request was cancelled")
		}
		if !elementRequested && ri.Exists && !accepted {
			var a struct {
				Request *trustRequest `json:"request"`
			}
			w.node.call(&a, "accept_request", flow)
			if a.Request == nil {
				w.t.Fatal("Element cannot accept the machine's request")
			}
			w.elemSend([]trustRequest{*a.Request})
			accepted = true
		}
		if elementRequested && ri.Ready && !started {
			var s struct {
				Request trustRequest `json:"request"`
			}
			w.node.call(&s, "start_sas", flow)
			w.elemSend([]trustRequest{s.Request})
			started = true
		}
		w.node.call(&elemSAS, "sas_info", flow)
		if elemSAS.Cancelled {
			w.t.Fatal("Element's SAS was cancelled")
		}
		if !elementRequested && elemSAS.Exists && !sasAccepted {
			var a struct {
				Request *trustRequest `json:"request"`
			}
			w.node.call(&a, "sas_accept", flow)
			if a.Request != nil {
				w.elemSend([]trustRequest{*a.Request})
			}
			sasAccepted = true
		}
		if drv.compare != nil && elemSAS.CanBePresented && !confirmed {
			var ours []int
			for _, e := range drv.compare.Emojis {
				ours = append(ours, e.Index)
			}
			w.check(len(ours) == 7 && slices.Equal(ours, elemSAS.EmojiIndex), "emojis: machine %v, Element %v", ours, elemSAS.EmojiIndex)
			w.check(drv.compare.OtherUser == w.elemUser && drv.compare.OtherDevice == w.elemDev, "the machine compares with %s %s", drv.compare.OtherUser, drv.compare.OtherDevice)
			evs, err := drv.compare.Verification.Confirm()
			if err != nil {
				w.t.Fatal(err)
			}
			drv.send(evs)
			var c struct {
				Requests []trustRequest `json:"requests"`
			}
			w.node.call(&c, "sas_confirm", flow)
			w.elemSend(c.Requests)
			confirmed = true
		}
	}
	if drv.done == nil || !elemSAS.Done {
		w.t.Fatalf("the verification did not finish: machine actions %v, Element %+v", drv.actions, elemSAS)
	}
	wantAction := machine.VerificationAcceptOrCancel
	if !elementRequested {
		wantAction = machine.VerificationStartSAS
	}
	w.check(slices.Contains(drv.actions, wantAction) && slices.Contains(drv.actions, machine.VerificationCompare),
		"the machine reported %v", drv.actions)
	return drv
}

// TestOwnDeviceSASWithElement: an Element device of the machine's user,
// which holds no cross-signing key, verifies the machine's device by SAS
// (requested by either side).
// The machine signs Element's device with its self-signing key (the
// upload reaches the server); Element then sees its own device
// cross-signed and our identity verified, and the machine sees Element's
// device verified, and Element trusts the machine's backup version.
// Element asks for the secrets it lacks: the machine refuses before the
// SAS and answers its now verified device after, and Element holds our cross-signing
// keys and the backup key.
func TestOwnDeviceSASWithElement(t *testing.T) {
	for _, elementRequests := range []bool{true, false} {
		name := "Element requests"
		if !elementRequests {
			name = "machine requests"
		}
		t.Run(name, func(t *testing.T) { testOwnDeviceSASWithElement(t, elementRequests) })
	}
}

func testOwnDeviceSASWithElement(t *testing.T, elementRequests bool) {
	node := startTrustElement(t)
	const user = "@souverain-self:localhost"
	w := newTrustWorld(t, node, user, user)
	b := w.goBootstrap()
	cr, err := w.m.CreateBackupVersion(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	version, err := cr.VersionBody(w.do(user, w.goDev, "POST", "/_matrix/client/v3/room_keys/version", cr.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.m.SetBackupVersion(meCtx, version); err != nil {
		t.Fatal(err)
	}
	w.startElement()
	w.goSync()
	elemDevice := func(device string) elemDevice {
		var d elemDevice
		node.call(&d, "device_info", map[string]any{"user": user, "device": device})
		return d
	}
	machineSees := func() machine.Verification {
		ds, _ := w.m.Devices(meCtx, user)
		for _, d := range ds {
			if d.DeviceID == w.elemDev {
				return d.Verification
			}
		}
		return machine.VerificationUnknownDevice
	}
	w.check(machineSees() == machine.VerificationUnsigned, "before SAS, the machine sees Element's device as %s", machineSees())
	var id elemIdentity
	node.call(&id, "identity_info", map[string]any{"user": user})
	w.check(id.Exists && id.Own && !id.Verified, "before SAS, Element sees our identity as %+v", id)
	d := elemDevice(w.elemDev)
	w.check(!d.CrossSignedByOwner, "before SAS, Element's device is cross-signed: %+v", d)
	d = elemDevice(w.goDev)
	w.check(d.CrossSignedByOwner && !d.Verified, "before SAS, Element sees the machine's device as %+v", d)

	// Element asks for secrets before it is verified: the machine must
	// not answer.
	var asked struct {
		Requested bool `json:"requested"`
	}
	node.call(&asked, "request_missing_secrets", nil)
	w.elemSettle()
	w.goSync()
	w.elemSync()
	var cs csStatus
	node.call(&cs, "cross_signing_status", nil)
	w.check(asked.Requested && !cs.HasMaster && !cs.HasSelfSigning && !cs.HasUserSigning,
		"before SAS, Element asked (%v) and got the keys: %+v", asked.Requested, cs)

	var info map[string]any
	json.Unmarshal(w.do(user, w.elemDev, "GET", "/_matrix/client/v3/room_keys/version", nil), &info)
	verdict := func() backupVerdict {
		var v backupVerdict
		node.call(&v, "verify_backup", map[string]any{"info": info})
		return v
	}
	v := verdict()
	w.check(!v.Trusted && v.UserState == sigValidButNotTrusted, "before SAS, Element's verdict on the machine's backup: %+v", v)

	var drv *sasDriver
	if elementRequests {
		drv = w.elementRequestsSAS()
	} else {
		drv = w.machineRequestsSAS()
	}
	r := drv.done.Result
	w.check(r != nil && r.UserID == user && r.DeviceID == w.elemDev && r.DeviceKey != nil, "the machine verified %+v", r)
	w.goFlush()
	w.elemSettle()
	var q struct {
		DeviceKeys map[string]map[string]struct {
			Signatures map[string]map[string]string `json:"signatures"`
		} `json:"device_keys"`
	}
	json.Unmarshal(w.do(user, w.elemDev, "POST", "/_matrix/client/v3/keys/query", []byte(`{"device_keys":{"`+user+`":[]}}`)), &q)
	w.check(q.DeviceKeys[user][w.elemDev].Signatures[user]["ed25519:"+b.SelfSigningKey.String()] != "",
		"the machine's self-signing signature of Element's device is not on the server: %+v", q.DeviceKeys[user][w.elemDev])

	w.elemSync()
	node.call(&id, "identity_info", map[string]any{"user": user})
	w.check(id.Verified, "after SAS, Element sees our identity as %+v", id)
	d = elemDevice(w.elemDev)
	w.check(d.CrossSignedByOwner && d.Verified, "after SAS, Element sees its own device as %+v", d)
	d = elemDevice(w.goDev)
	w.check(d.Verified, "after SAS, Element sees the machine's device as %+v", d)
	w.goSync()
	w.check(machineSees() == machine.VerificationVerified, "after SAS, the machine sees Element's device as %s", machineSees())

	// Element trusts the machine's backup version now: its master key
	// signature, by an identity the SAS verified.
	v = verdict()
	w.check(v.Trusted && v.UserState == sigValidAndTrusted, "after SAS, Element's verdict on the machine's backup: %+v", v)

	// Element asks again, now verified: the machine answers.
	node.call(&asked, "request_missing_secrets", nil)
	w.elemSettle()
	w.goSync()
	w.elemSync()
	node.call(&cs, "cross_signing_status", nil)
	w.check(cs.HasMaster && cs.HasSelfSigning && cs.HasUserSigning, "after SAS, Element asked (%v) and holds %+v", asked.Requested, cs)
	var inbox struct {
		Secrets []string `json:"secrets"`
	}
	node.call(&inbox, "secrets_inbox", map[string]any{"name": "m.megolm_backup.v1"})
	backupKey, _, _ := w.m.Secret(meCtx, "m.megolm_backup.v1")
	w.check(len(inbox.Secrets) == 1 && inbox.Secrets[0] == backupKey, "Element's backup key inbox: %d secrets", len(inbox.Secrets))
}

// elementRequestsSASInRoom has Element ask for a verification in the DM
// room, and runs it to the end: the machine gets Element's room events
// through ReceiveRoomVerificationEvent and sends its own from the
// RoomEvents of its updates.
func (w *trustWorld) elementRequestsSASInRoom() *sasDriver {
	w.t.Helper()
	w.drv = &sasDriver{w: w}
	var res struct {
		Content json.RawMessage `json:"content"`
	}
	w.node.call(&res, "room_request", map[string]any{"other": w.goUser})
	flow := w.roomEvent(w.elemUser, sas.EventRoomMessage, res.Content)
	w.node.call(nil, "room_request_sent", map[string]any{"other": w.goUser, "room": w.dm, "event_id": flow})
	w.drv.receiveRoom(sas.Event{Type: sas.EventRoomMessage, Content: res.Content, Sender: w.elemUser, RoomID: w.dm, EventID: flow,
		OriginServerTS: time.Now().UnixMilli()})
	return w.runSAS(w.drv, flow, true)
}

// newCrossUserWorld sets up the machine's user and an Element user, each
// with a cross-signing identity published on the server, tracking each
// other. It returns the machine's bootstrap and Element's master and
// user-signing public keys.
func newCrossUserWorld(t *testing.T) (w *trustWorld, b *machine.CrossSigningBootstrap, elemMaster, elemUSK string) {
	node := startTrustElement(t)
	goUser, elemUser := "@souverain-sas:localhost", "@element-sas:localhost"
	w = newTrustWorld(t, node, goUser, elemUser)
	b = w.goBootstrap()
	w.startElement()
	var boot struct {
		UploadKeys        *trustRequest   `json:"upload_keys"`
		UploadSigningKeys json.RawMessage `json:"upload_signing_keys"`
		UploadSignatures  json.RawMessage `json:"upload_signatures"`
	}
	node.call(&boot, "bootstrap_cross_signing", nil)
	if boot.UploadKeys != nil {
		w.elemSend([]trustRequest{*boot.UploadKeys})
	}
	w.do(elemUser, w.elemDev, "POST", "/_matrix/client/v3/keys/device_signing/upload", boot.UploadSigningKeys)
	w.do(elemUser, w.elemDev, "POST", "/_matrix/client/v3/keys/signatures/upload", boot.UploadSignatures)
	var elemKeys struct {
		MasterKey, UserSigningKey struct {
			Keys map[string]string `json:"keys"`
		}
	}
	json.Unmarshal(boot.UploadSigningKeys, &struct {
		M *struct {
			Keys map[string]string `json:"keys"`
		} `json:"master_key"`
		U *struct {
			Keys map[string]string `json:"keys"`
		} `json:"user_signing_key"`
	}{&elemKeys.MasterKey, &elemKeys.UserSigningKey})
	for _, k := range elemKeys.MasterKey.Keys {
		elemMaster = k
	}
	for _, k := range elemKeys.UserSigningKey.Keys {
		elemUSK = k
	}
	if elemMaster == "" || elemUSK == "" {
		t.Fatalf("Element's signing keys: %s", boot.UploadSigningKeys)
	}
	w.elemSync()
	if err := w.m.UpdateTrackedUsers(meCtx, []string{elemUser}); err != nil {
		t.Fatal(err)
	}
	w.goSync()
	return w, b, elemMaster, elemUSK
}
