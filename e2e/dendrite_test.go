package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// DendriteVersion is the homeserver the tests run against.
const DendriteVersion = "v0.13.8"

// RequireEnv, when set to 1, turns every skip for want of Dendrite into a
// failure (CI sets it: a missing build must not pass as a skip).
const RequireEnv = "SOUVERAIN_E2E_REQUIRE"

// BinEnv overrides the directory holding dendrite, generate-config and
// create-account.
const BinEnv = "SOUVERAIN_DENDRITE_BIN"

// DendriteBinDir returns where the Dendrite binaries are expected: $BinEnv,
// or <user cache dir>/souverain/dendrite-<version>/bin.
func DendriteBinDir() string {
	if d := os.Getenv(BinEnv); d != "" {
		return d
	}
	c, err := os.UserCacheDir()
	if err != nil {
		c = os.TempDir()
	}
	return filepath.Join(c, "souverain", "dendrite-"+DendriteVersion, "bin")
}

// skipOrFail skips the test, or fails it when RequireEnv is set.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (and %s=1 forbids skipping)", msg, RequireEnv)
	}
	t.Skipf("SKIPPED, NOT PASSED: %s", msg)
}

// homeserver is a running Dendrite.
type homeserver struct {
	URL    string
	secret string
	dir    string
	cmd    *exec.Cmd
}

// startDendrite builds a configuration in a temporary directory (SQLite,
// federation off, shared-secret registration, 127.0.0.1 on a free port)
// and starts Dendrite; it is killed by PID when the test ends, failed or
// not.
func startDendrite(t *testing.T) *homeserver {
	t.Helper()
	bin := DendriteBinDir()
	for _, name := range []string{"dendrite", "generate-config"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			skipOrFail(t, "Dendrite %s is not built in %s; build it with\n"+
				"  GOBIN=%s go install github.com/matrix-org/dendrite/cmd/dendrite@%[1]s github.com/matrix-org/dendrite/cmd/generate-config@%[1]s github.com/matrix-org/dendrite/cmd/create-account@%[1]s",
				DendriteVersion, bin, bin)
		}
	}
	dir := t.TempDir()
	out, err := exec.Command(filepath.Join(bin, "generate-config"), "-dir", dir, "-server", "localhost").Output()
	if err != nil {
		t.Fatalf("generate-config: %v", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	secret := hex.EncodeToString(randBytes(16))
	set := func(path string, v any) {
		keys := strings.Split(path, ".")
		m := cfg
		for _, k := range keys[:len(keys)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		m[keys[len(keys)-1]] = v
	}
	set("global.disable_federation", true)
	set("global.private_key", filepath.Join(dir, "matrix_key.pem"))
	set("global.key_validity_period", "168h0m0s")
	set("global.jetstream.in_memory", true)
	set("global.presence.enable_inbound", false)
	set("global.presence.enable_outbound", false)
	set("global.report_stats.enabled", false)
	set("client_api.registration_disabled", true)
	set("client_api.registration_shared_secret", secret)
	set("client_api.rate_limiting.enabled", false)
	set("federation_api.key_perspectives", []any{})
	set("user_api.bcrypt_cost", 4)
	set("sync_api.search.enabled", false)
	set("logging", []any{map[string]any{"type": "file", "level": "warn", "params": map[string]any{"path": filepath.Join(dir, "log")}}})
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	writeMatrixKey(t, filepath.Join(dir, "matrix_key.pem"))

	port := freePort(t)
	hs := &homeserver{URL: fmt.Sprintf("http://127.0.0.1:%d", port), secret: secret, dir: dir}
	logf, err := os.Create(filepath.Join(dir, "dendrite.out"))
	if err != nil {
		t.Fatal(err)
	}
	hs.cmd = exec.Command(filepath.Join(bin, "dendrite"), "-config", cfgPath,
		"-http-bind-address", fmt.Sprintf("127.0.0.1:%d", port))
	hs.cmd.Dir = dir
	hs.cmd.Stdout, hs.cmd.Stderr = logf, logf
	hs.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := hs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := hs.cmd.Process.Pid
	t.Cleanup(func() {
		// Stop by PID: SIGTERM, then SIGKILL after 10 s.
		syscall.Kill(pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { hs.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		if t.Failed() {
			tail(t, filepath.Join(dir, "dendrite.out"), 40)
			tail(t, filepath.Join(dir, "log", "dendrite.log"), 40)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(hs.URL + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dendrite did not answer within 90 s: %v", err)
		}
		if hs.cmd.ProcessState != nil {
			t.Fatal("dendrite exited")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("dendrite %s (pid %d) on %s, ready in %v", DendriteVersion, pid, hs.URL, time.Since(start).Round(time.Millisecond))
	return hs
}

func tail(t *testing.T, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("--- %s (last %d lines)\n%s", path, len(lines), strings.Join(lines, "\n"))
}

// writeMatrixKey writes a server signing key in Dendrite's PEM format.
func writeMatrixKey(t *testing.T, path string) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "MATRIX PRIVATE KEY", Headers: map[string]string{"Key-ID": "ed25519:e2e"}, Bytes: priv.Seed()})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// register creates a user with the shared-secret admin API and returns its
// full user ID.
func (hs *homeserver) register(ctx context.Context, user, password string) (string, error) {
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := httpJSON(ctx, "GET", hs.URL+"/_synapse/admin/v1/register", nil, &nonce); err != nil {
		return "", err
	}
	mac := hmac.New(sha1.New, []byte(hs.secret))
	mac.Write([]byte(nonce.Nonce + "\x00" + user + "\x00" + password + "\x00notadmin"))
	var resp struct {
		UserID string `json:"user_id"`
	}
	err := httpJSON(ctx, "POST", hs.URL+"/_synapse/admin/v1/register", map[string]any{
		"nonce": nonce.Nonce, "username": user, "password": password, "admin": false, "mac": hex.EncodeToString(mac.Sum(nil)),
	}, &resp)
	return resp.UserID, err
}

func httpJSON(ctx context.Context, method, url string, body, out any) error {
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e struct{ ErrCode, Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return errors.New(method + " " + url + ": " + resp.Status + " " + e.ErrCode + " " + e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
