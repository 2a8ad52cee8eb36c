package keybackup_test

import (
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
)

// TestErrorPrefixOnce: an error names the package once.
func TestErrorPrefixOnce(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	other, _ := keybackup.GenerateBackupKey()
	ssk, _ := keybackup.GenerateSecretStorageKey("n")
	es, _ := ssk.EncryptBackupKey(other)
	closed, _ := keybackup.GenerateBackupKey()
	closed.Close()
	huge := &keybackup.KeyDescription{Algorithm: keybackup.SecretStorageAlgorithm,
		Passphrase: &keybackup.Passphrase{Algorithm: keybackup.PBKDF2Algorithm, Salt: "s", Iterations: 1 << 30}}
	for name, call := range map[string]func() error{
		"auth_data public key": func() error { _, err := keybackup.ParseAuthData([]byte(`{"public_key":"AAAA"}`)); return err },
		"recovery key": func() error {
			_, err := keybackup.BackupKeyFromRecoveryKey(other.RecoveryKey(), bk.PublicKey())
			return err
		},
		"recovery key format": func() error { _, err := keybackup.BackupKeyFromRecoveryKey("x", bk.PublicKey()); return err },
		"secret of other key": func() error { _, err := ssk.DecryptBackupKey(es, bk.PublicKey()); return err },
		"passphrase":          func() error { _, err := huge.UnlockWithPassphrase("id", "p"); return err },
		"closed":              func() error { _, err := closed.DecryptSession(&keybackup.SessionData{}); return err },
		"export":              func() error { _, err := keybackup.DecryptKeyExport([]byte("x"), "p"); return err },
		"encrypt session":     func() error { _, err := bk.PublicKey().EncryptSession(&keybackup.BackedUpSession{}); return err },
	} {
		err := call()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := strings.Count(err.Error(), "keybackup:"); n != 1 {
			t.Errorf("%s: %q names the package %d times", name, err, n)
		}
	}
}
