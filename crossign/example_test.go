package crossign_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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

// After a SAS or QR verification of Bob (sas.Verification.Result gives
// the master key the two devices agreed on), Alice signs Bob's master key
// with her user-signing key and uploads the signature. From then on her
// Verifier trusts Bob and the devices his self-signing key signed, on
// every device of hers, without verifying again.
func ExamplePrivateKeys_SignUser() {
	const alice, bob = "@alice:example.org", "@bob:example.org"
	aliceKeys, _ := crossign.GenerateKeys(alice)
	bobKeys, _ := crossign.GenerateKeys(bob)
	aliceUpload, _ := aliceKeys.DeviceSigningUpload()
	bobUpload, _ := bobKeys.DeviceSigningUpload()

	// /keys/query for both users, before Alice signs anything.
	query := func(bobMaster *crossign.Key) *crossign.QueryResponse {
		body, _ := json.Marshal(map[string]any{
			"master_keys":       map[string]any{alice: aliceUpload.MasterKey, bob: bobMaster},
			"self_signing_keys": map[string]any{alice: aliceUpload.SelfSigningKey, bob: bobUpload.SelfSigningKey},
			"user_signing_keys": map[string]any{alice: aliceUpload.UserSigningKey},
		})
		q, err := crossign.ParseQueryResponse(body)
		if err != nil {
			panic(err)
		}
		return q
	}
	q := query(bobUpload.MasterKey)
	v := &crossign.Verifier{UserID: alice, MasterKey: aliceKeys.Master}
	report, _ := v.Evaluate(q)
	fmt.Println("before:", report.User(bob).Verified)

	// The verification's result: the master key Bob's device showed.
	verified := bobUpload.MasterKey.PublicKey()
	bobMaster, _ := q.CrossSigningKey(bob, crossign.UsageMaster)
	if bobMaster.PublicKey() != verified {
		panic("the server's master key for Bob is not the one verified")
	}
	signed, err := aliceKeys.SignUser(bobMaster)
	if err != nil {
		panic(err)
	}
	var upload crossign.SignatureUpload
	_ = upload.Add(signed)
	body, _ := upload.MarshalJSON() // POST /keys/signatures/upload
	fmt.Println("upload has Alice's signature:", strings.Contains(string(body), aliceKeys.UserSigning.KeyID()))

	// The server merges the signature; the next /keys/query shows it.
	_ = bobMaster.Object().AddSignatures(signed.Object)
	report, _ = v.Evaluate(query(bobMaster))
	fmt.Println("after:", report.User(bob).Verified)
	// Output:
	// before: false
	// upload has Alice's signature: true
	// after: true
}

// Feeding a sas.Machine the keys of the last /keys/query response: the
// devices with valid self-signatures and the cross-signing keys as
// published, which SAS then pins and verifies.
func ExampleQueryResponse_SASKeys() {
	const bob = "@bob:example.org"
	account, _ := olm.NewAccount()
	deviceKeys, _ := account.DeviceKeys(bob, "BOBPHONE")
	keys, _ := crossign.GenerateKeys(bob)
	upload, _ := keys.DeviceSigningUpload()
	response, _ := json.Marshal(map[string]any{
		"device_keys":       map[string]any{bob: map[string]json.RawMessage{"BOBPHONE": deviceKeys}},
		"master_keys":       map[string]any{bob: upload.MasterKey},
		"self_signing_keys": map[string]any{bob: upload.SelfSigningKey},
	})
	q, err := crossign.ParseQueryResponse(response)
	if err != nil {
		panic(err)
	}
	// For a sas.Config: Keys: q.SASKeys (one response per user, here).
	k, ok := q.SASKeys(bob)
	fmt.Println(ok, k.Devices["BOBPHONE"] == account.Ed25519Key(), k.MasterKey == keys.Master.PublicKey())
	// Output: true true true
}
