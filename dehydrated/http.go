package dehydrated

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// The bodies of the other MSC3814 requests, for callers that do the HTTP.

// DownloadedDevice is the body of the response to GET Path: the dehydrated device
// the homeserver holds for the user.
type DownloadedDevice struct {
	DeviceID   string          `json:"device_id"`
	DeviceData json.RawMessage `json:"device_data"`
}

// ParseDownloadedDevice decodes the response to GET Path. Errors wrap
// ErrBadDeviceData.
func ParseDownloadedDevice(body []byte) (*DownloadedDevice, error) {
	if len(body) > MaxDeviceDataSize {
		return nil, fmt.Errorf("dehydrated: device of %d bytes: %w", len(body), ErrBadDeviceData)
	}
	var d DownloadedDevice
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("dehydrated: device: %w: %v", ErrBadDeviceData, err)
	}
	if d.DeviceID == "" || len(d.DeviceData) == 0 {
		return nil, fmt.Errorf("dehydrated: device: no device_id or device_data: %w", ErrBadDeviceData)
	}
	return &d, nil
}

// EventsPath returns the path of POST …/dehydrated_device/{deviceID}/events,
// which returns the to-device events the device collected, a batch at a
// time. The device ID is escaped: those matrix-rust-sdk makes are base64
// and may hold '/'.
func EventsPath(deviceID string) string {
	return Path + "/" + url.PathEscape(deviceID) + "/events"
}

// EventsRequest returns the body of POST EventsPath: the next_batch token
// of the previous response, or an empty object for the first batch.
func EventsRequest(nextBatch string) []byte {
	if nextBatch == "" {
		return []byte("{}")
	}
	b, _ := json.Marshal(map[string]string{"next_batch": nextBatch})
	return b
}

// Events is the body of the response to POST EventsPath. An empty Events
// means the device has no more; NextBatch asks for the next batch.
type Events struct {
	Events    []json.RawMessage `json:"events"`
	NextBatch string            `json:"next_batch"`
}

// ParseEvents decodes the response to POST EventsPath. Errors wrap
// ErrBadEvent.
func ParseEvents(body []byte) (*Events, error) {
	var e Events
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("dehydrated: events: %w: %v", ErrBadEvent, err)
	}
	return &e, nil
}
