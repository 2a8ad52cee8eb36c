package sqlstore_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	sqlstore "github.com/souverain/e2ee/store/sql"
)

// TestMain runs the helper processes of the lock and crash tests when the
// test binary is started with SOUVERAIN_HELPER set.
func TestMain(m *testing.M) {
	switch os.Getenv("SOUVERAIN_HELPER") {
	case "":
		os.Exit(m.Run())
	case "open":
		helperOpen()
	case "crash":
		helperCrash()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
	os.Exit(0)
}

// procTB lets the helpers use the test peers outside a test: a fatal
// error ends the process with status 2.
type procTB struct{ testing.TB }

func (procTB) Helper() {}
func (procTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(2)
}
func (procTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}
func (procTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func helperConfig() sqlstore.Config {
	return sqlstore.Config{
		Driver:   os.Getenv("SOUVERAIN_HELPER_DRIVER"),
		DSN:      os.Getenv("SOUVERAIN_HELPER_DSN"),
		Account:  os.Getenv("SOUVERAIN_HELPER_ACCOUNT"),
		LockWait: 300 * time.Millisecond,
	}
}

// helperOpen tries to open the store and prints what happened.
func helperOpen() {
	s, err := sqlstore.Open(ctx, helperConfig())
	switch {
	case err == nil:
		fmt.Println("OPENED")
		s.Close()
	case errors.Is(err, sqlstore.ErrLocked):
		fmt.Println("LOCKED", err)
	default:
		fmt.Println("ERROR", err)
	}
}

// helper runs the test binary as a helper process with env added.
func helper(t *testing.T, kind string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SOUVERAIN_HELPER="+kind), env...)
	return cmd
}

func openInOtherProcess(t *testing.T, cfg sqlstore.Config) string {
	t.Helper()
	out, err := helper(t, "open", "SOUVERAIN_HELPER_DRIVER="+cfg.Driver, "SOUVERAIN_HELPER_DSN="+cfg.DSN,
		"SOUVERAIN_HELPER_ACCOUNT="+cfg.Account).CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestSecondProcessRefused: while one process has the store open, another
// gets ErrLocked; once it closes, the other opens it.
func TestSecondProcessRefused(t *testing.T) {
	for name, newDB := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := newDB(t)
			s := openCfg(t, db.cfg)
			if out := openInOtherProcess(t, db.cfg); !strings.HasPrefix(out, "LOCKED") {
				t.Errorf("second process while the first has the store: %s, want ErrLocked", out)
			} else {
				t.Log(out)
			}
			// In this process too.
			if s2, err := sqlstore.Open(ctx, sqlstore.Config{Driver: db.cfg.Driver, DSN: db.cfg.DSN, Account: db.cfg.Account, LockWait: 100 * time.Millisecond}); !errors.Is(err, sqlstore.ErrLocked) {
				if err == nil {
					s2.Close()
				}
				t.Errorf("second Open in the same process: %v, want ErrLocked", err)
			}
			if db.cfg.Driver == "postgres" {
				other := db.cfg
				other.Account = "@other:x/D"
				if out := openInOtherProcess(t, other); out != "OPENED" {
					t.Errorf("another account of the same database: %s", out)
				}
			}
			// The first still works, then closes.
			putSome(t, s)
			s.Close()
			if out := openInOtherProcess(t, db.cfg); out != "OPENED" {
				t.Errorf("second process after the first closed: %s", out)
			}
		})
	}
}

// TestTakenOver: a PostgreSQL store whose account was taken over (its
// owner token replaced, as a process that got the lock after this one
// lost its session would) refuses every transaction.
func TestTakenOver(t *testing.T) {
	db := databases(t)["Postgres"](t)
	s := openCfg(t, db.cfg)
	defer s.Close()
	putSome(t, s)
	raw := db.raw()
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE e2ee_owner SET token = '\x00'`); err != nil {
		t.Fatal(err)
	}
	if tx, err := s.Begin(ctx); !errors.Is(err, sqlstore.ErrLocked) {
		if err == nil {
			tx.Rollback()
		}
		t.Fatalf("Begin after takeover: %v, want ErrLocked", err)
	}
}
