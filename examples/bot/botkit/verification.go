package botkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/sas"
)

// roomVerification passes an in-room verification event to the machine,
// sends its answers and acts on what changed.
func (c *Client) roomVerification(ctx context.Context, roomID, typ string, content json.RawMessage, ev rawEvent) {
	upd, err := c.Machine.ReceiveRoomVerificationEvent(ctx, sas.Event{
		Type: typ, Content: content, Sender: ev.Sender, RoomID: roomID, EventID: ev.EventID, OriginServerTS: ev.TS,
	})
	if err != nil {
		c.log.Warn("verification event", "room", roomID, "type", typ, "err", err)
		return
	}
	if upd.Refused != nil {
		c.log.Info("verification event refused", "room", roomID, "type", typ, "err", upd.Refused)
	}
	c.sendRoomVerification(ctx, upd.RoomEvents)
	c.verifications(ctx, upd.Changes)
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

// sendVerification hands the events of a Verification call to the machine
// (to-device ones are queued, then sent), sends the in-room ones, and
// returns the changes the machine reports.
func (c *Client) sendVerification(ctx context.Context, evs []sas.Event) ([]machine.VerificationChange, error) {
	upd, err := c.Machine.SendVerificationEvents(ctx, evs)
	if err != nil {
		return nil, err
	}
	c.sendRoomVerification(ctx, upd.RoomEvents)
	return upd.Changes, c.flush(ctx)
}

// RequestVerification starts a to-device SAS verification with devices of
// a user; the flow goes on in later syncs (the bot starts SAS once the other
// side is ready).
func (c *Client) RequestVerification(ctx context.Context, userID string, deviceIDs ...string) (*sas.Verification, error) {
	v, evs, err := c.Machine.Verifications().RequestToDevice(userID, deviceIDs...)
	if err != nil {
		return nil, err
	}
	chs, err := c.sendVerification(ctx, evs)
	c.verifications(ctx, chs)
	return v, err
}

// verifications acts on the verifications the machine reports as changed:
// accept requests and starts, start SAS on our own requests once ready,
// log the emojis and confirm them if AutoConfirmSAS. The events of each act
// go to the machine, whose report of what they changed is acted on in turn.
func (c *Client) verifications(ctx context.Context, chs []machine.VerificationChange) {
	for len(chs) > 0 {
		ch := chs[0]
		chs = chs[1:]
		v := ch.Verification
		var evs []sas.Event
		var err error
		switch ch.Action {
		case machine.VerificationAcceptOrCancel:
			c.log.Info("verification requested", "user", ch.OtherUser, "device", ch.OtherDevice, "flow", ch.FlowID)
			evs, err = v.Accept()
		case machine.VerificationStartSAS:
			evs, err = v.StartSAS()
		case machine.VerificationCompare:
			var names []string
			for _, e := range ch.Emojis {
				names = append(names, e.Symbol+" "+e.Description)
			}
			c.log.Info("compare these emojis", "user", ch.OtherUser, "device", ch.OtherDevice, "emojis", strings.Join(names, ", "), "decimals", fmt.Sprint(ch.Decimals))
			if c.cfg.AutoConfirmSAS {
				evs, err = v.Confirm()
			} else {
				c.log.Warn("not confirming: start the bot with -auto-confirm-sas to confirm without a human (tests only)")
			}
		case machine.VerificationDone:
			r := ch.Result
			c.log.Info("verification done", "user", r.UserID, "device", r.DeviceID, "device_key_verified", r.DeviceKey != nil, "master_key_verified", r.MasterKey != nil)
		case machine.VerificationCancelled:
			c.log.Info("verification cancelled", "user", ch.OtherUser, "flow", ch.FlowID, "why", fmt.Sprint(ch.Cancellation))
		}
		if err != nil {
			c.log.Warn("verification", "flow", ch.FlowID, "state", ch.State.String(), "err", err)
		}
		if len(evs) > 0 {
			more, err := c.sendVerification(ctx, evs)
			if err != nil {
				c.log.Warn("sending verification events", "err", err)
			}
			chs = append(chs, more...)
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
