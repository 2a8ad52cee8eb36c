package keybackup_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// TestNilAndZero calls every exported method that can fail with nil
// arguments and nil or zero receivers: each returns an error wrapping
// ErrNil, never panics.
func TestNilAndZero(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	ssk, _ := keybackup.GenerateSecretStorageKey("n")
	var nilBK *keybackup.BackupKey
	var nilSSK *keybackup.SecretStorageKey
	var nilDesc *keybackup.KeyDescription
	var nilAuth *keybackup.AuthData
	var nilContent *keybackup.SecretContent
	var nilPass *keybackup.Passphrase
	entries := []keybackup.BackupEntry{{RoomID: "!r:x", SessionID: "s", Data: []byte(`{}`)}}
	restoreErr := func(k *keybackup.BackupKey, ctx context.Context) error {
		rs := k.DecryptAll(ctx, entries, nil)
		if len(rs) != 1 {
			return fmt.Errorf("%d results", len(rs))
		}
		return rs[0].Err
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"BackupKey.Decrypt(nil)", func() error { _, err := bk.Decrypt(nil); return err }},
		{"BackupKey.DecryptSession(nil)", func() error { _, err := bk.DecryptSession(nil); return err }},
		{"nil BackupKey.Decrypt", func() error { _, err := nilBK.Decrypt(&keybackup.SessionData{}); return err }},
		{"zero BackupKey.Decrypt", func() error { _, err := new(keybackup.BackupKey).Decrypt(&keybackup.SessionData{}); return err }},
		{"zero BackupKey.DecryptSession", func() error { _, err := new(keybackup.BackupKey).DecryptSession(&keybackup.SessionData{}); return err }},
		{"zero BackupKey.Matches", func() error { return new(keybackup.BackupKey).Matches(bk.PublicKey()) }},
		{"nil BackupKey.Matches", func() error { return nilBK.Matches(bk.PublicKey()) }},
		{"DecryptAll(nil ctx)", func() error { return restoreErr(bk, nil) }},
		{"nil BackupKey.DecryptAll", func() error { return restoreErr(nilBK, context.Background()) }},
		{"zero BackupKey.DecryptAll", func() error { return restoreErr(new(keybackup.BackupKey), context.Background()) }},
		{"EncryptSession(nil)", func() error { _, err := bk.PublicKey().EncryptSession(nil); return err }},
		{"NewBackupEntry(nil)", func() error { _, err := bk.PublicKey().NewBackupEntry("!r:x", "s", nil, 0, false); return err }},
		{"SecretStorageKey.Decrypt(nil)", func() error { _, err := ssk.Decrypt("n", nil); return err }},
		{"nil SecretStorageKey.Decrypt", func() error { _, err := nilSSK.Decrypt("n", &keybackup.EncryptedSecret{}); return err }},
		{"zero SecretStorageKey.Decrypt", func() error {
			_, err := new(keybackup.SecretStorageKey).Decrypt("n", &keybackup.EncryptedSecret{})
			return err
		}},
		{"zero SecretStorageKey.Encrypt", func() error { _, err := new(keybackup.SecretStorageKey).Encrypt("n", []byte("x")); return err }},
		{"SecretStorageKey.EncryptBackupKey(nil)", func() error { _, err := ssk.EncryptBackupKey(nil); return err }},
		{"SecretStorageKey.EncryptBackupKey(zero)", func() error { _, err := ssk.EncryptBackupKey(new(keybackup.BackupKey)); return err }},
		{"SecretStorageKey.DecryptBackupKey(nil)", func() error { _, err := ssk.DecryptBackupKey(nil, bk.PublicKey()); return err }},
		{"SecretStorageKey.DecryptCrossSigningKey(nil)", func() error {
			_, err := ssk.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, nil, olm.Ed25519PublicKey{})
			return err
		}},
		{"zero SecretStorageKey.EncryptCrossSigningKey", func() error {
			_, err := new(keybackup.SecretStorageKey).EncryptCrossSigningKey(keybackup.SecretCrossSigningMaster, make([]byte, 32))
			return err
		}},
		{"nil KeyDescription.CheckKey", func() error { return nilDesc.CheckKey(make([]byte, 32)) }},
		{"nil KeyDescription.Unlock", func() error { _, err := nilDesc.Unlock("id", make([]byte, 32)); return err }},
		{"nil KeyDescription.UnlockWithRecoveryKey", func() error { _, err := nilDesc.UnlockWithRecoveryKey("id", ssk.RecoveryKey()); return err }},
		{"nil KeyDescription.UnlockWithPassphrase", func() error { _, err := nilDesc.UnlockWithPassphrase("id", "p"); return err }},
		{"nil Passphrase.DeriveKey", func() error { _, err := nilPass.DeriveKey("p"); return err }},
		{"nil SecretContent.For", func() error { _, err := nilContent.For("id"); return err }},
		{"nil AuthData.SigningPayload", func() error { _, err := nilAuth.SigningPayload(); return err }},
		{"nil AuthData.Sign", func() error {
			return nilAuth.Sign("@a:x", "K", func([]byte) olm.Ed25519Signature { return olm.Ed25519Signature{} })
		}},
		{"AuthData.Sign(nil signer)", func() error { return keybackup.NewAuthData(bk.PublicKey()).Sign("@a:x", "K", nil) }},
		{"nil AuthData.Verify", func() error { _, err := nilAuth.Verify("@a:x"); return err }},
		{"nil AuthData.CheckTrusted", func() error { return nilAuth.CheckTrusted("@a:x", bk) }},
		{"nil BackedUpSession.MarshalPlaintext", func() error { var s *keybackup.BackedUpSession; _, err := s.MarshalPlaintext(); return err }},
		{"nil ExportedSession.MarshalPlaintext", func() error { var e *keybackup.ExportedSession; _, err := e.MarshalPlaintext(); return err }},
		{"nil BackedUpSession.UnmarshalJSON", func() error { var s *keybackup.BackedUpSession; return s.UnmarshalJSON([]byte(`{}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
					}
				}()
				err = tt.call()
			}()
			if !errors.Is(err, keybackup.ErrNil) {
				t.Errorf("err = %v, want ErrNil", err)
			}
		})
	}
}
