package machine_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// exampleDevice opens a machine on the fake homeserver, which stands for
// net/http calls to a real one, and uploads its keys.
func exampleDevice(hs *fakehs.Server, user, device string) (*machine.Machine, func(method, path string, body []byte) []byte) {
	ctx := context.Background()
	m, err := machine.New(ctx, machine.Options{UserID: user, DeviceID: device, Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
	if err != nil {
		panic(err)
	}
	do := func(method, path string, body []byte) []byte { // an HTTP request to the homeserver
		resp, err := hs.Do(user, device, machine.Request{Method: method, Path: path, Body: body})
		if err != nil {
			panic(err)
		}
		return resp
	}
	flush := func() {
		reqs, _ := m.OutgoingRequests(ctx)
		for _, r := range reqs {
			m.MarkRequestSent(ctx, r.ID, do(r.Method, r.Path, r.Body))
		}
	}
	flush()
	flush()
	return m, func(method, path string, body []byte) []byte {
		if method == "" { // flush the machine's requests
			flush()
			return nil
		}
		return do(method, path, body)
	}
}

// Setting up cross-signing and secret storage on a first device, then
// reading the keys on a second device with the recovery key: the second
// device trusts the first at once.
func ExampleMachine_BootstrapCrossSigning() {
	ctx := context.Background()
	hs := fakehs.New()
	const alice = "@alice:example.org"
	phone, phoneDo := exampleDevice(hs, alice, "PHONE")

	// Secret storage first, so that the bootstrap also stores the keys in it.
	ss, _ := phone.CreateSecretStorage(ctx, "")
	b, err := phone.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		panic(err)
	}
	// The app adds the user-interactive "auth" the server asks for.
	phoneDo("POST", "/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	phone.ConfirmCrossSigningUpload(ctx)
	phoneDo("", "", nil) // the signature of PHONE goes out now
	for _, p := range append(ss.AccountData, b.AccountData...) {
		phoneDo("PUT", p.Path, p.Content)
	}

	// A second device: account data from /sync, then the recovery key.
	laptop, _ := exampleDevice(hs, alice, "LAPTOP")
	laptop.ReceiveAccountData(ctx, hs.AccountData(alice))
	res, err := laptop.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey)
	if err != nil {
		panic(err)
	}
	fmt.Println("imported:", res.Imported)
	reqs, _ := laptop.OutgoingRequests(ctx) // queries our own keys again
	for _, r := range reqs {
		body, _ := hs.Do(alice, "LAPTOP", r)
		laptop.MarkRequestSent(ctx, r.ID, body)
	}
	devices, _ := laptop.Devices(ctx, alice)
	for _, d := range devices {
		fmt.Println(d.DeviceID, d.Verification)
	}
	st, _ := laptop.CrossSigningStatus(ctx)
	fmt.Println("master key:", st.MasterKey == b.MasterKey, "held:", st.HasMaster, "trusted:", st.Trusted)
	// Output:
	// imported: [m.cross_signing.master m.cross_signing.self_signing m.cross_signing.user_signing]
	// LAPTOP verified
	// PHONE verified
	// master key: true held: true trusted: true
}

// A reset of the user's identity whose device signing upload the server
// refuses (the password for user-interactive authentication was wrong):
// the new keys were only pending, and the device keeps the published
// identity and its keys.
func ExampleMachine_CancelCrossSigningBootstrap() {
	ctx := context.Background()
	hs := fakehs.New()
	const alice = "@alice:example.org"
	phone, phoneDo := exampleDevice(hs, alice, "PHONE")
	b, _ := phone.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	phoneDo("POST", "/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	phone.ConfirmCrossSigningUpload(ctx)
	phoneDo("", "", nil)

	reset, err := phone.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		panic(err)
	}
	st, _ := phone.CrossSigningStatus(ctx)
	fmt.Println("pending:", st.Pending, st.PendingMasterKey == reset.MasterKey, "current:", st.MasterKey == b.MasterKey, st.HasMaster)
	// POST reset.DeviceSigningUpload: the server answers 401 for good.
	if err := phone.CancelCrossSigningBootstrap(ctx); err != nil {
		panic(err)
	}
	st, _ = phone.CrossSigningStatus(ctx)
	fmt.Println("pending:", st.Pending, "current:", st.MasterKey == b.MasterKey, st.HasMaster, st.Trusted)
	// Output:
	// pending: true true current: true true
	// pending: false current: true true true
}

// Switching the server-side key backup on, backing up room keys, and
// restoring them on a new device from the recovery key.
func ExampleMachine_CreateBackupVersion() {
	ctx := context.Background()
	hs := fakehs.New()
	const alice = "@alice:example.org"
	phone, _ := exampleDevice(hs, alice, "PHONE")

	// The app switches the backup on (the machine never does by itself).
	cr, err := phone.CreateBackupVersion(ctx)
	if err != nil {
		panic(err)
	}
	// POST /_matrix/client/v3/room_keys/version with cr.Body; the server
	// answers with the version it assigned.
	version, _ := cr.VersionBody([]byte(`{"version":"1"}`))
	if err := phone.SetBackupVersion(ctx, version); err != nil {
		panic(err)
	}
	if st, _ := phone.Backup(ctx); st != nil {
		fmt.Println("backing up to version", st.Version, "key held:", st.KeyHeld)
	}
	// Room keys arrive (here: PHONE's own room session), and go up.
	phone.SetRoomEncryption(ctx, "!room:example.org", json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
	phone.ShareRoomKey(ctx, "!room:example.org", []string{alice})
	up, _ := phone.BackupRequest(ctx, 100)                              // PUT up.Path with up.Body
	phone.MarkRequestSent(ctx, up.ID, []byte(`{"etag":"1","count":1}`)) // after the server's 200

	// A new device: the user types the recovery key; GET
	// /room_keys/version and /room_keys/keys give the version and keys.
	laptop, _ := exampleDevice(hs, alice, "LAPTOP")
	key, err := keybackup.BackupKeyFromRecoveryKey(cr.RecoveryKey, cr.PublicKey)
	if err != nil {
		panic(err)
	}
	defer key.Close()
	res, err := laptop.RestoreBackup(ctx, key, up.Body, machine.RestoreOptions{Version: version,
		Progress: func(done, total int) { fmt.Printf("%d/%d\n", done, total) }})
	if err != nil {
		panic(err)
	}
	fmt.Println("restored:", res.Imported, "failed:", len(res.Errors))
	// Output:
	// backing up to version 1 key held: true
	// 1/1
	// restored: 1 failed: 0
}
