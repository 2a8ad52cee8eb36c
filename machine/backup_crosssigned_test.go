package machine_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/internal/fakehs"
	"github.com/souverain/e2ee/machine"
)

// TestBackupSignedByCrossSignedDevice: a backup version signed only by
// another device of ours is trusted once that device is cross-signed by
// our trusted identity (Devices reports it verified), not only when we
// verified it ourselves, as matrix-rust-sdk's verifyBackup judges it
// (Element signs with its device key alone when it does not hold the
// master key). Found by interop/TestElementBackupReadByMachine.
func TestBackupSignedByCrossSignedDevice(t *testing.T) {
	hs := fakehs.New()
	const alice = "@alice:example.org"
	phone, phoneDo := exampleDevice(hs, alice, "PHONE")
	ss, err := phone.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := phone.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	phoneDo("POST", "/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
	if err := phone.ConfirmCrossSigningUpload(ctx); err != nil {
		t.Fatal(err)
	}
	phoneDo("", "", nil)
	for _, p := range append(ss.AccountData, b.AccountData...) {
		phoneDo("PUT", p.Path, p.Content)
	}

	laptop, laptopDo := exampleDevice(hs, alice, "LAPTOP")
	cr, err := laptop.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The auth_data as a device without the master key signs it.
	var body map[string]any
	json.Unmarshal(cr.Body, &body)
	delete(body["auth_data"].(map[string]any)["signatures"].(map[string]any)[alice].(map[string]any), "ed25519:"+b.MasterKey.String())
	deviceOnly, _ := json.Marshal(body)
	version, err := cr.VersionBody(laptopDo("POST", "/_matrix/client/v3/room_keys/version", deviceOnly))
	if err != nil {
		t.Fatal(err)
	}
	verification := func() machine.Verification {
		t.Helper()
		if err := phone.MarkAllTrackedUsersOutdated(ctx); err != nil {
			t.Fatal(err)
		}
		phoneDo("", "", nil)
		ds, err := phone.Devices(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.DeviceID == "LAPTOP" {
				return d.Verification
			}
		}
		t.Fatal("PHONE does not know LAPTOP")
		return 0
	}
	if v := verification(); v != machine.VerificationUnsigned {
		t.Fatalf("LAPTOP is %s before it is cross-signed", v)
	}
	if err := phone.SetBackupVersion(ctx, version); !errors.Is(err, machine.ErrUntrustedBackup) {
		t.Fatalf("a version signed by an unsigned device: %v, want ErrUntrustedBackup", err)
	}
	// LAPTOP reads secret storage, which cross-signs it.
	laptop.ReceiveAccountData(ctx, hs.AccountData(alice))
	if _, err := laptop.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil {
		t.Fatal(err)
	}
	laptopDo("", "", nil)
	if v := verification(); v != machine.VerificationVerified {
		t.Fatalf("LAPTOP is %s once cross-signed", v)
	}
	if err := phone.SetBackupVersion(ctx, version); err != nil {
		t.Fatalf("a version signed by our cross-signed device: %v", err)
	}
	if st, _ := phone.Backup(ctx); st == nil || st.PublicKey != cr.PublicKey || st.KeyHeld {
		t.Fatalf("backup status %+v", st)
	}
}
