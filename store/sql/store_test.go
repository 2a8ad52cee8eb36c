package sqlstore_test

import (
	"context"
	"crypto/rand"
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
