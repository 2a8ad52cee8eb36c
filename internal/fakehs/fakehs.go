// Package fakehs is an in-process fake homeserver for the tests of the
// machine package and of its interop with Element (interop/), hence its place
// under the module's internal/ rather than machine/internal/:
// the end-to-end encryption endpoints (/keys/upload, /keys/query,
// /keys/claim, /sendToDevice, signature and account data uploads), the
// server-side key backup (room_keys/version and room_keys/keys), the
// dehydrated device endpoints of MSC3814,
// and the parts of /sync that carry to-device events, device list changes
// and key counts. It speaks the specification's
// JSON, keeps everything in memory, and lets tests tamper with what it
// delivers.
package fakehs

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/signedjson"
)

// Server is the fake homeserver. It is safe for concurrent use.
type Server struct {
	mu      sync.Mutex
	devices map[string]map[string]*device // user → device ID
	// crossSigning holds uploaded cross-signing keys by user and usage
	// ("master", "self_signing", "user_signing").
	crossSigning map[string]map[string]json.RawMessage
	txns         map[string]bool
	claimed      map[string]bool
	// accountData holds global account data by user and type.
	accountData map[string]map[string]json.RawMessage
	seq         int
	// TamperClaim, if set, may replace each one-time or fallback key
	// object /keys/claim returns.
	TamperClaim func(user, deviceID string, key json.RawMessage) json.RawMessage
	// Tamper, if set, sees every to-device event before delivery and
	// returns the events to deliver instead (none, it, or several).
	Tamper func(to, toDevice string, ev json.RawMessage) []json.RawMessage
	// dehydrated holds each user's dehydrated device (MSC3814).
	dehydrated map[string]*dehydratedDevice
	// DehydratedPageSize is the most events a POST
	// …/dehydrated_device/{id}/events returns at once; 0 means
	// DefaultDehydratedPageSize.
	DehydratedPageSize int
	// backups holds each user's key backup versions, the current one last.
	backups   map[string][]*backupVersion
	backupSeq int
}

type device struct {
	keys     json.RawMessage
	otks     map[string]json.RawMessage // key ID → object
	fallback map[string]json.RawMessage // key ID → object
	fbUsed   bool
	inbox    []json.RawMessage
	changed  map[string]bool
}

// New returns an empty server.
func New() *Server {
	return &Server{devices: map[string]map[string]*device{}, crossSigning: map[string]map[string]json.RawMessage{}, txns: map[string]bool{},
		claimed: map[string]bool{}, accountData: map[string]map[string]json.RawMessage{}, dehydrated: map[string]*dehydratedDevice{}, backups: map[string][]*backupVersion{}}
}

func (s *Server) dev(user, id string) *device {
	if s.devices[user] == nil {
		s.devices[user] = map[string]*device{}
	}
	d := s.devices[user][id]
	if d == nil {
		d = &device{otks: map[string]json.RawMessage{}, fallback: map[string]json.RawMessage{}, changed: map[string]bool{}}
		s.devices[user][id] = d
	}
	return d
}

// changed tells every device that user's devices changed.
func (s *Server) changedLocked(user string) {
	for _, ds := range s.devices {
		for _, d := range ds {
			d.changed[user] = true
		}
	}
}

// Do serves a request made by the machine of (user, deviceID).
func (s *Server) Do(user, deviceID string, r machine.Request) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == "POST" && r.Path == "/_matrix/client/v3/keys/upload":
		return s.upload(user, deviceID, r.Body)
	case r.Method == "POST" && r.Path == "/_matrix/client/v3/keys/query":
		return s.query(user, r.Body)
	case r.Method == "POST" && r.Path == "/_matrix/client/v3/keys/device_signing/upload":
		return s.deviceSigning(user, r.Body)
	case r.Method == "POST" && r.Path == "/_matrix/client/v3/keys/claim":
		return s.claim(r.Body)
	case r.Method == "POST" && r.Path == "/_matrix/client/v3/keys/signatures/upload":
		return s.signatures(r.Body)
	case r.Method == "PUT" && strings.HasPrefix(r.Path, "/_matrix/client/v3/user/"):
		parts := strings.Split(strings.TrimPrefix(r.Path, "/_matrix/client/v3/user/"), "/")
		if len(parts) != 3 || parts[1] != "account_data" {
			return nil, fmt.Errorf("fakehs: bad path %s", r.Path)
		}
		u, err1 := url.PathUnescape(parts[0])
		typ, err2 := url.PathUnescape(parts[2])
		if err1 != nil || err2 != nil || u != user || !json.Valid(r.Body) {
			return nil, fmt.Errorf("fakehs: bad account data PUT %s", r.Path)
		}
		if s.accountData[user] == nil {
			s.accountData[user] = map[string]json.RawMessage{}
		}
		s.accountData[user][typ] = append(json.RawMessage(nil), r.Body...)
		return []byte(`{}`), nil
	case strings.HasPrefix(r.Path, roomKeysPrefix):
		return s.backup(user, r.Path, r.Method, r.Body)
	case r.Method == "PUT" && strings.HasPrefix(r.Path, "/_matrix/client/v3/sendToDevice/"):
		parts := strings.Split(strings.TrimPrefix(r.Path, "/_matrix/client/v3/sendToDevice/"), "/")
		if len(parts) != 2 {
			return nil, fmt.Errorf("fakehs: bad path %s", r.Path)
		}
		typ, err1 := url.PathUnescape(parts[0])
		txn, err2 := url.PathUnescape(parts[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("fakehs: bad path %s", r.Path)
		}
		return s.sendToDevice(user, deviceID, typ, txn, r.Body)
	case r.Path == dehydratedPath:
		switch r.Method {
		case "PUT":
			return s.putDehydrated(user, r.Body)
		case "GET":
			return s.getDehydrated(user)
		case "DELETE":
			return s.deleteDehydrated(user)
		}
	case r.Method == "POST" && strings.HasPrefix(r.Path, dehydratedPath+"/") && strings.HasSuffix(r.Path, "/events"):
		id, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(r.Path, dehydratedPath+"/"), "/events"))
		if err != nil {
			return nil, fmt.Errorf("fakehs: bad path %s", r.Path)
		}
		return s.dehydratedEvents(user, id, r.Body)
	}
	return nil, fmt.Errorf("fakehs: no endpoint %s %s", r.Method, r.Path)
}

func (s *Server) upload(user, deviceID string, body []byte) ([]byte, error) {
	var req struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	d := s.dev(user, deviceID)
	if len(req.DeviceKeys) > 0 {
		if d.keys != nil && string(d.keys) != string(req.DeviceKeys) {
			return nil, fmt.Errorf("fakehs: device keys already uploaded")
		}
		d.keys = req.DeviceKeys
		s.changedLocked(user)
	}
	for id, k := range req.OneTimeKeys {
		if old, ok := d.otks[id]; ok && string(old) != string(k) {
			return nil, fmt.Errorf("fakehs: one-time key %s uploaded twice with other content", id)
		}
		if s.claimed[user+"|"+deviceID+"|"+id] {
			return nil, fmt.Errorf("fakehs: one-time key %s uploaded again after it was claimed", id)
		}
		d.otks[id] = k
	}
	if len(req.FallbackKeys) > 0 {
		d.fallback = map[string]json.RawMessage{}
		for id, k := range req.FallbackKeys {
			d.fallback[id] = k
		}
		d.fbUsed = false
	}
	return json.Marshal(map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": len(d.otks)}})
}

// signatures merges uploaded signatures into device keys and cross-signing
// keys, as a server does (without checking them: clients must).
func (s *Server) signatures(body []byte) ([]byte, error) {
	var req map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	merge := func(stored json.RawMessage, obj json.RawMessage) (json.RawMessage, error) {
		a, err := signedjson.Parse(stored)
		if err != nil {
			return nil, err
		}
		b, err := signedjson.Parse(obj)
		if err != nil {
			return nil, err
		}
		if err := a.AddSignatures(b); err != nil {
			return nil, err
		}
		return a.Bytes(), nil
	}
	for u, objs := range req {
		for id, obj := range objs {
			if d := s.devices[u][id]; d != nil && d.keys != nil {
				k, err := merge(d.keys, obj)
				if err != nil {
					return nil, err
				}
				d.keys = k
				s.changedLocked(u)
				continue
			}
			for usage, key := range s.crossSigning[u] {
				var ck struct {
					Keys map[string]string `json:"keys"`
				}
				if json.Unmarshal(key, &ck) == nil && ck.Keys["ed25519:"+id] == id {
					k, err := merge(key, obj)
					if err != nil {
						return nil, err
					}
					s.crossSigning[u][usage] = k
					s.changedLocked(u)
				}
			}
		}
	}
	return []byte(`{"failures":{}}`), nil
}

// AccountData returns a user's global account data events, as /sync's
// account_data.events lists them, sorted by type.
func (s *Server) AccountData(user string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	types := make([]string, 0, len(s.accountData[user]))
	for t := range s.accountData[user] {
		types = append(types, t)
	}
	sort.Strings(types)
	var out []json.RawMessage
	for _, t := range types {
		ev, _ := json.Marshal(map[string]any{"type": t, "content": s.accountData[user][t]})
		out = append(out, ev)
	}
	return out
}

// SetDeviceKeys replaces the device keys the server lists for a device:
// what a malicious server could do.
func (s *Server) SetDeviceKeys(user, deviceID string, keys json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dev(user, deviceID).keys = keys
	s.changedLocked(user)
}

// DeleteDevice removes a device.
func (s *Server) DeleteDevice(user, deviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.devices[user], deviceID)
	if dd := s.dehydrated[user]; dd != nil && dd.id == deviceID {
		delete(s.dehydrated, user)
	}
	s.changedLocked(user)
}

// SetCrossSigningKey sets a user's cross-signing key of a usage.
func (s *Server) SetCrossSigningKey(user, usage string, key json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crossSigning[user] == nil {
		s.crossSigning[user] = map[string]json.RawMessage{}
	}
	s.crossSigning[user][usage] = key
	s.changedLocked(user)
}

// deviceSigning stores uploaded cross-signing keys (without asking for
// user-interactive authentication).
func (s *Server) deviceSigning(user string, body []byte) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if s.crossSigning[user] == nil {
		s.crossSigning[user] = map[string]json.RawMessage{}
	}
	for member, usage := range map[string]string{"master_key": "master", "self_signing_key": "self_signing", "user_signing_key": "user_signing"} {
		if k, ok := req[member]; ok {
			s.crossSigning[user][usage] = k
		}
	}
	s.changedLocked(user)
	return []byte(`{}`), nil
}

// query answers /keys/query; the user-signing key is listed for the
// requesting user only, as the specification has it.
func (s *Server) query(requester string, body []byte) ([]byte, error) {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	dk := map[string]map[string]json.RawMessage{}
	mk := map[string]json.RawMessage{}
	ssk := map[string]json.RawMessage{}
	usk := map[string]json.RawMessage{}
	for u := range req.DeviceKeys {
		dk[u] = map[string]json.RawMessage{}
		for id, d := range s.devices[u] {
			if d.keys != nil {
				dk[u][id] = d.keys
			}
		}
		if k, ok := s.crossSigning[u]["master"]; ok {
			mk[u] = k
		}
		if k, ok := s.crossSigning[u]["self_signing"]; ok {
			ssk[u] = k
		}
		if k, ok := s.crossSigning[u]["user_signing"]; ok && u == requester {
			usk[u] = k
		}
	}
	return json.Marshal(map[string]any{"device_keys": dk, "master_keys": mk, "self_signing_keys": ssk,
		"user_signing_keys": usk, "failures": map[string]any{}})
}

func (s *Server) claim(body []byte) ([]byte, error) {
	var req struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	for u, ds := range req.OneTimeKeys {
		for id := range ds {
			d := s.devices[u][id]
			if d == nil {
				continue
			}
			var keyID string
			var key json.RawMessage
			if len(d.otks) > 0 {
				ids := make([]string, 0, len(d.otks))
				for k := range d.otks {
					ids = append(ids, k)
				}
				sort.Strings(ids)
				keyID, key = ids[0], d.otks[ids[0]]
				delete(d.otks, keyID)
				s.claimed[u+"|"+id+"|"+keyID] = true
			} else {
				for k, v := range d.fallback {
					keyID, key = k, v
				}
				if keyID == "" {
					continue
				}
				d.fbUsed = true
			}
			if out[u] == nil {
				out[u] = map[string]map[string]json.RawMessage{}
			}
			if s.TamperClaim != nil {
				key = s.TamperClaim(u, id, key)
			}
			out[u][id] = map[string]json.RawMessage{keyID: key}
		}
	}
	return json.Marshal(map[string]any{"one_time_keys": out, "failures": map[string]any{}})
}

func (s *Server) sendToDevice(user, deviceID, typ, txn string, body []byte) ([]byte, error) {
	key := user + "|" + deviceID + "|" + txn
	if s.txns[key] {
		return []byte("{}"), nil
	}
	s.txns[key] = true
	var req struct {
		Messages map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	for u, ds := range req.Messages {
		for id, content := range ds {
			targets := []string{id}
			if id == "*" {
				targets = nil
				for did := range s.devices[u] {
					targets = append(targets, did)
				}
			}
			for _, did := range targets {
				d := s.devices[u][did]
				if d == nil {
					continue
				}
				ev, _ := json.Marshal(map[string]any{"type": typ, "sender": user, "content": content})
				evs := []json.RawMessage{ev}
				if s.Tamper != nil {
					evs = s.Tamper(u, did, ev)
				}
				d.inbox = append(d.inbox, evs...)
			}
		}
	}
	return []byte("{}"), nil
}

// Inject delivers a raw to-device event to a device.
func (s *Server) Inject(user, deviceID string, ev json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dev(user, deviceID)
	d.inbox = append(d.inbox, ev)
}

// Sync returns what a /sync would carry for the device, and forgets the
// to-device events and device list changes it returns.
func (s *Server) Sync(user, deviceID string) machine.SyncChanges {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dev(user, deviceID)
	s.seq++
	sc := machine.SyncChanges{
		ToDevice:         d.inbox,
		OneTimeKeyCounts: map[string]int{"signed_curve25519": len(d.otks)},
		NextBatch:        fmt.Sprint("s", s.seq),
	}
	sc.UnusedFallbackKeyTypes = []string{}
	if len(d.fallback) > 0 && !d.fbUsed {
		sc.UnusedFallbackKeyTypes = []string{"signed_curve25519"}
	}
	for u := range d.changed {
		sc.Changed = append(sc.Changed, u)
	}
	sort.Strings(sc.Changed)
	d.inbox = nil
	d.changed = map[string]bool{}
	return sc
}

// Peek returns the events waiting for a device without removing them.
func (s *Server) Peek(user, deviceID string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.dev(user, deviceID).inbox...)
}

// OneTimeKeyCount returns how many one-time keys the server holds for a
// device.
func (s *Server) OneTimeKeyCount(user, deviceID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dev(user, deviceID).otks)
}

// DrainKeys removes every one-time and fallback key of a device, so that a
// claim finds nothing.
func (s *Server) DrainKeys(user, deviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dev(user, deviceID)
	d.otks = map[string]json.RawMessage{}
	d.fallback = map[string]json.RawMessage{}
}

// DrainOneTimeKeys removes the one-time keys of a device but keeps its
// fallback key.
func (s *Server) DrainOneTimeKeys(user, deviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dev(user, deviceID).otks = map[string]json.RawMessage{}
}

// FallbackUsed reports whether the device's fallback key was claimed.
func (s *Server) FallbackUsed(user, deviceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dev(user, deviceID).fbUsed
}
