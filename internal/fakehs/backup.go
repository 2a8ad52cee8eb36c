package fakehs

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// roomKeysPrefix starts the server-side key backup endpoints.
const roomKeysPrefix = "/_matrix/client/v3/room_keys/"

// ErrNoBackup is the error of the key backup endpoints when the user has no
// backup version (404 M_NOT_FOUND), and ErrWrongBackupVersion that of an
// upload to a version that is not the current one (403
// M_WRONG_ROOM_KEYS_VERSION).
var (
	ErrNoBackup           = &Error{Status: 404, ErrCode: "M_NOT_FOUND", Msg: "no backup version"}
	ErrWrongBackupVersion = &Error{Status: 403, ErrCode: "M_WRONG_ROOM_KEYS_VERSION", Msg: "not the current backup version"}
)

// backupVersion is one backup version of a user: its algorithm and
// auth_data as created, and its keys by room and session ID.
type backupVersion struct {
	version   string
	algorithm string
	authData  json.RawMessage
	keys      map[string]map[string]json.RawMessage
	etag      int
}

// backup serves the key backup endpoints the machine and Element use: POST
// and GET room_keys/version, PUT and GET room_keys/keys?version=….
func (s *Server) backup(user string, r string, method string, body []byte) ([]byte, error) {
	path, query, _ := strings.Cut(r, "?")
	switch {
	case path == roomKeysPrefix+"version" && method == "POST":
		var req struct {
			Algorithm string          `json:"algorithm"`
			AuthData  json.RawMessage `json:"auth_data"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Algorithm == "" || len(req.AuthData) == 0 {
			return nil, fmt.Errorf("fakehs: bad backup version %s", body)
		}
		s.backupSeq++
		v := &backupVersion{version: strconv.Itoa(s.backupSeq), algorithm: req.Algorithm, authData: req.AuthData,
			keys: map[string]map[string]json.RawMessage{}}
		s.backups[user] = append(s.backups[user], v)
		return json.Marshal(map[string]string{"version": v.version})
	case path == roomKeysPrefix+"version" && method == "GET":
		v := s.currentBackup(user)
		if v == nil {
			return nil, ErrNoBackup
		}
		n := 0
		for _, ss := range v.keys {
			n += len(ss)
		}
		return json.Marshal(map[string]any{"version": v.version, "algorithm": v.algorithm, "auth_data": v.authData,
			"count": n, "etag": strconv.Itoa(v.etag)})
	case path == roomKeysPrefix+"keys":
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, err
		}
		v := s.currentBackup(user)
		if v == nil {
			return nil, ErrNoBackup
		}
		if q.Get("version") != v.version {
			return nil, ErrWrongBackupVersion
		}
		switch method {
		case "PUT":
			return s.putBackupKeys(v, body)
		case "GET":
			return json.Marshal(map[string]any{"rooms": backupRooms(v)})
		}
	}
	return nil, fmt.Errorf("fakehs: no endpoint %s %s", method, r)
}

func (s *Server) currentBackup(user string) *backupVersion {
	vs := s.backups[user]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func backupRooms(v *backupVersion) map[string]any {
	rooms := map[string]any{}
	for room, ss := range v.keys {
		rooms[room] = map[string]any{"sessions": ss}
	}
	return rooms
}

// keyBackupData is what the server compares of two copies of a session.
type keyBackupData struct {
	FirstMessageIndex *int            `json:"first_message_index"`
	ForwardedCount    *int            `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// better reports whether a replaces b, as the specification says the
// server chooses: verified first, then the lower first message index, then
// the lower forwarded count.
func (a keyBackupData) better(b keyBackupData) bool {
	if *a.IsVerified != *b.IsVerified {
		return *a.IsVerified
	}
	if *a.FirstMessageIndex != *b.FirstMessageIndex {
		return *a.FirstMessageIndex < *b.FirstMessageIndex
	}
	return *a.ForwardedCount < *b.ForwardedCount
}

func (s *Server) putBackupKeys(v *backupVersion, body []byte) ([]byte, error) {
	var req struct {
		Rooms map[string]struct {
			Sessions map[string]json.RawMessage `json:"sessions"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	// Check everything before storing anything.
	for room, rs := range req.Rooms {
		for id, raw := range rs.Sessions {
			var d keyBackupData
			if err := json.Unmarshal(raw, &d); err != nil || d.FirstMessageIndex == nil || d.ForwardedCount == nil ||
				d.IsVerified == nil || len(d.SessionData) == 0 {
				return nil, fmt.Errorf("fakehs: bad backup of session %s in %s: %s", id, room, raw)
			}
		}
	}
	for room, rs := range req.Rooms {
		if v.keys[room] == nil {
			v.keys[room] = map[string]json.RawMessage{}
		}
		for id, raw := range rs.Sessions {
			if old, ok := v.keys[room][id]; ok {
				var a, b keyBackupData
				json.Unmarshal(raw, &a)
				json.Unmarshal(old, &b)
				if !a.better(b) {
					continue
				}
			}
			v.keys[room][id] = append(json.RawMessage(nil), raw...)
		}
	}
	v.etag++
	n := 0
	for _, ss := range v.keys {
		n += len(ss)
	}
	return json.Marshal(map[string]any{"etag": strconv.Itoa(v.etag), "count": n})
}
