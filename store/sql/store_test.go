package sqlstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/storetest"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

var ctx = context.Background()

// postgresDSN returns the DSN of the test PostgreSQL server, or skips.
func postgresDSN(t testing.TB) string {
	dsn := os.Getenv("SOUVERAIN_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("PostgreSQL tests skipped: set SOUVERAIN_TEST_POSTGRES to a DSN (see README)")
	}
	return dsn
}

// newAccount returns an account name no other test uses.
func newAccount(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%s/%x", prefix, b)
}

// backends lists the stores under test: a new empty one per call.
func backends() []struct {
	name string
	open func(t testing.TB) machine.Store
} {
	return []struct {
		name string
		open func(t testing.TB) machine.Store
	}{
		{"SQLite", func(t testing.TB) machine.Store {
			s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "crypto.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"Postgres", func(t testing.TB) machine.Store {
			s, err := sqlstore.OpenPostgres(ctx, postgresDSN(t), newAccount("@test:x"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

func TestConformance(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) machine.Store { return b.open(t) })
		})
	}
}

func TestSQLiteSynchronous(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crypto.db")
	if _, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "sqlite", DSN: path, SQLiteSynchronous: "OFF"}); err == nil {
		t.Fatal("SQLiteSynchronous OFF accepted")
	}
	s, err := sqlstore.Open(ctx, sqlstore.Config{Driver: "sqlite", DSN: path, SQLiteSynchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	putSome(t, s)
	checkSome(t, s)
	s.Close()
}

// TestMachineScenarios runs the machine's own scenario tests
// (storetest.RunMachine: conversations with restarts, rotation, replay
// refusal, and a store failure injected at every write) on each store.
func TestMachineScenarios(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			storetest.RunMachine(t, func(t *testing.T) machine.Store { return b.open(t) })
		})
	}
}

// TestEmptyNamespaceCache: after many Gets that find nothing, a Put in the
// same transaction (or a value another transaction wrote) is still found.
func TestEmptyNamespaceCache(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			defer s.Close()
			tx, err := s.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				if _, err := tx.Get(machine.NSKeyRequests, fmt.Sprint(i)); !errors.Is(err, machine.ErrNotFound) {
					t.Fatalf("Get of a missing key: %v", err)
				}
			}
			if err := tx.Put(machine.NSKeyRequests, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if v, err := tx.Get(machine.NSKeyRequests, "k"); err != nil || string(v) != "v" {
				t.Fatalf("Get after Put in a namespace found empty: %q, %v", v, err)
			}
			for i := 0; i < 20; i++ {
				tx.Get(machine.NSKeyRequests, fmt.Sprint(i))
			}
			if v, err := tx.Get(machine.NSKeyRequests, "k"); err != nil || string(v) != "v" {
				t.Fatalf("Get after more misses: %q, %v", v, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
