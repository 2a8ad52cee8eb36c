package botkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// KeyWait is how long an event that failed for want of its room key waits
// for the key before OnFailure is called.
const KeyWait = 30 * time.Second

type rawEvent struct {
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	EventID  string          `json:"event_id"`
	StateKey *string         `json:"state_key"`
	TS       int64           `json:"origin_server_ts"`
	Content  json.RawMessage `json:"content"`
}

type syncResponse struct {
	NextBatch string `json:"next_batch"`
	ToDevice  struct {
		Events []json.RawMessage `json:"events"`
	} `json:"to_device"`
	DeviceLists struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"device_lists"`
	OneTimeKeyCounts       map[string]int `json:"device_one_time_keys_count"`
	UnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types"`
	UnstableFallback       []string       `json:"org.matrix.msc2732.device_unused_fallback_key_types"`
	Rooms                  struct {
		Join map[string]struct {
			State struct {
				Events []json.RawMessage `json:"events"`
			} `json:"state"`
			Timeline struct {
				Events  []json.RawMessage `json:"events"`
				Limited bool              `json:"limited"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]json.RawMessage `json:"invite"`
	} `json:"rooms"`
}

// syncState is the bot's own progress, saved after a whole batch was
// handled (the machine saves its own token earlier, with the to-device
// part): after a crash the bot handles the batch again, and the echoes it
// sends again carry the same transaction IDs.
type syncState struct {
	NextBatch string `json:"next_batch"`
}

func (c *Client) syncPath() string { return filepath.Join(c.cfg.StoreDir, "sync.json") }

func (c *Client) loadSync() syncState {
	var s syncState
	if b, err := os.ReadFile(c.syncPath()); err == nil {
		json.Unmarshal(b, &s)
	}
	return s
}

// Run syncs until ctx is done, retrying after errors.
func (c *Client) Run(ctx context.Context) error {
	backoff := time.Second
	for ctx.Err() == nil {
		if err := c.SyncOnce(ctx, 30*time.Second); err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("sync failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
	}
	return ctx.Err()
}

// SyncOnce sends queued requests, runs one /sync and handles it.
func (c *Client) SyncOnce(ctx context.Context, timeout time.Duration) error {
	if err := c.flush(ctx); err != nil {
		return err
	}
	st := c.loadSync()
	q := url.Values{}
	q.Set("timeout", fmt.Sprint(timeout.Milliseconds()))
	q.Set("filter", `{"room":{"timeline":{"limit":100}}}`)
	if st.NextBatch != "" {
		q.Set("since", st.NextBatch)
	}
	var resp syncResponse
	if err := c.do(ctx, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp); err != nil {
		return err
	}
	fallback := resp.UnusedFallbackKeyTypes
	if fallback == nil {
		fallback = resp.UnstableFallback
	}
	res, err := c.Machine.ReceiveSync(ctx, machine.SyncChanges{
		ToDevice:               resp.ToDevice.Events,
		Changed:                resp.DeviceLists.Changed,
		Left:                   resp.DeviceLists.Left,
		OneTimeKeyCounts:       resp.OneTimeKeyCounts,
		UnusedFallbackKeyTypes: fallback,
		Refresh:                st.NextBatch == "",
		NextBatch:              resp.NextBatch,
	})
	if err != nil {
		return err
	}
	for _, n := range c.Machine.Notices() {
		c.log.Warn("machine notice", "user", n.UserID, "device", n.DeviceID, "err", n.Err)
	}
	for _, td := range res.ToDevice {
		if td.Err != nil {
			c.log.Info("to-device event refused", "type", td.Type, "sender", td.Sender, "err", td.Err)
		}
	}
	c.sendRoomVerification(ctx, res.VerificationRoomEvents)
	if err := c.flush(ctx); err != nil {
		return err
	}
	c.verifications(ctx, res.Verifications)

	for roomID := range resp.Rooms.Invite {
		if c.cfg.AutoJoin {
			if err := c.do(ctx, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", json.RawMessage(`{}`), nil); err != nil {
				c.log.Warn("join failed", "room", roomID, "err", err)
			} else {
				c.log.Info("joined", "room", roomID)
			}
		}
	}
	initial := st.NextBatch == ""
	for roomID, room := range resp.Rooms.Join {
		for _, raw := range room.State.Events {
			c.handleEvent(ctx, roomID, raw, true)
		}
		if room.Timeline.Limited && !initial {
			c.log.Warn("timeline gap: events were skipped", "room", roomID)
		}
		for _, raw := range room.Timeline.Events {
			c.handleEvent(ctx, roomID, raw, initial)
		}
	}
	for _, r := range res.Retry {
		c.retry(ctx, r.RoomID, r.EventID)
	}
	c.expirePending(ctx)
	if err := c.flush(ctx); err != nil {
		return err
	}
	b, _ := json.Marshal(syncState{NextBatch: resp.NextBatch})
	return writeFileAtomic(c.syncPath(), b)
}

// handleEvent handles one room event; history means it is from before the
// bot's first sync and is not answered.
func (c *Client) handleEvent(ctx context.Context, roomID string, raw json.RawMessage, history bool) {
	var ev rawEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return
	}
	if ev.StateKey != nil {
		switch ev.Type {
		case "m.room.encryption":
			if err := c.Machine.SetRoomEncryption(ctx, roomID, ev.Content); err != nil {
				c.log.Warn("m.room.encryption refused", "room", roomID, "err", err)
			}
		case "m.room.history_visibility":
			var hv struct {
				V string `json:"history_visibility"`
			}
			json.Unmarshal(ev.Content, &hv)
			c.Machine.SetRoomHistoryVisibility(ctx, roomID, hv.V)
		case "m.room.member":
			var mem struct {
				Membership string `json:"membership"`
			}
			json.Unmarshal(ev.Content, &mem)
			if mem.Membership == "join" || mem.Membership == "invite" {
				c.Machine.UpdateTrackedUsers(ctx, []string{*ev.StateKey})
			}
		}
		return
	}
	switch {
	case ev.Type == "m.room.encrypted":
		if ev.Sender == c.sess.UserID {
			return // our own messages (and our other devices')
		}
		c.decrypt(ctx, roomID, raw, ev, history)
	case strings.HasPrefix(ev.Type, "m.key.verification."):
		c.roomVerification(ctx, roomID, ev.Type, ev.Content, ev)
	}
}

func (c *Client) decrypt(ctx context.Context, roomID string, raw json.RawMessage, ev rawEvent, history bool) {
	d, err := c.Machine.DecryptRoomEvent(ctx, roomID, raw)
	if err != nil {
		if errors.Is(err, machine.ErrNoSession) || errors.Is(err, machine.ErrUnknownIndex) {
			c.log.Info("waiting for room key", "room", roomID, "event", ev.EventID, "err", err)
			c.pmu.Lock()
			c.pending[ev.EventID] = pendingEvent{roomID: roomID, since: time.Now(), err: err}
			c.pmu.Unlock()
			return
		}
		c.fail(ctx, roomID, ev.EventID, err)
		return
	}
	c.pmu.Lock()
	delete(c.pending, ev.EventID)
	c.pmu.Unlock()
	c.dispatch(ctx, roomID, d, history)
}

type pendingEvent struct {
	roomID string
	since  time.Time
	err    error
}

func (c *Client) fail(ctx context.Context, roomID, eventID string, err error) {
	c.log.Warn("decryption failed", "room", roomID, "event", eventID, "err", err)
	if c.cfg.OnFailure != nil {
		c.cfg.OnFailure(ctx, c, roomID, eventID, err)
	}
}

func (c *Client) expirePending(ctx context.Context) {
	c.pmu.Lock()
	var late []string
	for id, p := range c.pending {
		if time.Since(p.since) > KeyWait {
			late = append(late, id)
		}
	}
	c.pmu.Unlock()
	for _, id := range late {
		c.pmu.Lock()
		p := c.pending[id]
		delete(c.pending, id)
		c.pmu.Unlock()
		c.fail(ctx, p.roomID, id, p.err)
	}
}

// Pending returns how many events wait for their room key.
func (c *Client) Pending() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return len(c.pending)
}

// retry fetches an event again and decrypts it, now that its key arrived.
func (c *Client) retry(ctx context.Context, roomID, eventID string) {
	raw, err := c.doRaw(ctx, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/event/"+url.PathEscape(eventID), nil, nil)
	if err != nil {
		c.log.Warn("fetching event to retry", "event", eventID, "err", err)
		return
	}
	var ev rawEvent
	json.Unmarshal(raw, &ev)
	c.log.Info("retrying event", "room", roomID, "event", eventID)
	c.decrypt(ctx, roomID, raw, ev, false)
}

func (c *Client) dispatch(ctx context.Context, roomID string, d *machine.DecryptedEvent, history bool) {
	if strings.HasPrefix(d.Type, "m.key.verification.") {
		c.roomVerification(ctx, roomID, d.Type, d.Content, rawEvent{Sender: d.Sender, EventID: d.EventID, TS: d.Timestamp})
		return
	}
	if d.Type != "m.room.message" {
		return
	}
	var msg struct {
		MsgType string `json:"msgtype"`
		Body    string `json:"body"`
	}
	json.Unmarshal(d.Content, &msg)
	if msg.MsgType == sas.EventRequest {
		c.roomVerification(ctx, roomID, d.Type, d.Content, rawEvent{Sender: d.Sender, EventID: d.EventID, TS: d.Timestamp})
		return
	}
	c.log.Info("decrypted", "room", roomID, "sender", d.Sender, "event", d.EventID, "msgtype", msg.MsgType,
		"device_trust", d.Verification.String(), "key", string(d.Provenance))
	if history || c.cfg.OnMessage == nil {
		return
	}
	c.cfg.OnMessage(ctx, c, Message{RoomID: roomID, Sender: d.Sender, EventID: d.EventID, MsgType: msg.MsgType, Body: msg.Body, Event: d})
}
