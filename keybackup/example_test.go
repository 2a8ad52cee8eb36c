package keybackup_test

import (
	"context"
	"fmt"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// A device creates a backup, signs it, and backs up a room key; later a
// new device restores the backup from the recovery key the user wrote
// down.
func Example() {
	device, _ := olm.NewAccount()
	backupKey, _ := keybackup.GenerateBackupKey()
	recoveryKey := backupKey.RecoveryKey() // shown to the user once

	// POST /room_keys/version with the signed auth_data.
	authData := keybackup.NewAuthData(backupKey.PublicKey())
	authData.Sign("@alice:example.org", "DEVICEID", device.Sign)
	version := &keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm, AuthData: authData}
	body, _ := version.MarshalJSON()

	// Any device of Alice's that trusts the backup uploads its room keys.
	server, _ := keybackup.ParseBackupVersion(body)
	trusted := keybackup.DeviceSigningKey("DEVICEID", device.Ed25519Key())
	if err := server.AuthData.CheckTrusted("@alice:example.org", nil, trusted); err != nil {
		panic(err)
	}
	outbound, _ := megolm.NewGroupSession()
	inbound, _ := megolm.NewInboundGroupSession(outbound.SessionKey())
	session := keybackup.NewBackedUpSession(inbound, device.Curve25519Key(), device.Ed25519Key(), nil)
	entry, _ := server.AuthData.PublicKey.NewBackupEntry("!room:example.org", inbound.SessionID(), session, 0, true)
	upload, _ := keybackup.MarshalRoomKeys([]keybackup.BackupEntry{entry}) // PUT /room_keys/keys

	// A new device: the user types the recovery key.
	// The key is checked against the backup's public key: a typo the
	// recovery key's parity misses, or another backup's key, fails here.
	restored, err := keybackup.BackupKeyFromRecoveryKey(recoveryKey, server.AuthData.PublicKey)
	if err != nil {
		panic(err)
	}
	entries, _ := keybackup.ParseRoomKeys(upload) // GET /room_keys/keys
	for _, r := range restored.DecryptAll(context.Background(), entries, nil) {
		if r.Err != nil {
			fmt.Println(r.SessionID, r.Err)
			continue
		}
		fmt.Println(r.RoomID, r.Inbound.SessionID() == outbound.SessionID(), r.Inbound.Provenance())
	}
	// Output: !room:example.org true backup
}

// Unlocking secret storage with a recovery key, and reading the master
// cross-signing key from it (the key and secret are from mautrix-go's
// tests).
func ExampleKeyDescription_UnlockWithRecoveryKey() {
	desc, err := keybackup.ParseKeyDescription([]byte(mautrixKey1Meta)) // m.secret_storage.key.<id>
	if err != nil {
		panic(err)
	}
	key, err := desc.UnlockWithRecoveryKey(mautrixKey1ID, "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC")
	if err != nil {
		panic(err)
	}
	content, _ := keybackup.ParseSecretContent([]byte(mautrixMasterSecret)) // m.cross_signing.master
	encrypted, _ := content.For(key.ID())
	secret, err := key.Decrypt(keybackup.SecretCrossSigningMaster, encrypted)
	fmt.Println(len(secret), err)

	_, err = desc.UnlockWithRecoveryKey(mautrixKey1ID, "EsUC xSxt XJgQ dz19 8WBZ rHdE GZo7 ybsn EFmG Y5HY MDAG GNWe")
	fmt.Println(err)
	// Output:
	// 44 <nil>
	// keybackup: check key: wrong key
}

// Reading one of Element's test export files.
func ExampleDecryptKeyExportData() {
	file := "-----BEGIN MEGOLM SESSION DATA-----\n" +
		"AXNhbHRzYWx0c2FsdHNhbHSIiIiIiIiIiIiIiIiIiIiIAAAACmIRUW2OjZ3L2l6j9h0lHlV3M2dx\n" +
		"cissyYBxjsfsAndErh065A8=\n" +
		"-----END MEGOLM SESSION DATA-----"
	plain, err := keybackup.DecryptKeyExportData([]byte(file), "password")
	fmt.Printf("%q %v\n", plain, err)
	_, err = keybackup.DecryptKeyExportData([]byte(file), "passw0rd")
	fmt.Println(err)
	// Output:
	// "plain" <nil>
	// keybackup: key export: wrong passphrase: wrong key
}

// Signing a backup's auth_data with the master cross-signing key: any
// crypto.Signer with an Ed25519 key will do, and the key ID is derived
// from its public key.
func ExampleAuthData_SignWith() {
	const alice = "@alice:example.org"
	master, _ := crossign.GeneratePrivateKey(crossign.UsageMaster)
	backupKey, _ := keybackup.GenerateBackupKey()
	authData := keybackup.NewAuthData(backupKey.PublicKey())
	if err := authData.SignWith(alice, master); err != nil {
		panic(err)
	}
	// Another device of Alice's, which trusts her master key, trusts the
	// backup.
	_, err := authData.Verify(alice, keybackup.MasterSigningKey(master.PublicKey()))
	fmt.Println(err == nil, len(authData.Signatures[alice]))
	// Output: true 1
}
