package mautrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/goolm"
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
// Megolm encryption (megolmEncryptLock per room) and decryption
// (megolmDecryptLock per session), key export (no lock) and signing (no
// lock), all at once. Under -race this proves the driver's locks where
// mautrix-go's do not reach; every message must also decrypt.
func TestOlmMachineConcurrentUse(t *testing.T) {
	souverain.Register()
	t.Cleanup(goolm.Register) // other tests call the drivers' constructors directly
	ctx := context.Background()

	// The homeserver: only key upload, which ShareKeys calls; it reports 45
	// keys on the server, so each ShareKeys makes and uploads 5.
	var uploads sync.Mutex
	uploaded := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/_matrix/client/v3/keys/upload" {
			http.NotFound(w, r)
			return
		}
		var req mautrix.ReqUploadKeys
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		uploads.Lock()
		uploaded += len(req.OneTimeKeys)
		uploads.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"one_time_key_counts":{"signed_curve25519":45}}`)
	}))
	t.Cleanup(srv.Close)

	const alice, bob = id.UserID("@alice:example.org"), id.UserID("@bob:example.org")
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

	uploads.Lock()
	defer uploads.Unlock()
	require.Equal(t, 4*5, uploaded, "one-time keys uploaded")
}
