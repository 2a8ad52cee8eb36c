package interop_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
)

// Element's SignatureState (matrix-sdk-crypto-wasm).
const (
	sigMissing            = 0
	sigInvalid            = 1
	sigValidButNotTrusted = 2
	sigValidAndTrusted    = 3
)

// csStatus is Element's CrossSigningStatus: which private keys it holds.
type csStatus struct {
	HasMaster      bool `json:"has_master"`
	HasSelfSigning bool `json:"has_self_signing"`
	HasUserSigning bool `json:"has_user_signing"`
}

type backupVerdict struct {
	Trusted     bool `json:"trusted"`
	DeviceState int  `json:"device_state"`
	UserState   int  `json:"user_state"`
}

// goSendMessages shares a new room session of the machine (with nobody
// else: Element's device comes later, or must read through the backup)
// and encrypts texts with it.
func (w *trustWorld) goSendMessages(texts ...string) []json.RawMessage {
	w.t.Helper()
	if err := w.m.DiscardRoomKey(meCtx, w.room); err != nil {
		w.t.Fatal(err)
	}
	for i := 0; ; i++ {
		reqs, err := w.m.ShareRoomKey(meCtx, w.room, []string{w.goUser})
		if err != nil {
			w.t.Fatal(err)
		}
		if len(reqs) == 0 {
			break
		}
		if i > 10 {
			w.t.Fatal("sharing never ends")
		}
		for _, r := range reqs {
			w.m.MarkRequestSent(meCtx, r.ID, w.do(w.goUser, w.goDev, r.Method, r.Path, r.Body))
		}
	}
	var evs []json.RawMessage
	for _, text := range texts {
		c, err := w.m.EncryptRoomEvent(meCtx, w.room, "m.room.message", json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, text)))
		if err != nil {
			w.t.Fatal(err)
		}
		evs = append(evs, w.event(w.goUser, c))
	}
	return evs
}

// TestMachineBackupReadByElement: the machine bootstraps cross-signing,
// creates a backup version (auth_data signed by its device and master
// key) and backs up two room sessions; an Element device of the same user
// judges the version with verifyBackup (signed but not trusted, then
// trusted once it holds our cross-signing keys, as after reading secret
// storage; a public key swapped by the server is invalid), decodes the
// recovery key, decrypts every backed-up session, imports them and reads
// the machine's messages.
func TestMachineBackupReadByElement(t *testing.T) {
	node := startTrustElement(t)
	const user = "@souverain-backup:localhost"
	w := newTrustWorld(t, node, user, user)
	b := w.goBootstrap()
	cr, err := w.m.CreateBackupVersion(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Algorithm string `json:"algorithm"`
		AuthData  struct {
			PublicKey  string                       `json:"public_key"`
			Signatures map[string]map[string]string `json:"signatures"`
		} `json:"auth_data"`
	}
	json.Unmarshal(cr.Body, &body)
	sigs := body.AuthData.Signatures[user]
	w.check(body.Algorithm == "m.megolm_backup.v1.curve25519-aes-sha2", "algorithm %q", body.Algorithm)
	w.check(sigs["ed25519:"+w.goDev] != "" && sigs["ed25519:"+b.MasterKey.String()] != "" && len(sigs) == 2, "auth_data signatures %v", sigs)
	version, err := cr.VersionBody(w.do(user, w.goDev, "POST", "/_matrix/client/v3/room_keys/version", cr.Body))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.m.SetBackupVersion(meCtx, version); err != nil {
		t.Fatal(err)
	}
	texts := []string{"first session, one", "first session, two", "second session"}
	events := append(w.goSendMessages(texts[:2]...), w.goSendMessages(texts[2])...)
	uploads := 0
	for {
		up, err := w.m.BackupRequest(meCtx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if up == nil {
			break
		}
		uploads++
		if err := w.m.MarkRequestSent(meCtx, up.ID, w.do(user, w.goDev, up.Method, up.Path, up.Body)); err != nil {
			t.Fatal(err)
		}
	}
	w.check(uploads == 2, "%d backup uploads of one session, want 2", uploads)

	// Element's device of the same user.
	w.startElement()
	serverVersion := w.do(user, w.elemDev, "GET", "/_matrix/client/v3/room_keys/version", nil)
	var info map[string]any
	json.Unmarshal(serverVersion, &info)
	var v backupVerdict
	node.call(&v, "verify_backup", map[string]any{"info": info})
	w.check(!v.Trusted && v.UserState == sigValidButNotTrusted && v.DeviceState == sigMissing,
		"before Element trusts our identity: %+v", v)
	var st csStatus
	node.call(&st, "import_cross_signing", w.goSecrets())
	w.check(st.HasMaster && st.HasSelfSigning && st.HasUserSigning, "Element took our cross-signing keys: %+v", st)
	var id struct {
		Exists, Own, Verified bool
	}
	node.call(&id, "identity_info", map[string]any{"user": user})
	w.check(id.Exists && id.Own && id.Verified, "Element's view of our identity: %+v", id)
	node.call(&v, "verify_backup", map[string]any{"info": info})
	w.check(v.Trusted && v.UserState == sigValidAndTrusted, "Element's verdict on the machine's backup: %+v", v)

	// A server that swaps the backup's public key for its own, keeping
	// the signatures.
	other, _ := keybackup.GenerateBackupKey()
	swapped := map[string]any{"algorithm": info["algorithm"], "auth_data": map[string]any{
		"public_key": other.PublicKey().String(), "signatures": info["auth_data"].(map[string]any)["signatures"]}}
	other.Close()
	node.call(&v, "verify_backup", map[string]any{"info": swapped})
	w.check(!v.Trusted && v.UserState == sigInvalid, "Element's verdict on a swapped public key: %+v", v)

	// Restore with the recovery key, and read.
	keys := w.do(user, w.elemDev, "GET", "/_matrix/client/v3/room_keys/keys?version="+info["version"].(string), nil)
	var rooms struct {
		Rooms json.RawMessage `json:"rooms"`
	}
	json.Unmarshal(keys, &rooms)
	args := map[string]any{"recovery_key": cr.RecoveryKey, "public_key": body.AuthData.PublicKey, "rooms": rooms.Rooms, "version": info["version"]}
	wrong, _ := keybackup.GenerateBackupKey()
	bad := map[string]any{}
	for k, v := range args {
		bad[k] = v
	}
	bad["recovery_key"] = wrong.RecoveryKey()
	wrong.Close()
	msg := node.tryCall("restore", bad)
	w.check(strings.Contains(msg, "not "+body.AuthData.PublicKey), "Element restored with a wrong recovery key: %q", msg)
	var res struct {
		Imported, Total int
	}
	node.call(&res, "restore", args)
	w.check(res.Imported == 2 && res.Total == 2, "Element imported %d of %d sessions, want 2 of 2", res.Imported, res.Total)
	for i, ev := range events {
		var d rkDecrypted
		node.call(&d, "decrypt", map[string]any{"room": w.room, "event": ev})
		w.check(d.Decrypted && strings.Contains(string(d.Event.Content), texts[i]), "event %d: %+v", i, d)
	}
}

// TestElementBackupReadByMachine: an Element device of the machine's user
// creates a backup version (auth_data signed by its device, and by our
// master key once it holds it) and backs up its room session. The machine
// accepts the version only when a signature it trusts is on it (our
// master key; Element's device once it is cross-signed by our
// self-signing key), never with a swapped public key or a forged
// signature, and restores Element's keys from it with provenance
// "backup".
func TestElementBackupReadByMachine(t *testing.T) {
	node := startTrustElement(t)
	const user = "@souverain-ebackup:localhost"
	w := newTrustWorld(t, node, user, user)
	w.goBootstrap()
	w.startElement()
	var cs csStatus
	node.call(&cs, "import_cross_signing", w.goSecrets())
	w.check(cs.HasMaster && cs.HasSelfSigning, "Element took our cross-signing keys: %+v", cs)

	var created struct {
		Body       json.RawMessage `json:"body"`
		PrivateKey string          `json:"private_key"`
	}
	node.call(&created, "create_backup", nil)
	var resp struct {
		Version string `json:"version"`
	}
	json.Unmarshal(w.do(user, w.elemDev, "POST", "/_matrix/client/v3/room_keys/version", created.Body), &resp)
	var body map[string]any
	json.Unmarshal(created.Body, &body)
	authData := body["auth_data"].(map[string]any)
	publicKey := authData["public_key"].(string)
	node.call(nil, "enable_backup", map[string]any{"public_key": publicKey, "version": resp.Version})
	// Element's room session, shared with nobody: the machine can read
	// it only through the backup.
	var share struct {
		Requests []trustRequest `json:"requests"`
	}
	node.call(&share, "share_room_key", map[string]any{"room": w.room, "users": []string{}})
	w.check(len(share.Requests) == 0, "Element shared its key: %d requests", len(share.Requests))
	texts := []string{"from Element, one", "from Element, two"}
	var events []json.RawMessage
	for _, text := range texts {
		var enc struct {
			Content json.RawMessage `json:"content"`
		}
		node.call(&enc, "encrypt", map[string]any{"room": w.room, "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": text}})
		events = append(events, w.event(user, enc.Content))
	}
	var up struct {
		Request *trustRequest `json:"request"`
	}
	node.call(&up, "backup_room_keys", nil)
	if up.Request == nil {
		t.Fatal("Element made no backup request")
	}
	w.check(up.Request.Version == resp.Version, "Element backs up to version %q, want %q", up.Request.Version, resp.Version)
	w.elemSend([]trustRequest{*up.Request})

	serverVersion := w.do(user, w.goDev, "GET", "/_matrix/client/v3/room_keys/version", nil)
	variant := func(edit func(auth map[string]any)) []byte {
		var v map[string]any
		json.Unmarshal(serverVersion, &v)
		edit(v["auth_data"].(map[string]any))
		b, _ := json.Marshal(v)
		return b
	}
	sigsOf := func(auth map[string]any) map[string]any {
		return auth["signatures"].(map[string]any)[user].(map[string]any)
	}
	st, err := w.m.CrossSigningStatus(meCtx)
	if err != nil {
		t.Fatal(err)
	}
	masterID := "ed25519:" + st.MasterKey.String()
	elemID := "ed25519:" + w.elemDev
	w.check(sigsOf(authData)[masterID] != nil && sigsOf(authData)[elemID] != nil, "Element's auth_data signatures: %v", authData["signatures"])
	deviceOnly := variant(func(auth map[string]any) { delete(sigsOf(auth), masterID) })
	forged := variant(func(auth map[string]any) {
		s := sigsOf(auth)
		delete(s, masterID)
		sig := []byte(s[elemID].(string))
		sig[3] ^= 1
		s[elemID] = string(sig)
	})
	other, _ := keybackup.GenerateBackupKey()
	swapped := variant(func(auth map[string]any) { auth["public_key"] = other.PublicKey().String() })
	other.Close()

	refuse := func(name string, b []byte) {
		t.Helper()
		err := w.m.SetBackupVersion(meCtx, b)
		w.check(errors.Is(err, machine.ErrUntrustedBackup), "SetBackupVersion(%s): %v, want ErrUntrustedBackup", name, err)
		st, _ := w.m.Backup(meCtx)
		w.check(st == nil, "the machine backs up to %+v after refusing %s", st, name)
	}
	refuse("signed by an unverified device only", deviceOnly)
	refuse("forged device signature", forged)
	refuse("swapped public key", swapped)

	// Element cross-signs its device with our self-signing key; once the
	// machine sees it, the device's signature is enough.
	var sig struct {
		Body json.RawMessage `json:"body"`
	}
	node.call(&sig, "verify_device", map[string]any{"user": user, "device": w.elemDev})
	w.elemSend([]trustRequest{{Type: "signature_upload", Body: sig.Body}})
	w.elemSync() // Element queries its own keys again
	var dev struct {
		Exists          bool `json:"exists"`
		Verified        bool `json:"verified"`
		CrossSignedByMe bool `json:"cross_signed_by_owner"`
	}
	node.call(&dev, "device_info", map[string]any{"user": user, "device": w.elemDev})
	w.check(dev.Exists && dev.Verified && dev.CrossSignedByMe, "Element's own device after signing: %+v", dev)
	w.goSync()
	ds, err := w.m.Devices(meCtx, user)
	if err != nil {
		t.Fatal(err)
	}
	var elemVerified bool
	for _, d := range ds {
		if d.DeviceID == w.elemDev {
			elemVerified = d.Verification == machine.VerificationVerified
		}
	}
	w.check(elemVerified, "the machine does not see Element's device cross-signed: %+v", ds)
	refuse("forged device signature, device verified", forged)
	refuse("swapped public key, device verified", swapped)
	if err := w.m.SetBackupVersion(meCtx, deviceOnly); err != nil {
		t.Fatalf("SetBackupVersion signed by our verified device: %v", err)
	}
	w.checks++
	if err := w.m.SetBackupVersion(meCtx, serverVersion); err != nil {
		t.Fatalf("SetBackupVersion signed by our master key: %v", err)
	}
	w.checks++
	bst, _ := w.m.Backup(meCtx)
	w.check(bst != nil && bst.Version == resp.Version && bst.PublicKey.String() == publicKey && !bst.KeyHeld, "backup status %+v", bst)

	// Restore Element's keys with the backup key.
	key, err := keybackup.ParseBackupKey(created.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	keys := w.do(user, w.goDev, "GET", "/_matrix/client/v3/room_keys/keys?version="+resp.Version, nil)
	wrong, _ := keybackup.GenerateBackupKey()
	_, err = w.m.RestoreBackup(meCtx, wrong, keys, machine.RestoreOptions{Version: serverVersion})
	wrong.Close()
	w.check(errors.Is(err, machine.ErrUntrustedBackup), "restore with a wrong key: %v", err)
	var progress int
	res, err := w.m.RestoreBackup(meCtx, key, keys, machine.RestoreOptions{Version: serverVersion, Progress: func(done, total int) { progress = done }})
	if err != nil {
		t.Fatal(err)
	}
	w.check(res.Imported == 1 && len(res.Errors) == 0 && progress == 1, "restored %d, errors %v, progress %d", res.Imported, res.Errors, progress)
	for i, ev := range events {
		d, err := w.m.DecryptRoomEvent(meCtx, w.room, ev)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		w.check(strings.Contains(string(d.Content), texts[i]), "event %d: %s", i, d.Content)
		w.check(d.Provenance == machine.ProvenanceBackup && d.Verification != machine.VerificationVerified,
			"event %d: provenance %s, verification %s", i, d.Provenance, d.Verification)
	}
	// Sessions restored from the version count as backed up in it.
	again, err := w.m.BackupRequest(meCtx, 100)
	w.check(err == nil && again == nil, "the machine uploads restored keys again: %v %v", again, err)
}
