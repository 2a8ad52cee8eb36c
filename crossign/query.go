package crossign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/souverain/e2ee/internal/canonicaljson"
)

// MaxQueryResponseSize is the largest /keys/query response, in bytes, that
// ParseQueryResponse accepts. A device keys object is under 1 KiB, so this
// leaves room for tens of thousands of devices while bounding the memory
// a hostile server can make us spend.
const MaxQueryResponseSize = 64 << 20

// QueryResponse is a parsed response of POST /_matrix/client/v3/keys/query:
// the device keys and cross-signing keys of some users, each checked
// separately.
//
// The response as a whole must be well-formed JSON without duplicate member
// names in its structure; otherwise ParseQueryResponse fails. Each device
// keys object and each cross-signing key object is then parsed on its own
// (ParseDevice, ParseKey) and checked against the user and device it is
// listed under, so that one bad object makes only that entry unusable:
// Device and CrossSigningKey return its error. Members other than
// device_keys, master_keys, self_signing_keys and user_signing_keys (such
// as failures) are checked for syntax and otherwise ignored.
type QueryResponse struct {
	users map[string]*queryUser
}

type queryUser struct {
	devices map[string]*deviceEntry
	keys    map[Usage]*keyEntry
}

type deviceEntry struct {
	dev *Device
	err error
}

type keyEntry struct {
	key *Key
	err error
}

// jsonMember is one member of a JSON object, its value as raw JSON text.
type jsonMember struct {
	name  string
	value json.RawMessage
}

// objectMembers returns the members of the JSON object data, in order. It
// refuses anything but one object, and duplicate member names (compared
// after decoding escapes).
func objectMembers(data []byte) ([]jsonMember, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var out []jsonMember
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: member name is not a string", ErrMalformed)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: %w: %q", ErrMalformed, ErrDuplicateKey, name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		out = append(out, jsonMember{name, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrMalformed)
	}
	return out, nil
}

// ParseQueryResponse parses a /keys/query response body. The error wraps
// ErrMalformed (with ErrDuplicateKey where it applies) if data is larger
// than MaxQueryResponseSize, not valid UTF-8 and JSON, not an object, or if
// device_keys, a user's entry in it, or one of the cross-signing key maps
// is not an object. Problems inside one device or key object do not fail
// the parse; they are reported for that entry.
func ParseQueryResponse(data []byte) (*QueryResponse, error) {
	if len(data) > MaxQueryResponseSize {
		return nil, fmt.Errorf("crossign: parse query response: %w: %d bytes, limit %d", ErrMalformed, len(data), MaxQueryResponseSize)
	}
	// encoding/json replaces invalid UTF-8 with U+FFFD, which could make
	// two different names equal; refuse it instead.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("crossign: parse query response: %w: invalid UTF-8", ErrMalformed)
	}
	top, err := objectMembers(data)
	if err != nil {
		return nil, fmt.Errorf("crossign: parse query response: %w", err)
	}
	r := &QueryResponse{users: make(map[string]*queryUser)}
	for _, m := range top {
		switch m.name {
		case "device_keys":
			if err := r.parseDeviceKeys(m.value); err != nil {
				return nil, fmt.Errorf("crossign: parse query response: device_keys: %w", err)
			}
		case "master_keys":
			err = r.parseKeys(UsageMaster, m.value)
		case "self_signing_keys":
			err = r.parseKeys(UsageSelfSigning, m.value)
		case "user_signing_keys":
			err = r.parseKeys(UsageUserSigning, m.value)
		}
		if err != nil {
			return nil, fmt.Errorf("crossign: parse query response: %s: %w", m.name, err)
		}
	}
	return r, nil
}

func (r *QueryResponse) user(id string) *queryUser {
	u := r.users[id]
	if u == nil {
		u = &queryUser{devices: make(map[string]*deviceEntry), keys: make(map[Usage]*keyEntry)}
		r.users[id] = u
	}
	return u
}

func (r *QueryResponse) parseDeviceKeys(data []byte) error {
	users, err := objectMembers(data)
	if err != nil {
		return err
	}
	for _, um := range users {
		devices, err := objectMembers(um.value)
		if err != nil {
			return fmt.Errorf("%s: %w", um.name, err)
		}
		u := r.user(um.name)
		for _, dm := range devices {
			u.devices[dm.name] = parseDeviceEntry(um.name, dm.name, dm.value)
		}
	}
	return nil
}

// parseDeviceEntry parses the device listed as deviceID of userID.
func parseDeviceEntry(userID, deviceID string, data []byte) *deviceEntry {
	d, err := ParseDevice(data)
	switch {
	case err != nil:
	case d.UserID() != userID:
		err = fmt.Errorf("crossign: device %s of %s: %w: object names %s", deviceID, userID, ErrWrongUserID, d.UserID())
	case d.DeviceID() != deviceID:
		err = fmt.Errorf("crossign: device %s of %s: %w: object names %s", deviceID, userID, ErrWrongDeviceID, d.DeviceID())
	default:
		return &deviceEntry{dev: d}
	}
	return &deviceEntry{err: err}
}

func (r *QueryResponse) parseKeys(u Usage, data []byte) error {
	users, err := objectMembers(data)
	if err != nil {
		return err
	}
	for _, m := range users {
		r.user(m.name).keys[u] = parseKeyEntry(u, m.name, m.value)
	}
	return nil
}

// parseKeyEntry parses the key listed as userID's key of role u.
func parseKeyEntry(u Usage, userID string, data []byte) *keyEntry {
	k, err := ParseKey(data)
	switch {
	case err != nil:
	case k.UserID() != userID:
		err = fmt.Errorf("crossign: %s key of %s: %w: object names %s", u, userID, ErrWrongUserID, k.UserID())
	case k.Usage() != u:
		err = fmt.Errorf("crossign: %s key of %s: %w: object has usage %s", u, userID, ErrWrongUsage, k.Usage())
	default:
		return &keyEntry{key: k}
	}
	return &keyEntry{err: err}
}

// UserIDs returns, sorted, the users the response says anything about.
func (r *QueryResponse) UserIDs() []string {
	if r == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(r.users))
}

// DeviceIDs returns, sorted, the device IDs listed for userID, including
// those whose objects are invalid.
func (r *QueryResponse) DeviceIDs(userID string) []string {
	if r == nil {
		return nil
	}
	u := r.users[userID]
	if u == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(u.devices))
}

// Device returns the device keys listed as deviceID of userID. The error
// wraps ErrMissingKey if there is no such entry, or is the reason the entry
// is unusable (see ParseDevice), or wraps ErrWrongUserID or
// ErrWrongDeviceID if the object names another user or device.
func (r *QueryResponse) Device(userID, deviceID string) (*Device, error) {
	if r == nil {
		return nil, fmt.Errorf("crossign: device: %w: nil response", ErrNil)
	}
	u := r.users[userID]
	if u == nil || u.devices[deviceID] == nil {
		return nil, fmt.Errorf("crossign: %w: no device %s of %s in the response", ErrMissingKey, deviceID, userID)
	}
	e := u.devices[deviceID]
	return e.dev, e.err
}

// CrossSigningKey returns userID's cross-signing key of role u. The error
// wraps ErrMissingKey if the response has none, or is the reason the entry
// is unusable (see ParseKey), or wraps ErrWrongUserID or ErrWrongUsage if
// the object names another user or role.
func (r *QueryResponse) CrossSigningKey(userID string, u Usage) (*Key, error) {
	if r == nil {
		return nil, fmt.Errorf("crossign: cross-signing key: %w: nil response", ErrNil)
	}
	var e *keyEntry
	if user := r.users[userID]; user != nil {
		e = user.keys[u]
	}
	if e == nil {
		return nil, fmt.Errorf("crossign: %w: no %s key of %s in the response", ErrMissingKey, u, userID)
	}
	return e.key, e.err
}

// MarshalJSON returns the usable part of the response as canonical JSON:
// device_keys, master_keys, self_signing_keys and user_signing_keys with
// every entry that parsed, and nothing else. Parsing the result gives the
// same response minus its unusable entries, and encoding that again gives
// the same bytes.
func (r *QueryResponse) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	body := map[string]any{}
	devices := map[string]any{}
	keys := map[Usage]map[string]any{}
	for id, u := range r.users {
		ds := map[string]any{}
		for did, e := range u.devices {
			if e.dev != nil {
				ds[did] = json.RawMessage(e.dev.Bytes())
			}
		}
		if len(ds) > 0 {
			devices[id] = ds
		}
		for usage, e := range u.keys {
			if e.key == nil {
				continue
			}
			if keys[usage] == nil {
				keys[usage] = map[string]any{}
			}
			keys[usage][id] = json.RawMessage(e.key.Bytes())
		}
	}
	if len(devices) > 0 {
		body["device_keys"] = devices
	}
	for usage, m := range keys {
		body[string(usage)+"_keys"] = m
	}
	b, err := canonicaljson.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("crossign: encode query response: %w: %w", ErrMalformed, err)
	}
	return b, nil
}
