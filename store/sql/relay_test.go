package sqlstore_test

// A minimal homeserver for the machine's requests, served over HTTP on
// 127.0.0.1 so that it outlives the processes the crash test kills. It
// checks two of the crash test's properties as requests arrive: no
// one-time key is uploaded again after it was claimed (or under the same
// ID with other content), and no Megolm message index is used by two
// different room events.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/souverain/e2ee/machine"
)

type relayDevice struct {
	keys     json.RawMessage
	otks     map[string]json.RawMessage
	fallback map[string]json.RawMessage
	fbUsed   bool
	inbox    []json.RawMessage
}

type relayEvent struct {
	Room, Sender, EventID, SessionID string
	Index                            uint32
	Event                            json.RawMessage
}

type relayAck struct{ User, Room, Session string }

type relay struct {
	mu         sync.Mutex
	devices    map[string]*relayDevice // user|device
	changes    []string                // users whose device keys changed, in order
	claimed    map[string]bool         // user|device|key ID
	txns       map[string]bool
	timeline   []relayEvent
	indexes    map[string]string // session|index → ciphertext
	acks       []relayAck
	violations []string
}

func newRelay() *relay {
	return &relay{devices: map[string]*relayDevice{}, claimed: map[string]bool{}, txns: map[string]bool{}, indexes: map[string]string{}}
}

func (r *relay) dev(user, id string) *relayDevice {
	k := user + "|" + id
	d := r.devices[k]
	if d == nil {
		d = &relayDevice{otks: map[string]json.RawMessage{}, fallback: map[string]json.RawMessage{}}
		r.devices[k] = d
	}
	return d
}

func (r *relay) violation(format string, args ...any) {
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	user, dev := req.Header.Get("X-User"), req.Header.Get("X-Device")
	r.mu.Lock()
	defer r.mu.Unlock()
	out, err := r.serve(req.Method, req.URL, user, dev, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (r *relay) serve(method string, u *url.URL, user, dev string, body []byte) ([]byte, error) {
	path := u.EscapedPath()
	switch {
	case path == "/_matrix/client/v3/keys/upload":
		var q struct {
			DeviceKeys   json.RawMessage            `json:"device_keys"`
			OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
			FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		d := r.dev(user, dev)
		if len(q.DeviceKeys) > 0 {
			if d.keys != nil && !bytes.Equal(d.keys, q.DeviceKeys) {
				r.violation("%s %s uploaded other device keys", user, dev)
			}
			if d.keys == nil {
				r.changes = append(r.changes, user)
			}
			d.keys = q.DeviceKeys
		}
		for id, k := range q.OneTimeKeys {
			if r.claimed[user+"|"+dev+"|"+id] {
				r.violation("%s %s uploaded one-time key %s again after it was claimed", user, dev, id)
			}
			if old, ok := d.otks[id]; ok && !bytes.Equal(old, k) {
				r.violation("%s %s uploaded one-time key %s with other content", user, dev, id)
			}
			d.otks[id] = k
		}
		if len(q.FallbackKeys) > 0 {
			d.fallback, d.fbUsed = q.FallbackKeys, false
		}
		return json.Marshal(map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(d.otks)}})
	case path == "/_matrix/client/v3/keys/query":
		var q struct {
			DeviceKeys map[string][]string `json:"device_keys"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		res := map[string]map[string]json.RawMessage{}
		for u := range q.DeviceKeys {
			res[u] = map[string]json.RawMessage{}
			for k, d := range r.devices {
				if uu, id, _ := strings.Cut(k, "|"); uu == u && d.keys != nil {
					res[u][id] = d.keys
				}
			}
		}
		return json.Marshal(map[string]any{"device_keys": res, "failures": map[string]any{}})
	case path == "/_matrix/client/v3/keys/claim":
		var q struct {
			OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		res := map[string]map[string]map[string]json.RawMessage{}
		for u, devs := range q.OneTimeKeys {
			for id := range devs {
				d := r.devices[u+"|"+id]
				if d == nil {
					continue
				}
				var kid string
				var key json.RawMessage
				for k, v := range d.otks {
					if kid == "" || k < kid {
						kid, key = k, v
					}
				}
				if kid != "" {
					delete(d.otks, kid)
					r.claimed[u+"|"+id+"|"+kid] = true
				} else {
					for k, v := range d.fallback {
						kid, key = k, v
					}
					d.fbUsed = true
				}
				if kid == "" {
					continue
				}
				if res[u] == nil {
					res[u] = map[string]map[string]json.RawMessage{}
				}
				res[u][id] = map[string]json.RawMessage{kid: key}
			}
		}
		return json.Marshal(map[string]any{"one_time_keys": res, "failures": map[string]any{}})
	case method == "PUT" && strings.HasPrefix(path, "/_matrix/client/v3/sendToDevice/"):
		parts := strings.Split(strings.TrimPrefix(path, "/_matrix/client/v3/sendToDevice/"), "/")
		if len(parts) != 2 {
			return nil, fmt.Errorf("bad path %s", path)
		}
		typ, _ := url.PathUnescape(parts[0])
		txn := user + "|" + dev + "|" + parts[1]
		if r.txns[txn] {
			return []byte(`{}`), nil
		}
		r.txns[txn] = true
		var q struct {
			Messages map[string]map[string]json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		for u, devs := range q.Messages {
			for id, content := range devs {
				ev, _ := json.Marshal(map[string]any{"type": typ, "sender": user, "content": content})
				d := r.dev(u, id)
				d.inbox = append(d.inbox, ev)
			}
		}
		return []byte(`{}`), nil
	case path == "/test/sync":
		// since is "<to-device index>.<change index>"; the machine keeps
		// it (SyncToken) in the same transaction as what it received.
		var ti, ci int
		if s := u.Query().Get("since"); s != "" {
			a, b, _ := strings.Cut(s, ".")
			ti, _ = strconv.Atoi(a)
			ci, _ = strconv.Atoi(b)
		}
		d := r.dev(user, dev)
		sc := machine.SyncChanges{
			ToDevice:         append([]json.RawMessage(nil), d.inbox[min(ti, len(d.inbox)):]...),
			Changed:          append([]string(nil), r.changes[min(ci, len(r.changes)):]...),
			OneTimeKeyCounts: map[string]int{"signed_curve25519": len(d.otks)},
			NextBatch:        fmt.Sprintf("%d.%d", len(d.inbox), len(r.changes)),
		}
		sc.UnusedFallbackKeyTypes = []string{}
		if len(d.fallback) > 0 && !d.fbUsed {
			sc.UnusedFallbackKeyTypes = []string{"signed_curve25519"}
		}
		return json.Marshal(sc)
	case path == "/test/send":
		var q struct {
			Room    string          `json:"room"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(body, &q); err != nil {
			return nil, err
		}
		var c struct {
			SessionID  string `json:"session_id"`
			Ciphertext string `json:"ciphertext"`
		}
		json.Unmarshal(q.Content, &c)
		idx, err := megolmIndex(c.Ciphertext)
		if err != nil {
			return nil, err
		}
		k := fmt.Sprintf("%s|%d", c.SessionID, idx)
		if old, ok := r.indexes[k]; ok {
			if old != c.Ciphertext {
				r.violation("megolm session %s index %d used by two different events", c.SessionID, idx)
			}
		}
		r.indexes[k] = c.Ciphertext
		n := len(r.timeline) + 1
		id := fmt.Sprintf("$event%d", n)
		ev, _ := json.Marshal(map[string]any{
			"type": "m.room.encrypted", "sender": user, "room_id": q.Room, "event_id": id,
			"origin_server_ts": 1700000000000 + int64(n), "content": q.Content,
		})
		r.timeline = append(r.timeline, relayEvent{Room: q.Room, Sender: user, EventID: id, SessionID: c.SessionID, Index: idx, Event: ev})
		return json.Marshal(map[string]any{"event_id": id, "event": json.RawMessage(ev)})
	case path == "/test/timeline":
		return json.Marshal(r.timeline)
	case path == "/test/ack":
		var a relayAck
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, err
		}
		r.acks = append(r.acks, a)
		return []byte(`{}`), nil
	case path == "/test/acks":
		return json.Marshal(r.acks)
	case path == "/test/violation":
		r.violation("%s", body)
		return []byte(`{}`), nil
	}
	return nil, fmt.Errorf("no endpoint %s %s", method, path)
}

// megolmIndex reads the message index of a Megolm message (version byte,
// then field 1 as a varint).
func megolmIndex(ct string) (uint32, error) {
	b, err := base64.RawStdEncoding.DecodeString(ct)
	if err != nil || len(b) < 3 || b[0] != 3 || b[1] != 0x08 {
		return 0, fmt.Errorf("not a megolm message")
	}
	var v uint64
	for i, s := 2, 0; i < len(b) && s < 35; i, s = i+1, s+7 {
		v |= uint64(b[i]&0x7f) << s
		if b[i] < 0x80 {
			return uint32(v), nil
		}
	}
	return 0, fmt.Errorf("bad megolm index")
}

// peer is one device: a machine over a store, talking to the relay.
type peer struct {
	t         testing.TB
	base      string
	user, dev string
	opts      machine.Options
	m         *machine.Machine
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (p *peer) call(method, path string, body []byte) []byte {
	p.t.Helper()
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("X-User", p.user)
	req.Header.Set("X-Device", p.dev)
	resp, err := httpClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %s %s: %v", p.user, method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("%s: %s %s: %s", p.user, method, path, out)
	}
	return out
}

func (p *peer) open() {
	p.t.Helper()
	m, err := machine.New(ctx, p.opts)
	if err != nil {
		p.t.Fatalf("%s: machine.New: %v", p.user, err)
	}
	p.m = m
}

func (p *peer) send(r machine.Request) {
	p.t.Helper()
	body := p.call(r.Method, r.Path, r.Body)
	if err := p.m.MarkRequestSent(ctx, r.ID, body); err != nil {
		p.t.Fatalf("%s: MarkRequestSent(%s): %v", p.user, r.Kind, err)
	}
}

func (p *peer) flush() {
	p.t.Helper()
	for i := 0; ; i++ {
		reqs, err := p.m.OutgoingRequests(ctx)
		if err != nil {
			p.t.Fatalf("%s: OutgoingRequests: %v", p.user, err)
		}
		if len(reqs) == 0 {
			return
		}
		if i > 20 {
			p.t.Fatalf("%s: outgoing requests never end", p.user)
		}
		for _, r := range reqs {
			p.send(r)
		}
	}
}

// sync receives the to-device events after the machine's sync token; it
// returns what the machine made of them once ReceiveSync returned (the
// keys are then acknowledged: committed).
func (p *peer) sync() *machine.SyncResult {
	p.t.Helper()
	tok, err := p.m.SyncToken(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	var sc machine.SyncChanges
	if err := json.Unmarshal(p.call("GET", "/test/sync?since="+url.QueryEscape(tok), nil), &sc); err != nil {
		p.t.Fatal(err)
	}
	res, err := p.m.ReceiveSync(ctx, sc)
	if err != nil {
		p.t.Fatalf("%s: ReceiveSync: %v", p.user, err)
	}
	p.flush()
	return res
}

func (p *peer) share(room string, members ...string) {
	p.t.Helper()
	for i := 0; ; i++ {
		reqs, err := p.m.ShareRoomKey(ctx, room, members)
		if err != nil {
			p.t.Fatalf("%s: ShareRoomKey: %v", p.user, err)
		}
		if len(reqs) == 0 {
			return
		}
		if i > 20 {
			p.t.Fatalf("%s: sharing never ends", p.user)
		}
		for _, r := range reqs {
			p.send(r)
		}
	}
}

// post encrypts a message and posts it to the room; it returns the event.
func (p *peer) post(room, text string) json.RawMessage {
	p.t.Helper()
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": text})
	ct, err := p.m.EncryptRoomEvent(ctx, room, "m.room.message", content)
	if err != nil {
		p.t.Fatalf("%s: EncryptRoomEvent: %v", p.user, err)
	}
	body, _ := json.Marshal(map[string]any{"room": room, "content": ct})
	var res struct {
		Event json.RawMessage `json:"event"`
	}
	json.Unmarshal(p.call("POST", "/test/send", body), &res)
	return res.Event
}

func (p *peer) timeline() []relayEvent {
	p.t.Helper()
	var tl []relayEvent
	if err := json.Unmarshal(p.call("GET", "/test/timeline", nil), &tl); err != nil {
		p.t.Fatal(err)
	}
	return tl
}
