package sqlstore_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/machine"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

// database is one empty database to open stores on, and raw access to it.
type database struct {
	cfg sqlstore.Config
	raw func() *sql.DB
	// snapshot returns the database's bytes (SQLite: the files) or what a
	// refused open must not change (PostgreSQL: schema and owner rows).
	snapshot func() []byte
}

// databases returns an empty SQLite file and, with SOUVERAIN_TEST_POSTGRES,
// a new empty PostgreSQL database.
func databases(t *testing.T) map[string]func(t *testing.T) database {
	return map[string]func(t *testing.T) database{
		"SQLite": func(t *testing.T) database {
			path := filepath.Join(t.TempDir(), "crypto.db")
			raw := func() *sql.DB {
				db, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			snap := func() []byte {
				var b []byte
				for _, suffix := range []string{"", "-wal", "-journal", "-shm"} {
					f, _ := os.ReadFile(path + suffix)
					b = append(append(b, suffix...), f...)
				}
				return b
			}
			return database{sqlstore.Config{Driver: "sqlite", DSN: path}, raw, snap}
		},
		"Postgres": func(t *testing.T) database {
			dsn := freshPostgres(t)
			raw := func() *sql.DB {
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			snap := func() []byte {
				db := raw()
				defer db.Close()
				var v, n int
				var tok []byte
				db.QueryRow(`SELECT version FROM e2ee_schema`).Scan(&v)
				db.QueryRow(`SELECT token FROM e2ee_owner LIMIT 1`).Scan(&tok)
				db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n)
				return fmt.Appendf(nil, "%d %x %d", v, tok, n)
			}
			return database{sqlstore.Config{Driver: "postgres", DSN: dsn, Account: "@a:x/D"}, raw, snap}
		},
	}
}

// freshPostgres creates an empty database on the test server and returns
// its DSN.
func freshPostgres(t *testing.T) string {
	dsn := postgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("souverain_%x", []byte(newAccount("db")[3:]))
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
			db.Close()
		}
	})
	return dsn + " dbname=" + name
}

func rawVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`SELECT version FROM e2ee_schema WHERE id = 1`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func openCfg(t *testing.T, cfg sqlstore.Config) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func putSome(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Put(machine.NSValues, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutInboundGroupSession(machine.InboundGroupSessionRecord{RoomID: "!r", SessionID: "s", Pickle: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func checkSome(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if v, err := tx.Get(machine.NSValues, "k"); err != nil || string(v) != "v" {
		t.Errorf("value after migration: %q, %v", v, err)
	}
	if r, err := tx.InboundGroupSession("!r", "s"); err != nil || string(r.Pickle) != "p" {
		t.Errorf("session after migration: %+v, %v", r, err)
	}
}

// fixtures are two test migrations after the real ones, so that the path
// from every earlier version is a real one even while the package has one
// schema version.
var fixtures = [][]string{
	{`CREATE TABLE e2ee_fixture (n {int} NOT NULL)`, `INSERT INTO e2ee_fixture (n) SELECT count(*) FROM e2ee_kv`},
	{`ALTER TABLE e2ee_fixture ADD COLUMN m {int} NOT NULL DEFAULT 3`},
}

func TestMigrateFromEveryVersion(t *testing.T) {
	for name, newDB := range databases(t) {
		t.Run(name, func(t *testing.T) {
			restore := sqlstore.AddFixtureMigrations(fixtures...)
			defer restore()
			newest := sqlstore.NumMigrations()
			for from := 0; from < newest; from++ {
				t.Run(fmt.Sprintf("from%d", from), func(t *testing.T) {
					db := newDB(t)
					if from > 0 {
						keep := sqlstore.KeepMigrations(from)
						s := openCfg(t, db.cfg)
						putSome(t, s)
						s.Close()
						keep()
						raw := db.raw()
						if v := rawVersion(t, raw); v != from {
							t.Fatalf("older database at version %d, want %d", v, from)
						}
						raw.Close()
					}
					s := openCfg(t, db.cfg)
					if from > 0 {
						checkSome(t, s)
					}
					s.Close() // SQLite: the file is locked while open
					raw := db.raw()
					defer raw.Close()
					if v := rawVersion(t, raw); v != newest {
						t.Errorf("version after migration %d, want %d", v, newest)
					}
					var rows, m int
					if err := raw.QueryRow(`SELECT count(*), min(m) FROM e2ee_fixture`).Scan(&rows, &m); err != nil || rows != 1 || m != 3 {
						t.Errorf("fixture migrations: %d rows, m=%d, %v", rows, m, err)
					}
				})
			}
		})
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	for name, newDB := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB(t)
			s := openCfg(t, db.cfg)
			putSome(t, s)
			s.Close()
			restore := sqlstore.AddFixtureMigrations(
				[]string{`CREATE TABLE e2ee_fixture (n {int})`},
				[]string{`CREATE TABLE e2ee_fixture2 (n {int})`, `THIS IS NOT SQL`},
			)
			_, err := sqlstore.Open(ctx, db.cfg)
			restore()
			if err == nil {
				t.Fatal("Open with a failing migration succeeded")
			}
			raw := db.raw()
			if v := rawVersion(t, raw); v != sqlstore.SchemaVersion {
				t.Errorf("version after a failed migration: %d", v)
			}
			var n int
			if err := raw.QueryRow(`SELECT count(*) FROM e2ee_fixture`).Scan(&n); err == nil {
				t.Errorf("the first migration of a failed run was kept")
			}
			raw.Close()
			s = openCfg(t, db.cfg)
			defer s.Close()
			checkSome(t, s)
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	for name, newDB := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB(t)
			s := openCfg(t, db.cfg)
			putSome(t, s)
			s.Close()
			raw := db.raw()
			if _, err := raw.Exec(fmt.Sprintf(`UPDATE e2ee_schema SET version = %d`, sqlstore.SchemaVersion+1)); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			before := db.snapshot()
			_, err := sqlstore.Open(ctx, db.cfg)
			if !errors.Is(err, sqlstore.ErrNewerSchema) {
				t.Fatalf("Open of a newer database: %v, want ErrNewerSchema", err)
			}
			if after := db.snapshot(); !bytes.Equal(before, after) {
				t.Errorf("a refused newer database was modified")
			}
		})
	}
}
