package filestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/examples/bot/filestore"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) machine.Store {
		s, err := filestore.Open(context.Background(), filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// put writes one key-value entry in its own transaction.
func put(t *testing.T, s *filestore.Store, key, value string) {
	t.Helper()
	tx, err := s.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Put(machine.NSValues, key, []byte(value)); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutAccount(machine.AccountRecord{UserID: "@a:x", DeviceID: "D", Pickle: []byte(value)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s *filestore.Store, key string) (string, error) {
	t.Helper()
	tx, err := s.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	v, err := tx.Get(machine.NSValues, key)
	return string(v), err
}

// TestReopen checks that committed writes survive a reopen, rolled-back
// ones do not, and a torn last record is cut off without losing the others.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store")
	s, err := filestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	tx, _ := s.Begin(ctx)
	tx.Put(machine.NSValues, "c", []byte("3"))
	tx.Rollback()
	s.Close()

	// A crash in the middle of the next append: half a record at the end.
	fi, _ := os.Stat(path)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 0, 40, 1, 2, 3, 4, '[', '{'})
	f.Close()

	s, err = filestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "a"); err != nil || v != "1" {
		t.Fatalf("a = %q, %v", v, err)
	}
	if v, err := get(t, s, "b"); err != nil || v != "2" {
		t.Fatalf("b = %q, %v", v, err)
	}
	if _, err := get(t, s, "c"); !errors.Is(err, machine.ErrNotFound) {
		t.Fatalf("rolled-back c: %v", err)
	}
	if fi2, _ := os.Stat(path); fi2.Size() != fi.Size() {
		t.Fatalf("torn tail not cut: %d bytes, want %d", fi2.Size(), fi.Size())
	}
	put(t, s, "d", "4")
	s.Close()
	s, err = filestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := get(t, s, "d"); err != nil || v != "4" {
		t.Fatalf("d after reopen = %q, %v", v, err)
	}
	tx, _ = s.Begin(ctx)
	acc, err := tx.Account()
	tx.Rollback()
	if err != nil || string(acc.Pickle) != "4" {
		t.Fatalf("account = %+v, %v", acc, err)
	}
}

// TestCorrupt checks that a damaged record in the middle is an error, not
// silently dropped state.
func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store")
	s, _ := filestore.Open(ctx, path)
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	s.Close()
	b, _ := os.ReadFile(path)
	b[12] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := filestore.Open(ctx, path); !errors.Is(err, filestore.ErrCorruptJournal) {
		t.Fatalf("Open of a damaged journal: %v", err)
	}
}
