package botkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/souverain/e2ee/sas"
)

// roomVerification passes an in-room verification event to the machine and
// sends its answers.
func (c *Client) roomVerification(ctx context.Context, roomID, typ string, content json.RawMessage, ev rawEvent) {
	out, err := c.Machine.ReceiveRoomVerificationEvent(ctx, sas.Event{
		Type: typ, Content: content, Sender: ev.Sender, RoomID: roomID, EventID: ev.EventID, OriginServerTS: ev.TS,
	})
	if err != nil {
		c.log.Info("verification event refused", "room", roomID, "type", typ, "err", err)
	}
	c.sendRoomVerification(ctx, out)
}

// sendRoomVerification sends in-room verification events, encrypted in an
// encrypted room.
func (c *Client) sendRoomVerification(ctx context.Context, evs []sas.Event) {
	for _, ev := range evs {
		var err error
		if enc, _ := c.Machine.IsRoomEncrypted(ctx, ev.RoomID); enc {
			_, err = c.SendEvent(ctx, ev.RoomID, ev.Type, ev.Content, "")
		} else {
			path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/%s/botkit.%d", url.PathEscape(ev.RoomID), url.PathEscape(ev.Type), c.txn.Add(1))
			err = c.do(ctx, "PUT", path, ev.Content, nil)
		}
		if err != nil {
			c.log.Warn("sending verification event", "room", ev.RoomID, "type", ev.Type, "err", err)
		}
	}
}

// send hands the events of a Verification call to the machine (to-device
// ones are queued) and sends the in-room ones.
func (c *Client) sendVerification(ctx context.Context, evs []sas.Event) error {
	room, err := c.Machine.SendVerificationEvents(ctx, evs)
	if err != nil {
		return err
	}
	c.sendRoomVerification(ctx, room)
	return c.flush(ctx)
}

// RequestVerification starts a to-device SAS verification with devices of
// a user; the flow goes on in later syncs (the bot starts SAS once the other
// side is ready).
func (c *Client) RequestVerification(ctx context.Context, userID string, deviceIDs ...string) (*sas.Verification, error) {
	v, evs, err := c.Machine.Verifications().RequestToDevice(userID, deviceIDs...)
	if err != nil {
		return nil, err
	}
	return v, c.sendVerification(ctx, evs)
}

// verifications moves every verification on as far as the bot can: accept
// requests and starts, start SAS on our own requests once ready, log the
// emojis and confirm them if AutoConfirmSAS.
func (c *Client) verifications(ctx context.Context) {
	for _, v := range c.Machine.Verifications().Verifications() {
		st := v.State()
		if prev, ok := c.seen[v.FlowID()]; ok && prev == st {
			continue
		}
		c.seen[v.FlowID()] = st
		var evs []sas.Event
		var err error
		switch st {
		case sas.StateRequestReceived, sas.StateStartReceived:
			c.log.Info("verification requested", "user", v.OtherUser(), "device", v.OtherDevice(), "flow", v.FlowID())
			evs, err = v.Accept()
		case sas.StateReady:
			if v.WeRequested() {
				evs, err = v.StartSAS()
			}
		case sas.StateKeysExchanged:
			s, _, ok := v.ShortAuthString()
			if !ok {
				continue
			}
			var names []string
			for _, e := range s.Emojis() {
				names = append(names, e.Symbol+" "+e.Description)
			}
			c.log.Info("compare these emojis", "user", v.OtherUser(), "device", v.OtherDevice(), "emojis", strings.Join(names, ", "))
			if c.cfg.AutoConfirmSAS {
				evs, err = v.Confirm()
			} else {
				c.log.Warn("not confirming: start the bot with -auto-confirm-sas to confirm without a human (tests only)")
			}
		case sas.StateDone:
			res, _ := v.Result()
			c.log.Info("verification done", "user", res.UserID, "device", res.DeviceID, "device_key_verified", res.DeviceKey != nil, "master_key_verified", res.MasterKey != nil)
		case sas.StateCancelled:
			cn := v.Cancellation()
			c.log.Info("verification cancelled", "user", v.OtherUser(), "flow", v.FlowID(), "why", fmt.Sprint(cn))
		}
		if err != nil {
			c.log.Warn("verification", "flow", v.FlowID(), "state", st.String(), "err", err)
		}
		if len(evs) > 0 {
			if err := c.sendVerification(ctx, evs); err != nil {
				c.log.Warn("sending verification events", "err", err)
			}
		}
	}
}

// RequestVerificationInRoom starts an in-room verification with a user (the
// way Element verifies other users): the request is an m.room.message sent
// encrypted in the room; the flow goes on in later syncs.
func (c *Client) RequestVerificationInRoom(ctx context.Context, roomID, userID string) (*sas.Verification, error) {
	v, ev, err := c.Machine.Verifications().RequestInRoom(roomID, userID)
	if err != nil {
		return nil, err
	}
	id, err := c.SendEvent(ctx, roomID, ev.Type, ev.Content, "")
	if err != nil {
		return nil, err
	}
	return v, v.RequestSent(id)
}
