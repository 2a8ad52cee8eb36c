package crossign_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/olm"
)

// Example shows a user setting up cross-signing for her device, then
// evaluating the server's answer to /keys/query as another of her devices
// would, before and after verifying the first device.
func Example() {
	const alice = "@alice:example.org"
	account, _ := olm.NewAccount()
	deviceKeys, _ := account.DeviceKeys(alice, "PHONE")

	// Create the keys and the two uploads.
	keys, _ := crossign.GenerateKeys(alice)
	upload, _ := keys.DeviceSigningUpload() // POST /keys/device_signing/upload
	device, _ := crossign.ParseDevice(deviceKeys)
	signed, _ := keys.SignDevice(device)
	var sigs crossign.SignatureUpload // POST /keys/signatures/upload
	_ = sigs.Add(signed)

	// What the server then returns (here assembled by hand): the device
	// keys with both signatures merged, and the cross-signing keys.
	_ = device.Object().AddSignatures(signed.Object)
	response, _ := json.Marshal(map[string]any{
		"device_keys":       map[string]any{alice: map[string]any{"PHONE": device}},
		"master_keys":       map[string]any{alice: upload.MasterKey},
		"self_signing_keys": map[string]any{alice: upload.SelfSigningKey},
		"user_signing_keys": map[string]any{alice: upload.UserSigningKey},
	})
	q, err := crossign.ParseQueryResponse(response)
	if err != nil {
		panic(err)
	}

	// A new device of Alice's holds no private key and has verified
	// nobody yet: the phone is cross-signed, but not verified.
	v := &crossign.Verifier{UserID: alice}
	report, _ := v.Evaluate(q)
	phone := report.Device(alice, "PHONE")
	fmt.Println("cross-signed:", phone.CrossSigned)
	fmt.Println("verified:", phone.Verified, errors.Is(phone.Reason, crossign.ErrNotVerified))

	// After fetching the master key from secret storage, it is.
	v.MasterKey, _ = crossign.ParsePrivateKey(crossign.UsageMaster, keys.Master.Secret())
	report, _ = v.Evaluate(q)
	fmt.Println("verified:", report.Device(alice, "PHONE").Verified)
	// Output:
	// cross-signed: true
	// verified: false true
	// verified: true
}
