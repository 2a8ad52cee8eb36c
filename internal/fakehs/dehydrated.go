package fakehs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// dehydratedPath is MSC3814's endpoint (unstable prefix).
const dehydratedPath = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// DefaultDehydratedPageSize is the number of events a dehydrated device's
// events endpoint returns at most, unless Server.DehydratedPageSize says
// otherwise.
const DefaultDehydratedPageSize = 100

// Error is an error response of the server: its HTTP status and Matrix
// error code.
type Error struct {
	Status  int
	ErrCode string
	Msg     string
}

// Error returns the status, code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("fakehs: %d %s: %s", e.Status, e.ErrCode, e.Msg)
}

// ErrNotFound and ErrForbidden are the errors of MSC3814's endpoints, for
// errors.Is: the user has no dehydrated device (404 M_NOT_FOUND), or the
// events of another device were asked for (403 M_FORBIDDEN).
var (
	ErrNotFound  = &Error{Status: 404, ErrCode: "M_NOT_FOUND", Msg: "no dehydrated device"}
	ErrForbidden = &Error{Status: 403, ErrCode: "M_FORBIDDEN", Msg: "not the dehydrated device"}
)

// Is reports whether target is an *Error with the same status and code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Status == e.Status && t.ErrCode == e.ErrCode
}

// dehydratedDevice is a user's dehydrated device: its ID and the
// device_data to return, as uploaded. Its keys and inbox are those of the
// device of that ID in Server.devices.
type dehydratedDevice struct {
	id   string
	data json.RawMessage
}

// putDehydrated serves PUT dehydrated_device: the device replaces the
// user's previous dehydrated device (which is deleted), and is registered
// with its keys as /keys/upload would, so that it is listed by /keys/query,
// its one-time keys are claimed and it gets to-device events.
func (s *Server) putDehydrated(user string, body []byte) ([]byte, error) {
	var req struct {
		DeviceID     string                     `json:"device_id"`
		DeviceData   json.RawMessage            `json:"device_data"`
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &Error{Status: 400, ErrCode: "M_BAD_JSON", Msg: err.Error()}
	}
	var dk struct {
		UserID     string `json:"user_id"`
		DeviceID   string `json:"device_id"`
		Dehydrated bool   `json:"dehydrated"`
	}
	if req.DeviceID == "" || len(req.DeviceData) == 0 || json.Unmarshal(req.DeviceKeys, &dk) != nil {
		return nil, &Error{Status: 400, ErrCode: "M_BAD_JSON", Msg: "device_id, device_data and device_keys are required"}
	}
	if dk.UserID != user || dk.DeviceID != req.DeviceID || !dk.Dehydrated {
		return nil, &Error{Status: 400, ErrCode: "M_INVALID_PARAM", Msg: "device_keys must be the user's, of device_id, with \"dehydrated\": true"}
	}
	if old := s.dehydrated[user]; old != nil {
		delete(s.devices[user], old.id)
	} else if s.devices[user][req.DeviceID] != nil {
		return nil, &Error{Status: 400, ErrCode: "M_INVALID_PARAM", Msg: "device ID in use"}
	}
	delete(s.devices[user], req.DeviceID)
	up, _ := json.Marshal(map[string]any{"device_keys": req.DeviceKeys, "one_time_keys": req.OneTimeKeys, "fallback_keys": req.FallbackKeys})
	if _, err := s.upload(user, req.DeviceID, up); err != nil {
		return nil, err
	}
	s.dehydrated[user] = &dehydratedDevice{id: req.DeviceID, data: req.DeviceData}
	s.changedLocked(user)
	return json.Marshal(map[string]string{"device_id": req.DeviceID})
}

// getDehydrated serves GET dehydrated_device.
func (s *Server) getDehydrated(user string) ([]byte, error) {
	dd := s.dehydrated[user]
	if dd == nil {
		return nil, ErrNotFound
	}
	return json.Marshal(map[string]any{"device_id": dd.id, "device_data": dd.data})
}

// deleteDehydrated serves DELETE dehydrated_device.
func (s *Server) deleteDehydrated(user string) ([]byte, error) {
	dd := s.dehydrated[user]
	if dd == nil {
		return nil, ErrNotFound
	}
	delete(s.dehydrated, user)
	delete(s.devices[user], dd.id)
	s.changedLocked(user)
	return json.Marshal(map[string]string{"device_id": dd.id})
}

// dehydratedEvents serves POST dehydrated_device/{id}/events. The
// next_batch token is the offset of the next event; as MSC3814 asks,
// events returned in earlier batches are not deleted, so a rehydration
// that was cut short can start again. Past the last event the response
// has no events and the same token.
func (s *Server) dehydratedEvents(user, id string, body []byte) ([]byte, error) {
	dd := s.dehydrated[user]
	if dd == nil || dd.id != id {
		return nil, ErrForbidden
	}
	var req struct {
		NextBatch string `json:"next_batch"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, &Error{Status: 400, ErrCode: "M_BAD_JSON", Msg: err.Error()}
		}
	}
	inbox := s.devices[user][id].inbox
	from := 0
	if req.NextBatch != "" {
		n, err := strconv.Atoi(req.NextBatch)
		if err != nil || n < 0 || n > len(inbox) {
			return nil, &Error{Status: 400, ErrCode: "M_INVALID_PARAM", Msg: "bad next_batch"}
		}
		from = n
	}
	size := s.DehydratedPageSize
	if size <= 0 {
		size = DefaultDehydratedPageSize
	}
	to := min(from+size, len(inbox))
	events := inbox[from:to]
	if events == nil {
		events = []json.RawMessage{}
	}
	return json.Marshal(map[string]any{"events": events, "next_batch": strconv.Itoa(to)})
}

// DehydratedDevice returns the ID of the user's dehydrated device and
// whether there is one.
func (s *Server) DehydratedDevice(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dd := s.dehydrated[user]
	if dd == nil {
		return "", false
	}
	return dd.id, true
}

// SetDehydratedDeviceData replaces the device_data GET dehydrated_device
// returns: what a malicious server could do.
func (s *Server) SetDehydratedDeviceData(user string, data json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dd := s.dehydrated[user]; dd != nil {
		dd.data = data
	}
}
