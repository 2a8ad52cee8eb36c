// Command bot is an encrypted echo bot on souverain's machine: it logs in to
// any homeserver, joins the rooms it is invited to, and answers every text
// message in an encrypted room with an m.notice quoting it. Its state (the
// session, the machine's journal, the sync token) lives in a store
// directory, so it survives restarts, SIGKILL included.
//
// Usage:
//
//	bot -homeserver https://matrix.example.org -user echobot -password ... -store ./echobot
//
// See README.md for the flags and the pickle key.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/souverain/e2ee/examples/bot/botkit"
	"github.com/souverain/e2ee/machine"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

func run() error {
	hs := flag.String("homeserver", "", "homeserver base URL, such as https://matrix.example.org")
	user := flag.String("user", "", "user to log in as (localpart or full user ID)")
	password := flag.String("password", "", "password (or set BOT_PASSWORD)")
	token := flag.String("token", "", "access token of an existing device instead of a password (or set BOT_ACCESS_TOKEN)")
	store := flag.String("store", "bot-store", "store directory (session, encrypted machine journal, sync token)")
	keyFile := flag.String("pickle-key-file", "", "file holding the 32-byte pickle key in hex; created if missing (default: <store>/pickle.key)")
	keyEnv := flag.String("pickle-key-env", "", "name of an environment variable holding the pickle key in hex (overrides -pickle-key-file)")
	autoSAS := flag.Bool("auto-confirm-sas", false, "confirm emoji verifications without comparing (tests and demos only)")
	jsonLog := flag.Bool("json", false, "log as JSON lines")
	flag.Parse()
	if *password == "" {
		*password = os.Getenv("BOT_PASSWORD")
	}
	if *token == "" {
		*token = os.Getenv("BOT_ACCESS_TOKEN")
	}

	var h slog.Handler = slog.NewTextHandler(os.Stdout, nil)
	if *jsonLog {
		h = slog.NewJSONHandler(os.Stdout, nil)
	}
	log := slog.New(h)
	slog.SetDefault(log)

	if err := os.MkdirAll(*store, 0o700); err != nil {
		return err
	}
	_, err := os.Stat(filepath.Join(*store, "session.json"))
	if errors.Is(err, os.ErrNotExist) && (*hs == "" || (*user == "" || *password == "") && *token == "") {
		return errors.New("first start: -homeserver and -user with -password, or -token, are required")
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(*store, "pickle.key")
	}
	key, err := pickleKey(*keyEnv, *keyFile)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := botkit.New(ctx, botkit.Config{
		Homeserver: *hs, User: *user, Password: *password, AccessToken: *token,
		DeviceName: "souverain echo bot", StoreDir: *store, PickleKey: key,
		AutoJoin: true, AutoConfirmSAS: *autoSAS, Log: log,
		OnMessage: echo,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	curve, ed, _ := c.Machine.IdentityKeys(ctx)
	log.Info("started", "user", c.UserID(), "device", c.DeviceID(), "curve25519", curve.String(), "ed25519", ed.String())
	c.Run(ctx)
	log.Info("stopped")
	return nil
}

// echo answers a text message with an m.notice quoting it. Notices are not
// answered (bots answer no bots), nor our own messages. The transaction ID
// comes from the event answered, so an echo sent again after a crash is the
// same event, not a second one.
func echo(ctx context.Context, c *botkit.Client, m botkit.Message) {
	if m.Sender == c.UserID() || m.MsgType != "m.text" {
		return
	}
	content := map[string]any{
		"msgtype": "m.notice",
		"body":    "echo: " + m.Body,
		"m.relates_to": map[string]any{
			"m.in_reply_to": map[string]string{"event_id": m.EventID},
		},
	}
	txn := "echo." + strings.NewReplacer("$", "", "/", "_", "+", "-").Replace(m.EventID)
	id, err := c.SendEvent(ctx, m.RoomID, "m.room.message", content, txn)
	if err != nil {
		slog.Default().Warn("echo failed", "event", m.EventID, "err", err)
		return
	}
	slog.Default().Info("echoed", "event", m.EventID, "echo", id)
}

// pickleKey reads the pickle key from an environment variable, or from a
// file, which is created with a random key if missing.
func pickleKey(env, file string) ([]byte, error) {
	if env != "" {
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("pickle key: $%s is empty", env)
		}
		return decodeKey(v)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, machine.PickleKeySize)
		rand.Read(key)
		if err := os.WriteFile(file, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeKey(string(b))
}

func decodeKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != machine.PickleKeySize {
		return nil, fmt.Errorf("pickle key: want %d bytes in hex", machine.PickleKeySize)
	}
	return k, nil
}
