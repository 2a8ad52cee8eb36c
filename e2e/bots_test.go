package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/crypto/goolm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/souverain/e2ee/examples/bot/botkit"
)

// tally counts what one participant saw: every message decrypted (by body,
// so duplicates show) and every failure.
type tally struct {
	name     string
	mu       sync.Mutex
	sent     int
	got      map[string]int // body → times decrypted
	events   map[string]int // event ID → times decrypted
	failures []string
	// trust is the sender's trust each body was decrypted with, where the
	// participant reports it.
	trust map[string]string
}

func newTally(name string) *tally {
	return &tally{name: name, got: map[string]int{}, events: map[string]int{}, trust: map[string]string{}}
}

// decryptedWith records a decrypted message and the trust in its sender.
func (t *tally) decryptedWith(eventID, body, trust string) {
	t.decrypted(eventID, body)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trust[body] = trust
}

func (t *tally) trustOf(body string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trust[body]
}

func (t *tally) decrypted(eventID, body string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got[body]++
	t.events[eventID]++
}

func (t *tally) failed(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, what)
}

func (t *tally) has(bodies []string) (missing []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range bodies {
		if t.got[b] == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	dup := 0
	for _, n := range t.events {
		if n > 1 {
			dup += n - 1
		}
	}
	return fmt.Sprintf("%-6s sent %3d  decrypted %3d events (%d distinct bodies, %d events decrypted again)  failed %d",
		t.name, t.sent, len(t.events), len(t.got), dup, len(t.failures))
}

// echoBot is examples/bot running as a subprocess, so that it can be killed
// with SIGKILL and started again on the same store.
type echoBot struct {
	t                   *testing.T
	bin, hs, user, pass string
	token               string // log in with -token instead of the password
	store               string
	tally               *tally
	cmd                 *exec.Cmd
	done                chan struct{}
	starts              int
	devices             []string            // device ID at each start
	echoes              map[string][]string // event answered → echo event IDs
}

func buildBot(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "bot")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, "github.com/souverain/e2ee/examples/bot").CombinedOutput()
	if err != nil {
		t.Fatalf("building examples/bot: %v\n%s", err, out)
	}
	t.Logf("built examples/bot in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

func (b *echoBot) start() {
	b.t.Helper()
	b.starts++
	args := []string{"-store", b.store, "-json", "-auto-confirm-sas"}
	if b.starts == 1 && b.token != "" {
		args = append(args, "-homeserver", b.hs, "-token", b.token)
	} else if b.starts == 1 {
		args = append(args, "-homeserver", b.hs, "-user", b.user, "-password", b.pass)
	}
	cmd := exec.Command(b.bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(b.store, "..", b.user+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(b.done)
		defer logf.Close()
		sc := bufio.NewScanner(io.TeeReader(out, logf))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			var l struct {
				Msg, Event, Err, Device, Echo string
			}
			json.Unmarshal(sc.Bytes(), &l)
			switch l.Msg {
			case "started":
				b.devices = append(b.devices, l.Device)
				once.Do(func() { close(started) })
			case "echoed":
				b.tally.mu.Lock()
				b.tally.sent++
				b.echoes[l.Event] = append(b.echoes[l.Event], l.Echo)
				b.tally.mu.Unlock()
			case "decrypted":
				b.tally.decrypted(l.Event, l.Event)
			case "decryption failed", "echo failed":
				b.tally.failed(l.Msg + " " + l.Event + ": " + l.Err)
			}
		}
		cmd.Wait()
	}()
	select {
	case <-started:
	case <-b.done:
		b.t.Fatalf("%s exited before starting (see %s.log)", b.user, b.user)
	case <-time.After(60 * time.Second):
		b.t.Fatalf("%s did not start", b.user)
	}
}

// kill sends SIGKILL to the bot by PID and waits for it to exit.
func (b *echoBot) kill(sig syscall.Signal) {
	syscall.Kill(b.cmd.Process.Pid, sig)
	<-b.done
}

// mautrixBot is a mautrix-go v0.33 client with its goolm driver.
type mautrixBot struct {
	cli    *mautrix.Client
	helper *cryptohelper.CryptoHelper
	tally  *tally
	done   chan struct{} // closed when the sync loop ends
}

func newMautrixBot(ctx context.Context, t *testing.T, hsURL, user, pass, dir string, tl *tally) *mautrixBot {
	goolm.Register() // mautrix-go's pure-Go Olm, whatever the build tags
	cli, err := mautrix.NewClient(hsURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, user+"-mautrix.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cli.Log = zerolog.New(logf).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	helper, err := cryptohelper.NewCryptoHelper(cli, []byte("mautrix e2e pickle key"), filepath.Join(dir, user+".db"))
	if err != nil {
		t.Fatal(err)
	}
	helper.LoginAs = &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
		Password:   pass,
	}
	helper.DecryptErrorCallback = func(evt *event.Event, err error) {
		tl.failed(fmt.Sprintf("%s: %v", evt.ID, err))
	}
	if err := helper.Init(ctx); err != nil {
		t.Fatal(err)
	}
	cli.Crypto = helper
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.StateMember, func(ctx context.Context, evt *event.Event) {
		if evt.GetStateKey() == cli.UserID.String() && evt.Content.AsMember().Membership == event.MembershipInvite {
			if _, err := cli.JoinRoomByID(ctx, evt.RoomID); err != nil {
				t.Logf("%s: join: %v", user, err)
			}
		}
	})
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		if evt.Sender == cli.UserID || evt.Mautrix.EventSource&event.SourceDecrypted == 0 {
			return
		}
		tl.decryptedWith(evt.ID.String(), evt.Content.AsMessage().Body, evt.Mautrix.TrustState.String())
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cli.SyncWithContext(ctx); err != nil && ctx.Err() == nil {
				t.Logf("%s: sync: %v", user, err)
				time.Sleep(time.Second)
			}
		}
	}()
	return &mautrixBot{cli: cli, helper: helper, tally: tl, done: done}
}

func (m *mautrixBot) send(ctx context.Context, roomID, body string) error {
	_, err := m.cli.SendMessageEvent(ctx, id.RoomID(roomID), event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: body})
	return err
}

// TestThreeBotsOneRoom runs two machine bots (one in process, one as the
// examples/bot subprocess that echoes) and a mautrix-go bot in one encrypted
// room on a real Dendrite: alice (machine) and carol (mautrix-go) each send
// messages, bob (examples/bot) echoes every one of them and is killed with
// SIGKILL three times in the middle, each time started again on its store. Everyone must decrypt everything:
// alice carol's messages and all echoes, carol alice's and all echoes, bob
// every message; zero failures.
func TestThreeBotsOneRoom(t *testing.T) {
	hs := startDendrite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	ids := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		uid, err := hs.register(ctx, u, "password-"+u)
		if err != nil {
			t.Fatalf("register %s: %v", u, err)
		}
		ids[u] = uid
	}

	tb := newTally("bob")
	bob := &echoBot{t: t, bin: buildBot(t), hs: hs.URL, user: "bob", pass: "password-bob", store: filepath.Join(dir, "bob-store"), tally: tb, echoes: map[string][]string{}}
	bob.start()
	t.Cleanup(func() {
		select {
		case <-bob.done:
		default:
			bob.kill(syscall.SIGTERM)
		}
	})

	ta := newTally("alice")
	alog, err := os.Create(filepath.Join(dir, "alice.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	alice, err := botkit.New(ctx, botkit.Config{
		Homeserver: hs.URL, User: "alice", Password: "password-alice", DeviceName: "alice e2e",
		StoreDir: filepath.Join(dir, "alice-store"), PickleKey: randBytes(32),
		Log: slog.New(slog.NewTextHandler(alog, nil)),
		OnMessage: func(ctx context.Context, c *botkit.Client, m botkit.Message) {
			ta.decrypted(m.EventID, m.Body)
		},
		OnFailure: func(ctx context.Context, c *botkit.Client, roomID, eventID string, err error) {
			ta.failed(eventID + ": " + err.Error())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); alice.Run(runCtx) }()
	tc := newTally("carol")
	carol := newMautrixBot(runCtx, t, hs.URL, "carol", "password-carol", dir, tc)
	defer func() { stopRun(); wg.Wait(); <-carol.done; carol.helper.Close() }()

	room, err := alice.CreateRoom(ctx, "e2e", []string{ids["bob"], ids["carol"]})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "bob and carol to join", func() bool {
		m, err := alice.JoinedMembers(ctx, room)
		return err == nil && len(m) == 3
	})

	const n, kills = 12, 3
	var aliceBodies, carolBodies, echoes []string
	for i := range n {
		a, c := fmt.Sprintf("alice %d", i), fmt.Sprintf("carol %d", i)
		if _, err := alice.SendText(ctx, room, a, ""); err != nil {
			t.Fatalf("alice send %d: %v", i, err)
		}
		ta.sent++
		if err := carol.send(ctx, room, c); err != nil {
			t.Fatalf("carol send %d: %v", i, err)
		}
		tc.sent++
		aliceBodies, carolBodies = append(aliceBodies, a), append(carolBodies, c)
		echoes = append(echoes, "echo: "+a, "echo: "+c)
		switch i {
		case 3, 7, 10: // keep kills in sync
			// Messages are in flight: kill bob without warning, send
			// while it is down, and start it again on its store.
			bob.kill(syscall.SIGKILL)
			t.Logf("bob killed with SIGKILL after round %d", i)
		case 4, 9, 11:
			bob.start()
			t.Logf("bob restarted after round %d", i)
		}
		time.Sleep(300 * time.Millisecond)
	}

	start := time.Now()
	for {
		ma, mc := ta.has(append(carolBodies, echoes...)), tc.has(append(aliceBodies, echoes...))
		if len(ma)+len(mc) == 0 {
			t.Logf("every message decrypted %v after the last send", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Errorf("after 90 s, alice misses %q; carol misses %q", ma, mc)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Let late duplicates or failures show.
	time.Sleep(2 * time.Second)

	t.Log("\n" + ta.summary() + "\n" + tb.summary() + "\n" + tc.summary())
	for _, tl := range []*tally{ta, tb, tc} {
		for _, f := range tl.failures {
			t.Errorf("%s: failure: %s", tl.name, f)
		}
	}
	// An event decrypted twice would be a replay: never. The same body in
	// two events is allowed only for echoes, at most once per SIGKILL: a
	// kill while bob's PUT /send is in flight leaves bob unable to know
	// whether it was sent; it sends again with the same transaction ID,
	// and Dendrite v0.13.8 does not deduplicate it when the first request
	// was cut off (at-least-once delivery across a crash).
	dups := 0
	for _, tl := range []*tally{ta, tc} {
		for ev, k := range tl.events {
			if k > 1 {
				t.Errorf("%s decrypted event %s %d times", tl.name, ev, k)
			}
		}
		for body, k := range tl.got {
			if k > 1 && !strings.HasPrefix(body, "echo: ") {
				t.Errorf("%s got %q %d times", tl.name, body, k)
			}
			if k > 1 {
				dups += k - 1
			}
		}
	}
	t.Logf("echoes duplicated by a SIGKILL during their send (seen by alice and carol): %d", dups)
	same, fresh := 0, 0
	for ev, echoes := range bob.echoes {
		if len(echoes) < 2 {
			continue
		}
		for _, e := range echoes[1:] {
			if e == echoes[0] {
				same++
			} else {
				fresh++
				t.Logf("echo of %s sent again after a restart became a second event: %q", ev, echoes)
			}
		}
	}
	t.Logf("echoes sent again after a restart: %d deduplicated by the server (same transaction ID, same event), %d new events", same, fresh)
	if dups > 2*kills {
		t.Errorf("%d duplicated echoes for %d kills", dups, kills)
	}
	for _, d := range bob.devices {
		if d != bob.devices[0] {
			t.Errorf("bob's device changed across restarts: %q", bob.devices)
		}
	}
	t.Logf("bob started %d times, device %q each time", len(bob.devices), bob.devices[0])
	if len(tb.events) < 2*n {
		t.Errorf("bob decrypted %d distinct events, want at least %d", len(tb.events), 2*n)
	}
	if t.Failed() {
		for _, f := range []string{"alice.log", "bob.log"} {
			tail(t, filepath.Join(dir, f), 30)
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	start := time.Now()
	for !ok() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
}
