package vectors

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/souverain/e2ee/dehydrated"
	"github.com/souverain/e2ee/internal/b64"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// The operations of the vodozemac-pickles and dehydrated-devices families.

func init() {
	for op, h := range map[string]func(native, json.RawMessage) (any, error){
		"vodozemac.account":    op(nativeVzAccount),
		"vodozemac.session":    op(nativeVzSession),
		"vodozemac.outbound":   op(nativeVzOutbound),
		"vodozemac.inbound":    op(nativeVzInbound),
		"dehydrated.rehydrate": op(nativeRehydrate),
	} {
		nativeOps[op] = h
	}
}

// vzPickle is the argument of the vodozemac operations: a pickle and its
// key (32 bytes of UTF-8), or the unencrypted JSON.
type vzPickle struct {
	Pickle    string          `json:"pickle"`
	PickleKey string          `json:"pickle_key"`
	JSON      json.RawMessage `json:"json"`
}

// open returns the pickle's JSON through decrypt, or the JSON as given.
func (p vzPickle) open(unpickle func(text string, key *[32]byte) error, parse func([]byte) error) error {
	switch {
	case p.Pickle != "" && len(p.JSON) == 0:
		if len(p.PickleKey) != 32 {
			return fmt.Errorf("%w: bad arguments: pickle_key is %d bytes, vodozemac's are 32", ErrFault, len(p.PickleKey))
		}
		return unpickle(p.Pickle, (*[32]byte)([]byte(p.PickleKey)))
	case p.Pickle == "" && len(p.JSON) > 0:
		return parse(p.JSON)
	default:
		return fmt.Errorf("%w: bad arguments: give pickle and pickle_key, or json", ErrFault)
	}
}

func nativeVzAccount(a struct {
	vzPickle
	Message hexBytes `json:"message_hex"`
}) (any, error) {
	var acc *olm.Account
	err := a.open(func(text string, key *[32]byte) (err error) {
		acc, err = olm.UnpickleVodozemacAccount(text, key)
		return err
	}, func(b []byte) (err error) {
		acc, err = olm.ParseVodozemacAccount(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	byID := acc.OneTimeKeys()
	ids := make([]olm.KeyID, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	otks := make([]string, len(ids))
	for i, id := range ids {
		otks[i] = byID[id].String()
	}
	res := map[string]any{
		"curve25519":    acc.Curve25519Key().String(),
		"ed25519":       acc.Ed25519Key().String(),
		"signature":     acc.Sign(a.Message).String(),
		"one_time_keys": otks,
	}
	if _, k, ok := acc.FallbackKey(); ok {
		res["fallback_key"] = k.String()
	}
	return res, nil
}

func nativeVzSession(a vzPickle) (any, error) {
	var s *olm.Session
	err := a.open(func(text string, key *[32]byte) (err error) {
		s, err = olm.UnpickleVodozemacSession(text, key)
		return err
	}, func(b []byte) (err error) {
		s, err = olm.ParseVodozemacSession(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"session_id": s.SessionID(), "has_received_message": s.HasReceivedMessage(), "version": s.Config().Version()}, nil
}

func nativeVzOutbound(a vzPickle) (any, error) {
	var s *megolm.GroupSession
	err := a.open(func(text string, key *[32]byte) (err error) {
		s, err = megolm.UnpickleVodozemacGroupSession(text, key)
		return err
	}, func(b []byte) (err error) {
		s, err = megolm.ParseVodozemacGroupSession(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"session_id": s.SessionID(), "message_index": s.MessageIndex(), "version": s.Config().Version()}, nil
}

func nativeVzInbound(a struct {
	vzPickle
	Message string `json:"message"`
}) (any, error) {
	var s *megolm.InboundGroupSession
	err := a.open(func(text string, key *[32]byte) (err error) {
		s, err = megolm.UnpickleVodozemacInboundGroupSession(text, key)
		return err
	}, func(b []byte) (err error) {
		s, err = megolm.ParseVodozemacInboundGroupSession(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"session_id": s.SessionID(), "first_known_index": s.FirstKnownIndex(), "version": s.Config().Version()}
	if a.Message != "" {
		m, err := b64.Decode(a.Message)
		if err != nil {
			return nil, fmt.Errorf("%w: bad arguments: message: %v", ErrFault, err)
		}
		pt, index, err := s.Decrypt(m)
		if err != nil {
			return nil, err
		}
		res["plaintext_hex"] = hexBytes(pt)
		res["message_index"] = index
	}
	return res, nil
}

func nativeRehydrate(a struct {
	Key        string            `json:"key"`
	UserID     string            `json:"user_id"`
	DeviceID   string            `json:"device_id"`
	DeviceData json.RawMessage   `json:"device_data"`
	Events     []json.RawMessage `json:"events"`
}) (any, error) {
	key, err := dehydrated.KeyFromSecret(a.Key)
	if err != nil {
		return nil, err
	}
	r, err := dehydrated.Rehydrate(key, a.UserID, a.DeviceID, a.DeviceData)
	if err != nil {
		return nil, err
	}
	got := r.ReceiveEvents(a.Events)
	if len(got.Failed) > 0 {
		return nil, got.Failed[0]
	}
	keys := make([]map[string]any, len(got.RoomKeys))
	for i, k := range got.RoomKeys {
		keys[i] = map[string]any{"room_id": k.RoomID, "session_id": k.SessionID, "sender": k.Sender, "sender_key": k.SenderKey.String()}
	}
	return map[string]any{
		"curve25519": r.Account().Curve25519Key().String(),
		"ed25519":    r.Account().Ed25519Key().String(),
		"room_keys":  keys,
	}, nil
}
