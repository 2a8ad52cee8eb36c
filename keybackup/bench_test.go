package keybackup_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/souverain/e2ee/keybackup"
)

// benchSession is a real backed-up Megolm session (about 500 bytes of
// JSON, as clients upload them).
func benchSession(b *testing.B) (*keybackup.BackedUpSession, string) {
	r := newRoomKey(b, "x")
	return r.backedUp(), r.out.SessionID()
}

func BenchmarkEncryptSession(b *testing.B) {
	bk, _ := keybackup.GenerateBackupKey()
	s, _ := benchSession(b)
	for b.Loop() {
		if _, err := bk.PublicKey().EncryptSession(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptSession(b *testing.B) {
	bk, _ := keybackup.GenerateBackupKey()
	s, _ := benchSession(b)
	d, _ := bk.PublicKey().EncryptSession(s)
	for b.Loop() {
		if _, err := bk.DecryptSession(d); err != nil {
			b.Fatal(err)
		}
	}
}

const bulkEntries = 10_000

var bulk struct {
	once    sync.Once
	key     *keybackup.BackupKey
	entries []keybackup.BackupEntry
}

// bulkBackup builds, once, a backup of 10 000 entries: one session
// encrypted 10 000 times, each with its own ephemeral key, so the work per
// entry is that of a real restore (X25519, HKDF, AES, JSON, Megolm import).
func bulkBackup(b *testing.B) (*keybackup.BackupKey, []keybackup.BackupEntry) {
	bulk.once.Do(func() {
		bulk.key, _ = keybackup.GenerateBackupKey()
		s, id := benchSession(b)
		for i := range bulkEntries {
			e, err := bulk.key.PublicKey().NewBackupEntry(fmt.Sprintf("!room%d:example.org", i%50), id, s, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			bulk.entries = append(bulk.entries, e)
		}
	})
	return bulk.key, bulk.entries
}

// BenchmarkDecryptAll restores 10 000 entries with 1 and 2 workers; the
// ratio of the two is the speed-up from a second core.
func BenchmarkDecryptAll(b *testing.B) {
	key, entries := bulkBackup(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("entries=%d/workers=%d", len(entries), workers), func(b *testing.B) {
			opts := &keybackup.DecryptAllOptions{Workers: workers}
			for b.Loop() {
				for _, r := range key.DecryptAll(context.Background(), entries, opts) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
			b.ReportMetric(float64(len(entries)*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkKeyExport writes and reads a key export file of 1000 sessions
// with only 1000 PBKDF2 rounds (files are made with at least 500 000),
// so that it measures the encryption and JSON, not the key derivation;
// BenchmarkPBKDF2 gives the cost of the derivation alone.
func BenchmarkKeyExport(b *testing.B) {
	sessions := make([]keybackup.ExportedSession, 1000)
	for i := range sessions {
		r := newRoomKey(b, "x")
		sessions[i] = keybackup.NewExportedSession(fmt.Sprintf("!room%d:example.org", i%50), r.in, testSenderKey, testClaimed, nil)
	}
	const rounds = 1000
	b.Run("encrypt/sessions=1000/rounds=1000", func(b *testing.B) {
		for b.Loop() {
			if _, err := keybackup.EncryptKeyExportWeak(sessions, "passphrase", rounds); err != nil {
				b.Fatal(err)
			}
		}
	})
	file, _ := keybackup.EncryptKeyExportWeak(sessions, "passphrase", rounds)
	b.Run("decrypt/sessions=1000/rounds=1000", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			if _, err := keybackup.DecryptKeyExport(file, "passphrase"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPBKDF2 is the key derivation of a passphrase with the minimum
// count this package creates keys and files with.
func BenchmarkPBKDF2(b *testing.B) {
	p := keybackup.Passphrase{Algorithm: keybackup.PBKDF2Algorithm, Salt: "MmMsAlty", Iterations: keybackup.MinPBKDF2Iterations}
	for b.Loop() {
		if _, err := p.DeriveKey("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRecoveryKey(b *testing.B) {
	for b.Loop() {
		if _, err := keybackup.DecodeRecoveryKeyUnchecked(mautrixKey1Recovery); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSecretDecrypt(b *testing.B) {
	k, _ := keybackup.GenerateSecretStorageKey("")
	bk, _ := keybackup.GenerateBackupKey()
	es, _ := k.EncryptBackupKey(bk)
	for b.Loop() {
		if _, err := k.DecryptBackupKey(es, bk.PublicKey()); err != nil {
			b.Fatal(err)
		}
	}
}
