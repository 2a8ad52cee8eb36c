package keybackup_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/souverain/e2ee/keybackup"
)

// TestClose: Close is idempotent, and afterwards every method fails with
// ErrClosed or returns nothing; public parts stay readable.
func TestClose(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	pub := bk.PublicKey()
	sd, _ := pub.EncryptSession(testSession())
	bk.Close()
	bk.Close()
	if _, err := bk.Decrypt(sd); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("Decrypt after Close: %v", err)
	}
	if _, err := bk.DecryptSession(sd); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("DecryptSession after Close: %v", err)
	}
	if err := bk.Matches(pub); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("Matches after Close: %v", err)
	}
	if b, s, r := bk.Bytes(), bk.Encode(), bk.RecoveryKey(); b != nil || s != "" || r != "" {
		t.Errorf("after Close: Bytes %x, Encode %q, RecoveryKey %q", b, s, r)
	}
	if bk.PublicKey() != pub {
		t.Error("public key lost")
	}
	rs := bk.DecryptAll(context.Background(), []keybackup.BackupEntry{{RoomID: "!r:x", SessionID: "s", Data: []byte(`{"session_data":{}}`)}}, nil)
	_ = rs // the entry fails to parse first; the closed key is checked per entry
	ssk, _ := keybackup.GenerateSecretStorageKey("n")
	es, _ := ssk.Encrypt("name", []byte("secret"))
	id := ssk.ID()
	ssk.Close()
	ssk.Close()
	if _, err := ssk.Decrypt("name", es); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("SecretStorageKey.Decrypt after Close: %v", err)
	}
	if _, err := ssk.Encrypt("name", []byte("x")); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("SecretStorageKey.Encrypt after Close: %v", err)
	}
	if _, err := ssk.EncryptBackupKey(bk); !errors.Is(err, keybackup.ErrClosed) {
		t.Errorf("EncryptBackupKey(closed): %v", err)
	}
	if b, r := ssk.Bytes(), ssk.RecoveryKey(); b != nil || r != "" {
		t.Errorf("after Close: Bytes %x, RecoveryKey %q", b, r)
	}
	if ssk.ID() != id {
		t.Error("ID lost")
	}
}

// TestCloseRace closes a BackupKey while decryptions run on it; with -race
// it shows that Close waits for them. Each decryption either succeeds with
// the right plaintext or fails with ErrClosed.
func TestCloseRace(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	sd, _ := bk.PublicKey().EncryptSession(testSession())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				s, err := bk.DecryptSession(sd)
				if err != nil {
					if !errors.Is(err, keybackup.ErrClosed) {
						t.Error(err)
					}
					return
				}
				if s.SessionKey != testSession().SessionKey {
					t.Error("wrong plaintext")
				}
			}
		})
	}
	bk.Close()
	wg.Wait()
	ssk, _ := keybackup.GenerateSecretStorageKey("n")
	es, _ := ssk.Encrypt("name", []byte("secret"))
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := ssk.Decrypt("name", es); err != nil && !errors.Is(err, keybackup.ErrClosed) {
					t.Error(err)
				}
			}
		})
	}
	ssk.Close()
	wg.Wait()
}
