package mautrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/goolm"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	souverain "github.com/souverain/e2ee/contrib/mautrix"
)

// machineStateStore says every room is encrypted and rotates Megolm
// sessions only after many messages.
type machineStateStore struct{}

func (machineStateStore) IsEncrypted(context.Context, id.RoomID) (bool, error) { return true, nil }

func (machineStateStore) GetEncryptionEvent(context.Context, id.RoomID) (*event.EncryptionEventContent, error) {
	return &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1, RotationPeriodMessages: 1000}, nil
}

func (machineStateStore) GetHistoryVisibility(context.Context, id.RoomID) (*event.HistoryVisibilityEventContent, error) {
	return &event.HistoryVisibilityEventContent{HistoryVisibility: event.HistoryVisibilityShared}, nil
}

func (machineStateStore) FindSharedRooms(context.Context, id.UserID) ([]id.RoomID, error) {
	return nil, nil
}

// newMachine makes an OlmMachine on an in-memory store, whose objects stay
// shared between calls (mautrix-go's SQL store unpickles new ones), talking
// to the homeserver at url.
func newMachine(t *testing.T, url string, user id.UserID, device id.DeviceID) *crypto.OlmMachine {
	t.Helper()
	client, err := mautrix.NewClient(url, user, "token")
	require.NoError(t, err)
	client.DeviceID = device
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel) // shown if the test fails
	mach := crypto.NewOlmMachine(client, &log, crypto.NewMemoryStore(nil), machineStateStore{})
	mach.DisableDecryptKeyFetching = true
	require.NoError(t, mach.Load(context.Background()))
	require.IsType(t, &souverain.Account{}, mach.GetAccount().Internal)
	mach.OwnIdentity() // fills the account's cached keys, which mautrix-go does not lock
	return mach
}

// A bot's OlmMachine on this driver, used from several goroutines as
// mautrix-go's sync loop and its callers do: room keys arriving by Olm
// pre-key messages (olmLock), one-time keys uploaded (otkUploadLock),
// to-device messages on new outbound Olm sessions (no lock, then olmLock),
// Megolm encryption (megolmEncryptLock per room) and decryption
// (megolmDecryptLock per session), key export (no lock) and signing (no
// lock), all at once. Under -race this proves the driver's locks where
// mautrix-go's do not reach; every message must also decrypt.
func TestOlmMachineConcurrentUse(t *testing.T) {
	souverain.Register()
	t.Cleanup(goolm.Register) // other tests call the drivers' constructors directly
	ctx := context.Background()

	const alice, bob, carol = id.UserID("@alice:example.org"), id.UserID("@bob:example.org"), id.UserID("@carol:example.org")
	hs := &homeserver{t: t, carol: carol, devices: map[id.DeviceID]*carolDevice{}}
	srv := httptest.NewServer(hs)
	t.Cleanup(srv.Close)

	am := newMachine(t, srv.URL, alice, "ALICE")
	bm := newMachine(t, srv.URL, bob, "BOBDEVICE")
	aliceID, bobID := am.OwnIdentity(), bm.OwnIdentity()
	require.NoError(t, bm.CryptoStore.PutDevices(ctx, alice, map[id.DeviceID]*id.Device{"ALICE": aliceID}))

	// Alice has one Megolm session per room and sends each room's key to
	// Bob in an Olm pre-key message through one of his one-time keys.
	const rooms, perRoom = 4, 8
	bobAccount := bm.GetAccount().Internal
	require.NoError(t, bobAccount.GenOneTimeKeys(rooms))
	otks, err := bobAccount.OneTimeKeys()
	require.NoError(t, err)
	bobAccount.MarkKeysAsPublished()
	var roomIDs []id.RoomID
	var sessionIDs []id.SessionID
	var roomKeys []*event.Event
	for _, otk := range otks {
		roomID := id.RoomID(fmt.Sprintf("!room%d:example.org", len(roomIDs)))
		ogs, err := crypto.NewOutboundGroupSession(roomID, nil, nil)
		require.NoError(t, err)
		ogs.Shared = true
		require.NoError(t, am.CryptoStore.AddOutboundGroupSession(ctx, ogs))
		payload, err := json.Marshal(map[string]any{
			"type":           event.ToDeviceRoomKey.Type,
			"content":        ogs.ShareContent().Parsed,
			"sender":         alice,
			"keys":           map[string]any{"ed25519": aliceID.SigningKey},
			"recipient":      bob,
			"recipient_keys": map[string]any{"ed25519": bobID.SigningKey},
		})
		require.NoError(t, err)
		olmSession, err := am.GetAccount().Internal.NewOutboundSession(bobID.IdentityKey, otk)
		require.NoError(t, err)
		msgType, body, err := olmSession.Encrypt(payload)
		require.NoError(t, err)
		roomKeys = append(roomKeys, &event.Event{
			Type:   event.ToDeviceEncrypted,
			Sender: alice,
			Content: event.Content{Parsed: &event.EncryptedEventContent{
				Algorithm:     id.AlgorithmOlmV1,
				SenderKey:     aliceID.IdentityKey,
				OlmCiphertext: event.OlmCiphertexts{bobID.IdentityKey: {Body: string(body), Type: msgType}},
			}},
		})
		roomIDs = append(roomIDs, roomID)
		sessionIDs = append(sessionIDs, ogs.ID())
		if len(roomIDs) == rooms {
			break
		}
	}
	require.Len(t, roomIDs, rooms)

	// Carol's devices, to which Bob opens Olm sessions with one-time keys
	// claimed from the homeserver.
	const carols = 4
	var carolDevices []*id.Device
	for i := range carols {
		d := newCarolDevice(t, carol, id.DeviceID(fmt.Sprintf("CAROL%d", i)))
		hs.devices[d.device.DeviceID] = d
		carolDevices = append(carolDevices, d.device)
	}

	type sent struct {
		evt  *event.Event
		body string
	}
	messages := make(chan sent, rooms*perRoom)
	var decrypted atomic.Int32
	var wg sync.WaitGroup
	// The sync loop hands Bob the room keys, two to-device events at a time.
	for half := range 2 {
		wg.Go(func() {
			for i := half; i < rooms; i += 2 {
				bm.HandleEncryptedEvent(ctx, roomKeys[i]) // returns nil for the events it handles
				if s, err := bm.CryptoStore.GetGroupSession(ctx, roomIDs[i], sessionIDs[i]); err != nil || s == nil {
					t.Errorf("room key %d not stored: %v", i, err)
				}
			}
		})
	}
	// Bob sends to-device events to Carol's devices: new outbound Olm
	// sessions (no lock), then Olm encryption (olmLock).
	wg.Go(func() {
		for _, d := range carolDevices {
			if err := bm.SendEncryptedToDevice(ctx, d, event.ToDeviceDummy, event.Content{Parsed: &event.DummyEventContent{}}); err != nil {
				t.Errorf("send to %s: %v", d.DeviceID, err)
			}
		}
	})
	// Bob's key upload, as after a sync reporting a low one-time key count.
	wg.Go(func() {
		for range 4 {
			if err := bm.ShareKeys(ctx, 45); err != nil {
				t.Errorf("share keys: %v", err)
			}
		}
	})
	// Alice sends in every room at once.
	var sending sync.WaitGroup
	for r, roomID := range roomIDs {
		sending.Go(func() {
			for i := range perRoom {
				body := fmt.Sprintf("room %d message %d", r, i)
				enc, err := am.EncryptMegolmEvent(ctx, roomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": body})
				if err != nil {
					t.Errorf("encrypt %q: %v", body, err)
					continue
				}
				messages <- sent{&event.Event{
					Type:      event.EventEncrypted,
					ID:        id.EventID(fmt.Sprintf("$r%dm%d", r, i)),
					RoomID:    roomID,
					Sender:    alice,
					Timestamp: time.Now().UnixMilli(),
					Content:   event.Content{Parsed: enc},
				}, body}
			}
		})
	}
	wg.Go(func() {
		sending.Wait()
		close(messages)
	})
	// Bob decrypts them as they come, on two goroutines, waiting for a
	// room key that has not arrived yet as a client does.
	for range 2 {
		wg.Go(func() {
			for m := range messages {
				enc := m.evt.Content.Parsed.(*event.EncryptedEventContent)
				if !bm.WaitForSession(ctx, m.evt.RoomID, enc.SenderKey, enc.SessionID, 30*time.Second) {
					t.Errorf("%q: room key never arrived", m.body)
					continue
				}
				dec, err := bm.DecryptMegolmEvent(ctx, m.evt)
				if err != nil {
					t.Errorf("decrypt %q: %v", m.body, err)
					continue
				}
				if got := dec.Content.Raw["body"]; got != m.body {
					t.Errorf("decrypted %q, want %q", got, m.body)
				}
				decrypted.Add(1)
			}
		})
	}
	// Key export (as also key requests and backup do: Export outside the
	// decrypt lock) of the sessions received so far.
	wg.Go(func() {
		if !bm.WaitForSession(ctx, roomIDs[0], aliceID.IdentityKey, sessionIDs[0], 30*time.Second) {
			t.Errorf("room key 0 never arrived")
		}
		for range 2 {
			var sessions []*crypto.InboundGroupSession
			for i, roomID := range roomIDs {
				if s, err := bm.CryptoStore.GetGroupSession(ctx, roomID, sessionIDs[i]); err == nil && s != nil {
					sessions = append(sessions, s)
				}
			}
			if _, err := crypto.ExportKeys("passphrase", sessions); err != nil {
				t.Errorf("export keys: %v", err)
			}
		}
	})
	// Signing with the device key, as cross-signing does.
	wg.Go(func() {
		for i := range 10 {
			if _, err := bm.GetAccount().SignJSON(map[string]any{"n": i}); err != nil {
				t.Errorf("sign: %v", err)
			}
		}
	})
	wg.Wait()
	require.EqualValues(t, rooms*perRoom, decrypted.Load(), "messages decrypted")

	hs.mu.Lock()
	defer hs.mu.Unlock()
	require.Equal(t, 4*5, hs.uploaded, "one-time keys uploaded")
	require.Equal(t, carols, hs.received, "to-device events Carol's devices decrypted")
}

// carolDevice is a device of the homeserver's third user: an account, its
// device keys and one signed one-time key to be claimed.
type carolDevice struct {
	account *souverain.Account
	device  *id.Device
	otk     mautrix.OneTimeKey
}

func newCarolDevice(t *testing.T, user id.UserID, device id.DeviceID) *carolDevice {
	t.Helper()
	acc := newAccount(t)
	signing, identity, err := acc.IdentityKeys()
	require.NoError(t, err)
	otk := mautrix.OneTimeKey{Key: firstOneTimeKey(t, acc), IsSigned: true}
	sig, err := (&crypto.OlmAccount{Internal: acc}).SignJSON(&otk)
	require.NoError(t, err)
	otk.Signatures = signatures.NewSingleSignature(user, id.KeyAlgorithmEd25519, device.String(), sig)
	acc.MarkKeysAsPublished()
	return &carolDevice{
		account: acc,
		device:  &id.Device{UserID: user, DeviceID: device, IdentityKey: identity, SigningKey: signing},
		otk:     otk,
	}
}

// homeserver answers the three endpoints the test's machines call: key
// upload (45 keys on the server, so each ShareKeys makes and uploads 5),
// one-time key claims for Carol's devices, and to-device messages to them,
// which it decrypts with their accounts.
type homeserver struct {
	t       *testing.T
	carol   id.UserID
	devices map[id.DeviceID]*carolDevice // filled before the server is used

	mu       sync.Mutex
	uploaded int // one-time keys
	received int // to-device events decrypted
}

func (hs *homeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var resp any
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/_matrix/client/v3/keys/upload":
		var req mautrix.ReqUploadKeys
		if !decode(w, r, &req) {
			return
		}
		hs.mu.Lock()
		hs.uploaded += len(req.OneTimeKeys)
		hs.mu.Unlock()
		resp = map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": 45}}
	case r.Method == http.MethodPost && r.URL.Path == "/_matrix/client/v3/keys/claim":
		var req mautrix.ReqClaimKeys
		if !decode(w, r, &req) {
			return
		}
		keys := map[id.DeviceID]map[id.KeyID]mautrix.OneTimeKey{}
		for device := range req.OneTimeKeys[hs.carol] {
			if d := hs.devices[device]; d != nil {
				keys[device] = map[id.KeyID]mautrix.OneTimeKey{id.NewKeyID(id.KeyAlgorithmSignedCurve25519, "AAAAAQ"): d.otk}
			}
		}
		resp = mautrix.RespClaimKeys{OneTimeKeys: map[id.UserID]map[id.DeviceID]map[id.KeyID]mautrix.OneTimeKey{hs.carol: keys}}
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_matrix/client/v3/sendToDevice/m.room.encrypted/"):
		var req struct {
			Messages map[id.UserID]map[id.DeviceID]event.EncryptedEventContent `json:"messages"`
		}
		if !decode(w, r, &req) {
			return
		}
		for device, content := range req.Messages[hs.carol] {
			hs.receive(hs.devices[device], &content)
		}
		resp = struct{}{}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// receive decrypts a to-device event at one of Carol's devices.
func (hs *homeserver) receive(d *carolDevice, content *event.EncryptedEventContent) {
	if d == nil {
		hs.t.Errorf("to-device event for an unknown device")
		return
	}
	ct, ok := content.OlmCiphertext[d.device.IdentityKey]
	if !ok || ct.Type != id.OlmMsgTypePreKey {
		hs.t.Errorf("%s: no pre-key message for its key", d.device.DeviceID)
		return
	}
	s, err := d.account.NewInboundSessionFrom(&content.SenderKey, ct.Body)
	if err != nil {
		hs.t.Errorf("%s: new inbound session: %v", d.device.DeviceID, err)
		return
	}
	pt, err := s.Decrypt(ct.Body, ct.Type)
	if err != nil {
		hs.t.Errorf("%s: decrypt: %v", d.device.DeviceID, err)
		return
	}
	var payload struct {
		Type      string    `json:"type"`
		Recipient id.UserID `json:"recipient"`
	}
	if err := json.Unmarshal(pt, &payload); err != nil || payload.Type != event.ToDeviceDummy.Type || payload.Recipient != hs.carol {
		hs.t.Errorf("%s: payload %s: %v", d.device.DeviceID, pt, err)
		return
	}
	hs.mu.Lock()
	hs.received++
	hs.mu.Unlock()
}
