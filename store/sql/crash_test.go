package sqlstore_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

// The crash test: a helper process runs a scripted conversation between
// Alice and Bob (Olm, Megolm, key rotation, restarts, and key backup
// restores of restoreSize sessions through ImportRoomKeys), each over its
// own store, talking to a relay in the test process. The test kills it with
// SIGKILL at a random moment, again and again, and restarts it. After each
// restart the helper checks that every room key it had acknowledged (the
// receiver's ReceiveSync returned), every event it posted (its own
// EncryptRoomEvent returned) and every restore it had committed still
// decrypt or are there; the relay checks that no one-time key is uploaded
// again after being claimed and that no Megolm index carries two events;
// the test checks, after each kill, PRAGMA integrity_check (SQLite) and
// that restores are all or nothing.

const (
	restoreSize  = 300
	crashMsgs    = 120 // messages per conversation; then a new room
	restoreEvery = 17
	restartEvery = 11
	rotateEvery  = 29
)

func TestCrash(t *testing.T) {
	kills := map[string]int{"SQLite": 200, "Postgres": 30}
	if testing.Short() {
		kills = map[string]int{"SQLite": 20, "Postgres": 5}
	}
	if n, err := strconv.Atoi(os.Getenv("SOUVERAIN_CRASH_KILLS")); err == nil {
		kills["SQLite"], kills["Postgres"] = n, max(n/6, 1)
	}
	for _, name := range []string{"SQLite", "Postgres"} {
		t.Run(name, func(t *testing.T) {
			var env []string
			var check func(t *testing.T)
			if name == "SQLite" {
				dir := t.TempDir()
				env = []string{"SOUVERAIN_HELPER_DRIVER=sqlite", "SOUVERAIN_HELPER_DSN=" + dir}
				check = func(t *testing.T) {
					for _, who := range []string{"alice", "bob"} {
						path := filepath.Join(dir, who+".db")
						if _, err := os.Stat(path); err != nil {
							continue
						}
						db, err := sql.Open("sqlite", path)
						if err != nil {
							t.Fatal(err)
						}
						var res string
						if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
							t.Fatalf("%s: integrity_check: %s %v", who, res, err)
						}
						checkRestores(t, db, who)
						db.Close()
					}
				}
			} else {
				dsn := freshPostgres(t)
				env = []string{"SOUVERAIN_HELPER_DRIVER=postgres", "SOUVERAIN_HELPER_DSN=" + dsn}
				check = func(t *testing.T) {
					db, err := sql.Open("pgx", dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					checkRestores(t, db, "")
				}
			}
			runCrash(t, kills[name], env, check)
		})
	}
}

// checkRestores checks that restores are all or nothing.
func checkRestores(t *testing.T, db *sql.DB, who string) {
	t.Helper()
	rows, err := db.Query(`SELECT acct, count(*) FROM e2ee_inbound_session WHERE room_id = $1 GROUP BY acct`, []byte("!restore:x"))
	if err != nil {
		if strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "does not exist") {
			return
		}
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct []byte
		var n int
		rows.Scan(&acct, &n)
		if n%restoreSize != 0 {
			t.Fatalf("%s%s: %d restored sessions, not a multiple of %d: a restore was cut", who, acct, n, restoreSize)
		}
	}
}

func runCrash(t *testing.T, kills int, env []string, check func(t *testing.T)) {
	r := newRelay()
	srv := httptest.NewServer(r)
	defer srv.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	phase, done, runs := 0, 0, 0
	start := time.Now()
	violations := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.violations) > 0 {
			t.Fatalf("after %d kills: %s", runs, strings.Join(r.violations, "; "))
		}
	}
	run := func(kill bool) (finished bool) {
		cmd := helper(t, "crash", append(env, "SOUVERAIN_CRASH_RELAY="+srv.URL, fmt.Sprintf("SOUVERAIN_CRASH_PHASE=%d", phase))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		if kill {
			// Kill at a random moment: early ones land in the start-up
			// (open, migrations, checks), later ones in the conversation.
			delay := time.Duration(5+rng.IntN(400)) * time.Millisecond
			select {
			case err = <-exited:
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				return false
			}
		} else {
			select {
			case err = <-exited:
			case <-time.After(5 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("helper did not finish: %s", stderr.String())
			}
		}
		if err != nil {
			violations()
			t.Fatalf("helper failed: %v: %s", err, stderr.String())
		}
		return true
	}
	for runs = 0; runs < kills; {
		if run(true) {
			phase++ // the conversation ended before the kill: a new one
			done++
			continue
		}
		runs++
		violations()
		check(t)
	}
	// A last run to the end of its conversation, checking everything once
	// more.
	run(false)
	violations()
	check(t)
	r.mu.Lock()
	t.Logf("%d kills in %v; %d conversations finished between kills; relay: %d events, %d acknowledged keys and restores",
		runs, time.Since(start).Round(time.Millisecond), done, len(r.timeline), len(r.acks))
	r.mu.Unlock()
}

// helperCrash is the killed process: it checks what it acknowledged
// before, then goes on with the conversation of its phase.
func helperCrash() {
	t := procTB{}
	base := os.Getenv("SOUVERAIN_CRASH_RELAY")
	driver, dsn := os.Getenv("SOUVERAIN_HELPER_DRIVER"), os.Getenv("SOUVERAIN_HELPER_DSN")
	room := "!room" + os.Getenv("SOUVERAIN_CRASH_PHASE") + ":x"
	mk := func(user, dev string, seed byte) (*peer, *sqlstore.Store) {
		cfg := sqlstore.Config{Driver: driver, DSN: dsn, Account: user + "/" + dev, LockWait: 10 * time.Second}
		if driver == "sqlite" {
			cfg.DSN = filepath.Join(dsn, strings.ToLower(dev)+".db")
		}
		s, err := sqlstore.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("open %s: %v", user, err)
		}
		p := &peer{t: t, base: base, user: user, dev: dev,
			opts: machine.Options{UserID: user, DeviceID: dev, Store: s, PickleKey: pickleKey(seed)}}
		p.open()
		return p, s
	}
	a, as := mk("@alice:x", "ALICE", 1)
	b, bs := mk("@bob:x", "BOB", 2)
	peers := []*peer{a, b}
	stores := map[*peer]*sqlstore.Store{a: as, b: bs}
	violation := func(format string, args ...any) {
		a.call("POST", "/test/violation", fmt.Appendf(nil, format, args...))
		t.Fatalf(format, args...)
	}
	ack := func(p *peer, room, session string) {
		body, _ := json.Marshal(relayAck{User: p.user, Room: room, Session: session})
		p.call("POST", "/test/ack", body)
	}

	// The checks of what was acknowledged before the last kill.
	var acks []relayAck
	json.Unmarshal(a.call("GET", "/test/acks", nil), &acks)
	timeline := a.timeline()
	firstOf := map[string]relayEvent{}
	for _, ev := range timeline {
		if _, ok := firstOf[ev.SessionID]; !ok {
			firstOf[ev.SessionID] = ev
		}
	}
	byUser := map[string]*peer{a.user: a, b.user: b}
	for _, k := range acks {
		p := byUser[k.User]
		if k.Room == "!restore:x" {
			tx, err := stores[p].Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range strings.Fields(k.Session) {
				if _, err := tx.InboundGroupSession(k.Room, id); err != nil {
					tx.Rollback()
					violation("%s: restore %s acknowledged and lost: %v", p.user, k.Session, err)
				}
			}
			tx.Rollback()
			continue
		}
		ev, ok := firstOf[k.Session]
		if !ok {
			continue
		}
		if _, err := p.m.DecryptRoomEvent(ctx, ev.Room, ev.Event); err != nil {
			violation("%s: room key %s acknowledged and lost: %v", p.user, k.Session, err)
		}
	}
	for i, ev := range timeline {
		// Each device's own events: the first of each session and the last
		// few.
		p := byUser[ev.Sender]
		if firstOf[ev.SessionID].EventID != ev.EventID && i < len(timeline)-4 {
			continue
		}
		if _, err := p.m.DecryptRoomEvent(ctx, ev.Room, ev.Event); err != nil {
			violation("%s: own event %s (session %s index %d) does not decrypt: %v", p.user, ev.EventID, ev.SessionID, ev.Index, err)
		}
	}

	// The conversation, from where it stands.
	for _, p := range peers {
		p.flush()
		if err := p.m.SetRoomEncryption(ctx, room, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, ev := range timeline {
		if ev.Room == room {
			n++
		}
	}
	syncAll := func() {
		for _, p := range peers {
			for _, k := range p.sync().RoomKeys {
				ack(p, k.RoomID, k.SessionID)
			}
		}
	}
	syncAll()
	for ; n < crashMsgs; n++ {
		from, to := peers[0], peers[1]
		if n%3 == 2 {
			from, to = to, from
		}
		if n%rotateEvery == rotateEvery-1 {
			if err := from.m.DiscardRoomKey(ctx, room); err != nil {
				t.Fatal(err)
			}
		}
		if n%restoreEvery == restoreEvery-1 {
			// A key backup restore: restoreSize sessions through
			// ImportRoomKeys, one transaction.
			sessions := backupSessions(t, restoreSize)
			res, err := to.m.ImportRoomKeys(ctx, sessions, machine.ProvenanceBackup)
			if err != nil || res.Imported != restoreSize {
				t.Fatalf("ImportRoomKeys: %+v, %v", res, err)
			}
			ack(to, "!restore:x", sessions[0].SessionID+" "+sessions[restoreSize-1].SessionID)
		}
		if n%restartEvery == restartEvery-1 {
			for _, p := range peers {
				p.m.Close()
				p.open()
			}
		}
		from.share(room, a.user, b.user)
		ev := from.post(room, fmt.Sprintf("message %d", n))
		syncAll()
		if _, err := to.m.DecryptRoomEvent(ctx, room, ev); err != nil && !errors.Is(err, machine.ErrNoSession) {
			violation("%s: decrypt message %d: %v", to.user, n, err)
		}
	}
	for _, p := range peers {
		p.m.Close()
		stores[p].Close()
	}
}

// backupSessions returns n sessions as a key backup holds them, from a
// sender device of its own.
func backupSessions(t testing.TB, n int) []keybackup.ExportedSession {
	acct, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	curve, ed := acct.IdentityKeys()
	out := make([]keybackup.ExportedSession, n)
	for i := range out {
		g, err := megolm.NewGroupSession()
		if err != nil {
			t.Fatal(err)
		}
		in, err := megolm.NewInboundGroupSession(g.SessionKey())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = keybackup.NewExportedSession("!restore:x", in, curve, ed, nil)
	}
	return out
}
