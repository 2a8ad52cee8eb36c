package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// getFailStore fails every Get of account data with errInjected.
type getFailStore struct{ machine.Store }

func (s getFailStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return getFailTx{tx}, nil
}

type getFailTx struct{ machine.Tx }

func (t getFailTx) Get(ns machine.Namespace, k string) ([]byte, error) {
	if ns == machine.NSAccountData && strings.HasPrefix(k, machine.AccountDataKeyPrefix) {
		return nil, errInjected
	}
	return t.Tx.Get(ns, k)
}

// A store failure while ReceiveAccountData checks whether a key
// description is new must fail the call (the transaction is rolled back):
// before the fix it was taken for "not new" and the bound on key
// descriptions skipped.
func TestReceiveAccountDataStoreError(t *testing.T) {
	st := getFailStore{memstore.New()}
	m, err := machine.New(ctx, machine.Options{UserID: "@alice:x", DeviceID: "ALICE", Store: st, PickleKey: pickleKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ev := accountDataEvent(t, machine.AccountDataKeyPrefix+"k", map[string]string{"algorithm": "m.secret_storage.v1.aes-hmac-sha2"})
	if err := m.ReceiveAccountData(ctx, []json.RawMessage{ev}); !errors.Is(err, errInjected) {
		t.Fatalf("ReceiveAccountData with a failing store: %v", err)
	}
}

// countKind counts the requests of kind k.
func countKind(rs []machine.Request, k machine.RequestKind) int {
	n := 0
	for _, r := range rs {
		if r.Kind == k {
			n++
		}
	}
	return n
}

// heldMaster returns the public key of the master key secret held.
func heldMaster(t *testing.T, c *client) string {
	t.Helper()
	s, ok, err := c.m.Secret(ctx, crossign.UsageMaster.SecretName())
	if err != nil || !ok {
		t.Fatalf("no master key held: %v", err)
	}
	k, err := crossign.ParsePrivateKey(crossign.UsageMaster, s)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	return k.PublicKey().String()
}

// A replacing bootstrap whose device signing upload never succeeds (the
// user-interactive authentication failed, the application gave up) must
// not cost this device the keys of the published identity: before the
// fix the new keys replaced them at once, and our pinned identity with
// them, so that the device held keys nobody published and could not get
// the old ones back (secret storage refuses keys that do not match the
// identity it pinned). The new keys wait, across a restart, until the
// upload is confirmed, and a cancellation drops them.
func TestBootstrapAbandonedKeepsKeys(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	b := a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a.syncAccountData()
	b2, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	// Opening secret storage meanwhile signs this device with the
	// current (old) self-signing key: held back with the bootstrap's.
	if res, err := a.m.OpenSecretStorageWithRecoveryKey(ctx, ss.RecoveryKey); err != nil || !res.SignedThisDevice {
		t.Fatalf("open: %+v, %v", res, err)
	}
	a.restart()
	cur := machine.CrossSigningStatus{MasterKey: b.MasterKey, SelfSigningKey: b.SelfSigningKey, UserSigningKey: b.UserSigningKey,
		HasMaster: true, HasSelfSigning: true, HasUserSigning: true, Trusted: true}
	pending := cur
	pending.Pending, pending.PendingMasterKey = true, b2.MasterKey
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != pending {
		t.Fatalf("status while the bootstrap waits: %+v, %v", st, err)
	}
	if got := heldMaster(t, a); got != b.MasterKey.String() {
		t.Errorf("master key held while the bootstrap waits: %s, want the published %s", got, b.MasterKey)
	}
	if reqs, _ := a.m.OutgoingRequests(ctx); hasKind(reqs, machine.KindSignatureUpload) {
		t.Error("a signature upload offered while the bootstrap waits")
	}
	if d := deviceOf(t, a, a.user, a.dev); d.Verification != machine.VerificationVerified {
		t.Errorf("own device while the bootstrap waits: %v", d.Verification)
	}
	// The upload failed: the bootstrap is dropped, its signature with it.
	if err := a.m.CancelCrossSigningBootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != cur {
		t.Fatalf("status after the cancellation: %+v, %v", st, err)
	}
	reqs, err := a.m.OutgoingRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(reqs, machine.KindSignatureUpload); n != 1 {
		t.Errorf("%d signature uploads after the cancellation, want the one made with the current keys", n)
	}
	if err := a.m.CancelCrossSigningBootstrap(ctx); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("second cancellation: %v", err)
	}
	if err := a.m.ConfirmCrossSigningUpload(ctx); !errors.Is(err, machine.ErrNotFound) {
		t.Errorf("confirmation after the cancellation: %v", err)
	}
	a.flush()
	if st, _ := a.m.CrossSigningStatus(ctx); *st != cur {
		t.Errorf("status after a query: %+v", st)
	}
	if ch, _ := a.m.IdentityChanged(ctx, a.user); ch {
		t.Error("identity flagged as changed")
	}
	if got := heldMaster(t, a); got != b.MasterKey.String() {
		t.Errorf("master key held after the cancellation: %s", got)
	}

	// A second bootstrap while one waits is refused (the first one's
	// upload may yet succeed); after a cancellation it is made, and
	// confirmed after a restart, its keys become ours.
	if _, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true}); !errors.Is(err, machine.ErrBootstrapPending) {
		t.Fatalf("a second bootstrap while one waits: %v", err)
	}
	if err := a.m.CancelCrossSigningBootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	b3, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a.send2("/_matrix/client/v3/keys/device_signing/upload", b3.DeviceSigningUpload)
	a.restart()
	if err := a.m.ConfirmCrossSigningUpload(ctx); err != nil {
		t.Fatal(err)
	}
	reqs, _ = a.m.OutgoingRequests(ctx)
	if n := countKind(reqs, machine.KindSignatureUpload); n != 1 {
		t.Errorf("%d signature uploads after the confirmation, want the last bootstrap's", n)
	}
	a.flush()
	want := machine.CrossSigningStatus{MasterKey: b3.MasterKey, SelfSigningKey: b3.SelfSigningKey, UserSigningKey: b3.UserSigningKey,
		HasMaster: true, HasSelfSigning: true, HasUserSigning: true, Trusted: true}
	if st, _ := a.m.CrossSigningStatus(ctx); *st != want {
		t.Errorf("status after the confirmation: %+v", st)
	}
	if ch, _ := a.m.IdentityChanged(ctx, a.user); ch {
		t.Error("our new identity flagged as changed")
	}
	if d := deviceOf(t, a, a.user, a.dev); d.Verification != machine.VerificationVerified {
		t.Errorf("own device after the confirmation: %v", d.Verification)
	}
}

// A first bootstrap abandoned leaves no keys that nobody published: its
// keys stay pending (CrossSigningStatus says so) until the confirmation,
// and the cancellation leaves the device as before. Before the fix the
// keys were the device's at once, and a later bootstrap without Replace
// was refused (ErrCrossSigningExists) for keys the server never had.
func TestFirstBootstrapAbandoned(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	b, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != (machine.CrossSigningStatus{Pending: true, PendingMasterKey: b.MasterKey}) {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if _, ok, _ := a.m.Secret(ctx, crossign.UsageMaster.SecretName()); ok {
		t.Error("master key held before the upload is confirmed")
	}
	if err := a.m.CancelCrossSigningBootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.m.CrossSigningStatus(ctx); err != nil || *st != (machine.CrossSigningStatus{}) {
		t.Fatalf("status after the cancellation: %+v, %v", st, err)
	}
	if reqs, _ := a.m.OutgoingRequests(ctx); hasKind(reqs, machine.KindSignatureUpload) {
		t.Error("the abandoned bootstrap's signature is offered")
	}
	b2 := a.bootstrap() // no Replace needed: nothing was published
	if st, _ := a.m.CrossSigningStatus(ctx); st.MasterKey != b2.MasterKey || !st.HasMaster || !st.Trusted || st.Pending {
		t.Errorf("status after the second bootstrap: %+v", st)
	}
}

// A /keys/query that finds the bootstrap's master key published before
// ConfirmCrossSigningUpload comes (a sync loop between the upload and the
// confirmation) shows the upload succeeded: the keys become ours then,
// our identity is not taken for a changed one, and the confirmation that
// follows succeeds.
func TestBootstrapConfirmedByQuery(t *testing.T) {
	for _, replace := range []bool{false, true} {
		w := newWorld(t)
		a := w.alice
		if replace {
			a.bootstrap()
		}
		b, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: replace})
		if err != nil {
			t.Fatal(err)
		}
		a.send2("/_matrix/client/v3/keys/device_signing/upload", b.DeviceSigningUpload)
		a.m.MarkAllTrackedUsersOutdated(ctx)
		a.flush()
		want := machine.CrossSigningStatus{MasterKey: b.MasterKey, SelfSigningKey: b.SelfSigningKey, UserSigningKey: b.UserSigningKey,
			HasMaster: true, HasSelfSigning: true, HasUserSigning: true, Trusted: true}
		if st, _ := a.m.CrossSigningStatus(ctx); *st != want {
			t.Errorf("replace %v: status after the query: %+v", replace, st)
		}
		if ch, _ := a.m.IdentityChanged(ctx, a.user); ch {
			t.Errorf("replace %v: our new identity flagged as changed", replace)
		}
		if err := a.m.ConfirmCrossSigningUpload(ctx); err != nil {
			t.Errorf("replace %v: confirmation after the query: %v", replace, err)
		}
		if err := a.m.ConfirmCrossSigningUpload(ctx); !errors.Is(err, machine.ErrNotFound) {
			t.Errorf("replace %v: second confirmation: %v", replace, err)
		}
		a.flush()
		if d := deviceOf(t, a, a.user, a.dev); d.Verification != machine.VerificationVerified {
			t.Errorf("replace %v: own device: %v", replace, d.Verification)
		}
	}
}

// A backup version whose POST never reaches the server (or whose answer
// is lost) must not cost this device the key of the backup in use: before
// the fix CreateBackupVersion replaced the secret m.megolm_backup.v1 at
// once, and the device could no longer restore from the backup set. The
// new key waits, across a restart, until SetBackupVersion accepts its
// version.
func TestBackupVersionAbandonedKeepsKey(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	cr1, err := a.m.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := cr1.VersionBody([]byte(`{"version":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.m.SetBackupVersion(ctx, v1); err != nil {
		t.Fatal(err)
	}
	set := machine.BackupStatus{Version: "1", PublicKey: cr1.PublicKey, KeyHeld: true}
	heldKey := func() keybackup.BackupPublicKey {
		t.Helper()
		k, err := a.m.BackupKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		return k.PublicKey()
	}
	// The POST of a second version is abandoned.
	cr2, err := a.m.CreateBackupVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.restart()
	if st, err := a.m.Backup(ctx); err != nil || *st != set {
		t.Fatalf("backup status after an abandoned version: %+v, %v", st, err)
	}
	if k := heldKey(); k != cr1.PublicKey {
		t.Errorf("backup key held %v, want the key of the version set %v", k, cr1.PublicKey)
	}
	// Another version with another key does not take the pending key.
	other, _ := keybackup.GenerateBackupKey()
	defer other.Close()
	if err := a.m.SetBackupVersion(ctx, otherVersion(t, other)); !errors.Is(err, machine.ErrUntrustedBackup) {
		t.Errorf("a version of a key not ours: %v", err)
	}
	// The server's answer comes (after a restart): the new key is ours.
	v2, err := cr2.VersionBody([]byte(`{"version":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.m.SetBackupVersion(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if st, err := a.m.Backup(ctx); err != nil || *st != (machine.BackupStatus{Version: "2", PublicKey: cr2.PublicKey, KeyHeld: true}) {
		t.Fatalf("backup status: %+v, %v", st, err)
	}
	if k := heldKey(); k != cr2.PublicKey {
		t.Errorf("backup key held %v, want %v", k, cr2.PublicKey)
	}
}

// otherVersion is a backup version of key, signed by nobody we know.
func otherVersion(t *testing.T, key *keybackup.BackupKey) []byte {
	t.Helper()
	b, err := (&keybackup.BackupVersion{Algorithm: keybackup.BackupAlgorithm, Version: "9",
		AuthData: keybackup.NewAuthData(key.PublicKey())}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// While a bootstrap waits for its upload, SecretStorageAccountData holds
// back the cross-signing keys only: the dehydration key of a dehydrated
// device made before still goes to secret storage, or the user's other
// devices could not rehydrate.
func TestPendingBootstrapKeepsDehydrationKeyWrite(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	ss, err := a.m.CreateSecretStorage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a.putAccountData(ss.AccountData)
	a.syncAccountData()
	d, err := a.m.CreateDehydratedDevice(ctx, nil)
	if err != nil || !d.NewKey {
		t.Fatalf("dehydrated device: %+v, %v", d, err)
	}
	if _, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	puts, err := a.m.SecretStorageAccountData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, p := range puts {
		types[p.Type] = true
	}
	if !types[dehydrated.SecretName] || !types[dehydrated.UnstableSecretName] {
		t.Errorf("puts while the bootstrap waits: %v, want the dehydration key under both names", types)
	}
	for _, name := range []string{"m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing"} {
		if types[name] {
			t.Errorf("%s written while the bootstrap waits", name)
		}
	}
}

// While a bootstrap waits, no dehydrated device is made: it would be
// signed by the self-signing key the bootstrap replaces, and so be
// unsigned, getting no room key (MSC3814), once the bootstrap is
// confirmed. Nothing is stored. After the cancellation it is made.
func TestNoDehydratedDeviceWhileBootstrapWaits(t *testing.T) {
	w := newWorld(t)
	a := w.alice
	a.bootstrap()
	if _, err := a.m.BootstrapCrossSigning(ctx, machine.BootstrapOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.CreateDehydratedDevice(ctx, nil); !errors.Is(err, machine.ErrNoSelfSigningKey) {
		t.Fatalf("while the bootstrap waits: %v, want ErrNoSelfSigningKey", err)
	}
	if _, ok, _ := a.m.Secret(ctx, dehydrated.SecretName); ok {
		t.Error("a dehydration key was stored for a device that was not made")
	}
	if err := a.m.CancelCrossSigningBootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.CreateDehydratedDevice(ctx, nil); err != nil {
		t.Errorf("after the cancellation: %v", err)
	}
}
