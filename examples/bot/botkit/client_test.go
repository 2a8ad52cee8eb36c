package botkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/souverain/e2ee/machine"
)

// TestSQLiteStoreSurvivesRestart: by default the bot keeps the machine in
// SQLite (store dir/machine.db); a second start reads the same device back
// (same identity keys), and a wrong pickle key is refused, not replaced.
func TestSQLiteStoreSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_matrix/client/v3/account/whoami" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"user_id":"@bot:example.org","device_id":"BOTDEV"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	key := make([]byte, machine.PickleKeySize)
	cfg := Config{Homeserver: srv.URL, AccessToken: "token", StoreDir: dir, PickleKey: key}
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	curve, ed, err := c.Machine.IdentityKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "machine.db")); err != nil {
		t.Fatalf("no SQLite store: %v", err)
	}
	c, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	curve2, ed2, err := c.Machine.IdentityKeys(ctx)
	if err != nil || curve2 != curve || ed2 != ed || c.DeviceID() != "BOTDEV" {
		t.Errorf("after a restart: %v %v %v %s, want %v %v", curve2, ed2, err, c.DeviceID(), curve, ed)
	}
	c.Close()
	bad := cfg
	bad.PickleKey = make([]byte, machine.PickleKeySize)
	bad.PickleKey[0] = 1
	if c, err := New(ctx, bad); !errors.Is(err, machine.ErrBadPickleKey) {
		if c != nil {
			c.Close()
		}
		t.Errorf("wrong pickle key: %v", err)
	}
}
