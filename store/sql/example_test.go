package sqlstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/souverain/e2ee/machine"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

// The embedded SQLite store: one line opens (or creates) the file, and the
// machine runs over it like over any store.
func ExampleOpenSQLite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "souverain-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "crypto.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	pickleKey := make([]byte, machine.PickleKeySize) // keep it outside the database
	rand.Read(pickleKey)
	m, err := machine.New(ctx, machine.Options{UserID: "@bot:example.org", DeviceID: "BOTDEVICE", Store: store, PickleKey: pickleKey})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("opened")
	// Output: opened
}

// The same code on PostgreSQL: a DSN for pgx and the account, one writer
// per account in a database shared by any number of them.
func ExampleOpenPostgres() {
	ctx := context.Background()
	dsn := os.Getenv("SOUVERAIN_TEST_POSTGRES") // such as "postgres://bot@db.internal/matrix"
	if dsn == "" {
		return
	}
	store, err := sqlstore.OpenPostgres(ctx, dsn, "@bot:example.org/BOTDEVICE")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	// machine.New(ctx, machine.Options{..., Store: store, ...}) as with SQLite.
}
