// Package machine is souverain's end-to-end encryption engine: the layer a
// Matrix client or bot embeds to encrypt and decrypt without writing the
// protocol glue (Olm session selection, m.room_key handling, replay and room
// checks, key upload and tracking) itself.
//
// It is sans I/O, like matrix-rust-sdk's OlmMachine and this module's
// sas.Machine: it never does HTTP, starts no goroutine of its own and reads
// the time from Options.Clock. The caller feeds it what /sync returned
// (Machine.ReceiveSync), sends the requests it asks for
// (Machine.OutgoingRequests, Machine.ShareRoomKey) with any HTTP client, and
// hands each response back (Machine.MarkRequestSent). Request and response
// bodies are the specification's JSON. The loop:
//
//  1. ReceiveSync with the to-device events, device_lists and key counts of
//     each /sync response (Refresh after an initial or gappy sync); retry the
//     room events it lists in SyncResult.Retry.
//  2. OutgoingRequests; send each, then MarkRequestSent with the response
//     body. A request not marked is offered again, with the same ID.
//  3. Room state goes in as it arrives: SetRoomEncryption,
//     SetRoomHistoryVisibility, and the members passed to ShareRoomKey.
//  4. To send: ShareRoomKey until it returns no request, then
//     EncryptRoomEvent. To read: DecryptRoomEvent.
//  5. Verification: SyncResult.Verifications (and the VerificationUpdate of
//     ReceiveRoomVerificationEvent, for in-room events) says which
//     verification changed and what to show or decide; act through
//     VerificationChange.Verification and pass the events to
//     SendVerificationEvents. When one ends in done, the machine records
//     the keys verified, signs them with the cross-signing keys it holds
//     and queues the signature upload (see ExampleVerificationChange).
//
// Safe by default: a room once encrypted stays encrypted; room keys arrive
// only over Olm and are bound to their room and sender; Megolm message
// indices are checked against replay records that survive restarts; a
// pre-key message is never used twice; device keys are pinned and must be
// self-signed; room keys go to every device of the members except our own,
// blacklisted and flagged ones, those that their owner's published
// cross-signing identity did not sign and dehydrated devices that are not
// cross-signed (or only to verified ones, with
// Options.OnlyVerified); forwarded keys and secrets are accepted only from
// our own verified devices in answer to our requests; the key of a message
// index is stored before its ciphertext leaves. Decrypted events carry the
// sender device, its verification state and the key's provenance, which
// never upgrades by itself.
//
// Trust and keys, each switched on by the application: BootstrapCrossSigning
// creates the user's cross-signing identity in one call (the caller adds
// user-interactive auth to the upload it returns); ReceiveAccountData,
// OpenSecretStorageWithRecoveryKey (or WithPassphrase), CreateSecretStorage
// and SecretStorageAccountData read and write the secrets of secret storage,
// cross-signing keys only when they match our published ones;
// CreateBackupVersion, SetBackupVersion, BackupRequest and RestoreBackup
// run the server-side key backup, whose restored keys stay unauthenticated
// (provenance "backup"). RequestMissingSecrets, RequestSecret and
// SetSecret share secrets with our own verified devices only. Other
// users' identities are pinned at first sight: UserIdentity reports a
// change (with a warning if the replaced identity was verified) until
// AcceptIdentity or a new verification.
// CreateDehydratedDevice and Rehydrate keep history sent while all of the
// user's devices are offline (MSC3814): a cross-signed device on the server
// collects room keys, and a later device of the user reads them, page by
// page, with the key kept in secret storage.
//
// State lives in a Store, in records encrypted under a pickle key the caller
// supplies: machine/memstore keeps it in memory, and machine/storetest holds
// the conformance tests every Store passes. One /sync batch is one store
// transaction, so a crash leaves the state before or after it. A Machine is
// safe for concurrent use; its calls are serialised.
package machine
