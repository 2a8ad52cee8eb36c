// Package botkit is the example bot's Matrix client: plain net/http for the
// client-server API, souverain's machine for the encryption, and a store
// directory that makes it survive restarts.
//
// A Client logs in (or reuses the session saved in its store directory),
// runs /sync, feeds the machine, sends what the machine asks for, decrypts
// the timeline and hands each message to a callback, answers verification
// requests with SAS, and sends encrypted messages. The e2e test drives its
// machine bots with it.
package botkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souverain/e2ee/machine"
	sqlstore "github.com/souverain/e2ee/store/sql"
)

// Config configures a Client.
type Config struct {
	// Homeserver is the base URL, such as https://matrix.example.org.
	Homeserver string
	// User and Password log in when the store has no session; or
	// AccessToken is used as is (its device comes from /whoami).
	User, Password, AccessToken string
	// DeviceName is the display name of a new device.
	DeviceName string
	// StoreDir holds the session, the machine's journal and the sync
	// token. Created if missing.
	StoreDir string
	// PickleKey encrypts the machine's records (machine.PickleKeySize
	// bytes, the same at every start).
	PickleKey []byte
	// OpenStore opens the machine's store in the store directory; nil
	// means the SQLite database dir/machine.db (store/sql, pure Go).
	OpenStore func(ctx context.Context, dir string) (machine.Store, error)
	// AutoJoin joins every room the bot is invited to.
	AutoJoin bool
	// AutoConfirmSAS confirms the emojis of a verification without a
	// human comparing them (they are logged). Only for tests and demos.
	AutoConfirmSAS bool
	// OnMessage is called for each decrypted m.room.message from another
	// user, in timeline order.
	OnMessage func(ctx context.Context, c *Client, m Message)
	// OnFailure is called for each room event that failed to decrypt
	// (after the retries a sync allows).
	OnFailure func(ctx context.Context, c *Client, roomID, eventID string, err error)
	// Log receives the bot's log; nil means slog.Default.
	Log *slog.Logger
	// HTTP is the HTTP client; nil means one with a 60 s timeout.
	HTTP *http.Client
}

// Message is a decrypted text message.
type Message struct {
	RoomID, Sender, EventID, MsgType, Body string
	// Event is the machine's view of the event (sender device, trust,
	// key provenance).
	Event *machine.DecryptedEvent
}

// session is what login returned, saved in the store directory.
type session struct {
	Homeserver  string `json:"homeserver"`
	UserID      string `json:"user_id"`
	DeviceID    string `json:"device_id"`
	AccessToken string `json:"access_token"`
}

// Client is a logged-in bot device.
type Client struct {
	cfg     Config
	log     *slog.Logger
	http    *http.Client
	sess    session
	store   machine.Store
	Machine *machine.Machine

	mu sync.Mutex // serialises room sends (room key share, then encrypt)
	// reqMu serialises sending the machine's requests: OutgoingRequests
	// also returns the to-device requests of a ShareRoomKey in progress,
	// and a request must be sent and marked by one goroutine only.
	reqMu   sync.Mutex
	pmu     sync.Mutex
	pending map[string]pendingEvent // events that failed for want of a key
	txn     atomic.Int64
}

// New logs in (or reuses the saved session) and opens the machine.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Log, http: cfg.HTTP, pending: map[string]pendingEvent{}}
	c.txn.Store(time.Now().UnixNano())
	sessPath := filepath.Join(cfg.StoreDir, "session.json")
	if b, err := os.ReadFile(sessPath); err == nil {
		if err := json.Unmarshal(b, &c.sess); err != nil {
			return nil, fmt.Errorf("botkit: %s: %w", sessPath, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if err := c.login(ctx); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(c.sess)
		if err := writeFileAtomic(sessPath, b); err != nil {
			return nil, err
		}
	} else {
		return nil, err
	}
	if cfg.OpenStore == nil {
		cfg.OpenStore = func(ctx context.Context, dir string) (machine.Store, error) {
			return sqlstore.OpenSQLite(ctx, filepath.Join(dir, "machine.db"))
		}
	}
	st, err := cfg.OpenStore(ctx, cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	m, err := machine.New(ctx, machine.Options{UserID: c.sess.UserID, DeviceID: c.sess.DeviceID, Store: st, PickleKey: cfg.PickleKey})
	if err != nil {
		st.Close()
		return nil, err
	}
	c.store, c.Machine = st, m
	// Our own devices get room keys and verify each other: track them.
	if err := m.UpdateTrackedUsers(ctx, []string{c.sess.UserID}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// UserID returns the bot's user ID.
func (c *Client) UserID() string { return c.sess.UserID }

// DeviceID returns the bot's device ID.
func (c *Client) DeviceID() string { return c.sess.DeviceID }

// Close closes the machine and the store.
func (c *Client) Close() error {
	c.Machine.Close()
	return c.store.Close()
}

func (c *Client) login(ctx context.Context) error {
	c.sess.Homeserver = strings.TrimRight(c.cfg.Homeserver, "/")
	if c.cfg.AccessToken != "" {
		c.sess.AccessToken = c.cfg.AccessToken
		var who struct {
			UserID   string `json:"user_id"`
			DeviceID string `json:"device_id"`
		}
		if err := c.do(ctx, "GET", "/_matrix/client/v3/account/whoami", nil, &who); err != nil {
			return err
		}
		if who.DeviceID == "" {
			return errors.New("botkit: the access token has no device ID")
		}
		c.sess.UserID, c.sess.DeviceID = who.UserID, who.DeviceID
		return nil
	}
	req := map[string]any{
		"type":                        "m.login.password",
		"identifier":                  map[string]string{"type": "m.id.user", "user": c.cfg.User},
		"password":                    c.cfg.Password,
		"initial_device_display_name": c.cfg.DeviceName,
	}
	var resp struct {
		UserID      string `json:"user_id"`
		DeviceID    string `json:"device_id"`
		AccessToken string `json:"access_token"`
	}
	if err := c.do(ctx, "POST", "/_matrix/client/v3/login", req, &resp); err != nil {
		return err
	}
	c.sess.UserID, c.sess.DeviceID, c.sess.AccessToken = resp.UserID, resp.DeviceID, resp.AccessToken
	return nil
}

// HTTPError is a non-200 answer of the homeserver.
type HTTPError struct {
	Status  int
	Body    []byte // the answer, for user-interactive authentication
	ErrCode string `json:"errcode"`
	Message string `json:"error"`
	Path    string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("botkit: %s: HTTP %d %s %s", e.Path, e.Status, e.ErrCode, e.Message)
}

// do sends one request; body is marshalled unless it is a json.RawMessage
// or nil, out is unmarshalled from a 200 answer unless nil.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	_, err := c.doRaw(ctx, method, path, body, out)
	return err
}

func (c *Client) doRaw(ctx context.Context, method, path string, body any, out any) ([]byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case json.RawMessage:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.sess.Homeserver+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.sess.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.sess.AccessToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{Status: resp.StatusCode, Body: rb, Path: method + " " + strings.SplitN(path, "?", 2)[0]}
		json.Unmarshal(rb, he)
		return nil, he
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			return nil, fmt.Errorf("botkit: %s %s: %w", method, path, err)
		}
	}
	return rb, nil
}

// flush sends every request the machine has queued, in order, and reports
// each answer. A failed request stays queued for the next flush.
func (c *Client) flush(ctx context.Context) error {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	for range 10 { // answers can queue more (claims after queries)
		reqs, err := c.Machine.OutgoingRequests(ctx)
		if err != nil {
			return err
		}
		if len(reqs) == 0 {
			break
		}
		if err := c.send(ctx, reqs); err != nil {
			return err
		}
	}
	// Room keys not yet in the backup, if a backup is set.
	for range 100 {
		r, err := c.Machine.BackupRequest(ctx, 100)
		if err != nil || r == nil {
			return err
		}
		if err := c.send(ctx, []machine.Request{*r}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) send(ctx context.Context, reqs []machine.Request) error {
	for _, r := range reqs {
		body, err := c.doRaw(ctx, r.Method, r.Path, r.Body, nil)
		if err != nil {
			return fmt.Errorf("botkit: %s: %w", r.Kind, err)
		}
		if err := c.Machine.MarkRequestSent(ctx, r.ID, body); err != nil {
			return err
		}
	}
	return nil
}

// JoinedMembers returns the joined members of a room.
func (c *Client) JoinedMembers(ctx context.Context, roomID string) ([]string, error) {
	var resp struct {
		Joined map[string]json.RawMessage `json:"joined"`
	}
	if err := c.do(ctx, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/joined_members", nil, &resp); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Joined))
	for u := range resp.Joined {
		out = append(out, u)
	}
	return out, nil
}

// SendEvent encrypts an event for an encrypted room (sharing the room key
// with the joined members first) and sends it. txnID makes the send
// idempotent: the same txnID after a restart gives the same event; ""
// picks a fresh one. It returns the event ID.
func (c *Client) SendEvent(ctx context.Context, roomID, eventType string, content any, txnID string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	var enc json.RawMessage
	for attempt := 0; ; attempt++ {
		enc, err = c.Machine.EncryptRoomEvent(ctx, roomID, eventType, raw)
		if err == nil {
			break
		}
		if !errors.Is(err, machine.ErrShareRequired) || attempt == 5 {
			return "", err
		}
		if err := c.shareRoomKey(ctx, roomID); err != nil {
			return "", err
		}
	}
	if txnID == "" {
		txnID = fmt.Sprintf("botkit.%d", c.txn.Add(1))
	}
	var resp struct {
		EventID string `json:"event_id"`
	}
	path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.encrypted/" + url.PathEscape(txnID)
	if err := c.do(ctx, "PUT", path, enc, &resp); err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// SendText sends an m.text message (see SendEvent).
func (c *Client) SendText(ctx context.Context, roomID, body, txnID string) (string, error) {
	return c.SendEvent(ctx, roomID, "m.room.message", map[string]string{"msgtype": "m.text", "body": body}, txnID)
}

func (c *Client) shareRoomKey(ctx context.Context, roomID string) error {
	members, err := c.JoinedMembers(ctx, roomID)
	if err != nil {
		return err
	}
	if err := c.Machine.UpdateTrackedUsers(ctx, members); err != nil {
		return err
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	for range 10 {
		reqs, err := c.Machine.ShareRoomKey(ctx, roomID, members)
		if err != nil {
			return err
		}
		if len(reqs) == 0 {
			return nil
		}
		if err := c.send(ctx, reqs); err != nil {
			return err
		}
	}
	return errors.New("botkit: room key share did not settle")
}

// CreateRoom creates an encrypted private room, inviting users, and
// returns its ID.
func (c *Client) CreateRoom(ctx context.Context, name string, invite []string) (string, error) {
	req := map[string]any{
		"name":   name,
		"preset": "private_chat",
		"invite": invite,
		"initial_state": []map[string]any{{
			"type": "m.room.encryption", "state_key": "",
			"content": map[string]string{"algorithm": "m.megolm.v1.aes-sha2"},
		}},
	}
	var resp struct {
		RoomID string `json:"room_id"`
	}
	if err := c.do(ctx, "POST", "/_matrix/client/v3/createRoom", req, &resp); err != nil {
		return "", err
	}
	return resp.RoomID, c.Machine.SetRoomEncryption(ctx, resp.RoomID, json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`))
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
