package interop_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// TestMachineGetsSecretsFromElement: an Element device holds our
// cross-signing keys and backup key (as after reading secret storage),
// and our first device leaves. A new device of the machine verifies
// Element's device by SAS (driven only by its reported changes), then
// asks for the secrets it lacks: Element answers, and the machine takes
// every secret (cross-signing keys matching our published ones), holds
// and trusts our identity and the backup key.
func TestMachineGetsSecretsFromElement(t *testing.T) {
	node := startTrustElement(t)
	const user = "@souverain-gossip:localhost"
	w := newTrustWorld(t, node, user, user)
	b := w.goBootstrap()
	cr, err := w.m.CreateBackupVersion(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Version string `json:"version"`
	}
	resp := w.do(user, w.goDev, "POST", "/_matrix/client/v3/room_keys/version", cr.Body)
	json.Unmarshal(resp, &created)
	version, err := cr.VersionBody(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.m.SetBackupVersion(meCtx, version); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, name := range ssssSecrets {
		v, ok, err := w.m.Secret(meCtx, name)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
		want[name] = v
	}

	w.startElement()
	var cs csStatus
	node.call(&cs, "import_cross_signing", w.goSecrets())
	w.check(cs.HasMaster && cs.HasSelfSigning && cs.HasUserSigning, "Element took our cross-signing keys: %+v", cs)
	node.call(nil, "save_backup_key", map[string]any{"private_key": want["m.megolm_backup.v1"], "version": created.Version})
	var sig struct {
		Body json.RawMessage `json:"body"`
	}
	node.call(&sig, "verify_device", map[string]any{"user": user, "device": w.elemDev})
	w.elemSend([]trustRequest{{Type: "signature_upload", Body: sig.Body}})
	w.elemSync()

	// A new device of the machine's user; the first one leaves.
	w.m.Close()
	w.hs.DeleteDevice(user, w.goDev)
	w.goDev = "GODEV2"
	m2, err := machine.New(meCtx, machine.Options{UserID: user, DeviceID: w.goDev, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	w.m = m2
	w.goFlush()
	w.elemSync()
	held := func() int {
		n := 0
		for _, name := range ssssSecrets {
			if _, ok, _ := m2.Secret(meCtx, name); ok {
				n++
			}
		}
		return n
	}
	w.check(held() == 0, "the new device holds %d secrets", held())
	drv := w.elementRequestsSAS()
	w.check(drv.done.Result != nil && drv.done.Result.DeviceID == w.elemDev, "the new device verified %+v", drv.done.Result)
	w.goSync()
	w.elemSync()
	// As the machine's documentation says: once verified (Element
	// ignores the requests of a device it does not trust, and the
	// machine does not ask again while a request is outstanding).
	asked, err := m2.RequestMissingSecrets(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	w.check(len(asked) == len(ssssSecrets), "the new device asked for %v", asked)
	w.goFlush()
	w.elemSync()
	w.elemClaim()
	w.goSync()
	for _, name := range ssssSecrets {
		got, ok, err := m2.Secret(meCtx, name)
		w.check(err == nil && ok && bytes.Equal(decodeSecret(t, got), decodeSecret(t, want[name])), "after SAS, the new device's %s: %v %v", name, ok, err)
	}
	st, err := m2.CrossSigningStatus(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	w.check(st.HasMaster && st.HasSelfSigning && st.HasUserSigning && st.Trusted && st.MasterKey == b.MasterKey, "the new device's identity: %+v", st)
	if err := m2.SetBackupVersion(meCtx, version); err != nil {
		t.Fatal(err)
	}
	bst, _ := m2.Backup(meCtx)
	w.check(bst != nil && bst.KeyHeld, "the new device's backup: %+v", bst)
}

// elemClaim has Element claim one-time keys for the devices it has no Olm
// session with (a secret answer waits for one), as matrix-js-sdk does
// before sending to-device messages.
func (w *trustWorld) elemClaim() {
	w.t.Helper()
	var claim struct {
		Request *trustRequest `json:"request"`
	}
	w.node.call(&claim, "missing_sessions", map[string]any{"users": []string{w.goUser}})
	if claim.Request != nil {
		w.elemSend([]trustRequest{*claim.Request})
	}
	w.elemSettle()
}
