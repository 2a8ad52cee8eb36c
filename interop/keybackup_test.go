package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// Key backup (m.megolm_backup.v1.curve25519-aes-sha2) against libolm's PK
// encryption, and backups and key export files against Element's crypto
// stack (matrix-sdk-crypto-wasm, driven by element/backup.mjs).

// kbPayloads returns n random payloads of lengths 0 to 2047, with the
// block-size boundaries always included.
func kbPayloads(n int) [][]byte {
	out := [][]byte{{}, make([]byte, 15), make([]byte, 16), make([]byte, 17), make([]byte, 32)}
	for len(out) < n {
		var l [2]byte
		rand.Read(l[:])
		p := make([]byte, int(l[0])|int(l[1]&7)<<8)
		rand.Read(p)
		out = append(out, p)
	}
	return out
}

func kbSessionData(t *testing.T, m libolm.PkMessage) *keybackup.SessionData {
	t.Helper()
	text, _ := json.Marshal(map[string]string{"ciphertext": m.Ciphertext, "ephemeral": m.Ephemeral, "mac": m.MAC})
	d, err := keybackup.ParseSessionData(text)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func kbLibolmMessage(t *testing.T, d *keybackup.SessionData) libolm.PkMessage {
	t.Helper()
	text, _ := d.MarshalJSON()
	var f map[string]string
	json.Unmarshal(text, &f)
	return libolm.PkMessage{Ciphertext: f["ciphertext"], MAC: f["mac"], Ephemeral: f["ephemeral"]}
}

// TestBackupKeysMatchLibolm: the same 32 private bytes give the same
// public key in both implementations.
func TestBackupKeysMatchLibolm(t *testing.T) {
	for range 100 {
		dec, err := libolm.NewPkDecryptionRand()
		if err != nil {
			t.Fatal(err)
		}
		priv, _ := dec.PrivateKey()
		ours, err := keybackup.NewBackupKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if ours.PublicKey().String() != dec.PublicKey() {
			t.Fatalf("public key %s, libolm %s", ours.PublicKey(), dec.PublicKey())
		}
		dec.Free()
	}
}

// TestBackupLibolmToUs: libolm's olm_pk_encrypt, decrypted by us.
func TestBackupLibolmToUs(t *testing.T) {
	ours, _ := keybackup.GenerateBackupKey()
	for i, p := range kbPayloads(300) {
		m, err := libolm.PkEncryptRand(ours.PublicKey().String(), p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.Decrypt(kbSessionData(t, m))
		if err != nil {
			t.Fatalf("payload %d (%d bytes): %v", i, len(p), err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("payload %d: plaintext differs", i)
		}
	}
}

// TestBackupUsToLibolm: ours decrypted by libolm's olm_pk_decrypt.
func TestBackupUsToLibolm(t *testing.T) {
	dec, err := libolm.NewPkDecryptionRand()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Free()
	pub, err := keybackup.ParseBackupPublicKey(dec.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range kbPayloads(300) {
		d, err := pub.Encrypt(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Decrypt(kbLibolmMessage(t, d))
		if err != nil {
			t.Fatalf("payload %d (%d bytes): %v", i, len(p), err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("payload %d: plaintext differs", i)
		}
	}
}

// TestBackupMACQuirkBothWays: both implementations MAC the empty string
// (libolm's bug, kept by the spec). A MAC over the ciphertext, or a flipped
// MAC, is refused by both; a wrong key is refused by both.
func TestBackupMACQuirkBothWays(t *testing.T) {
	dec, _ := libolm.NewPkDecryptionRand()
	defer dec.Free()
	priv, _ := dec.PrivateKey()
	ours, _ := keybackup.NewBackupKey(priv)
	other, _ := keybackup.GenerateBackupKey()

	m, _ := libolm.PkEncryptRand(dec.PublicKey(), []byte(`{"session_key":"x"}`))
	d := kbSessionData(t, m)
	for bit := range 64 {
		e := *d
		e.MAC[bit/8] ^= 1 << (bit % 8)
		if _, err := ours.Decrypt(&e); !errors.Is(err, keybackup.ErrBadMAC) {
			t.Fatalf("bit %d: we accepted a flipped MAC", bit)
		}
		if _, err := dec.Decrypt(kbLibolmMessage(t, &e)); !errors.Is(err, libolm.ErrBadMessageMAC) {
			t.Fatalf("bit %d: libolm: %v", bit, err)
		}
	}
	if _, err := other.Decrypt(d); !errors.Is(err, keybackup.ErrBadMAC) {
		t.Fatalf("wrong key: %v", err)
	}
	// The MAC depends on the ephemeral key only, never on the ciphertext:
	// two libolm messages with the same ephemeral key (libolm's
	// deterministic call) carry the same MAC, and we accept one message's
	// ciphertext under the other's MAC, as libolm does.
	r := make([]byte, 32)
	rand.Read(r)
	m1, _ := libolm.PkEncrypt(dec.PublicKey(), []byte("one"), r)
	m2, _ := libolm.PkEncrypt(dec.PublicKey(), []byte("two, a longer message"), r)
	if m1.MAC != m2.MAC {
		t.Fatal("libolm's MAC depends on the ciphertext")
	}
	mixed := libolm.PkMessage{Ciphertext: m2.Ciphertext, MAC: m1.MAC, Ephemeral: m1.Ephemeral}
	if got, err := ours.Decrypt(kbSessionData(t, mixed)); err != nil || string(got) != "two, a longer message" {
		t.Fatalf("MAC quirk not reproduced: %q, %v", got, err)
	}
}

// kbNode runs element/backup.mjs in mode with req on stdin and decodes its
// answer into resp. It skips the test if node or the npm packages are
// missing.
func kbNode(t *testing.T, mode string, req, resp any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: skipping the Element interop test")
	}
	if _, err := os.Stat(filepath.Join("element", "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm")); err != nil {
		t.Skip("element/node_modules missing (run npm install in interop/element): skipping the Element interop test")
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "backup.mjs", mode)
	cmd.Dir = "element"
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node backup.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(out, resp); err != nil {
		t.Fatalf("node backup.mjs %s: answer %q: %v", mode, out, err)
	}
}

const kbRoom = "!backup:example.org"

// kbDecryptEvent decrypts the Megolm ciphertext of an m.room.encrypted
// content with s and returns the message body.
func kbDecryptEvent(t *testing.T, s *megolm.InboundGroupSession, content map[string]any) string {
	t.Helper()
	ct, err := base64.RawStdEncoding.DecodeString(content["ciphertext"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := s.Decrypt(ct)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		Type    string `json:"type"`
		RoomID  string `json:"room_id"`
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	}
	if err := json.Unmarshal(pt, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.RoomID != kbRoom || payload.Type != "m.room.message" {
		t.Fatalf("payload %s", pt)
	}
	return payload.Content.Body
}

// TestBackupElementWritesWeRestore: Element backs up its room key to our
// backup key; we restore the backup with DecryptAll and decrypt Element's
// messages with the restored session.
func TestBackupElementWritesWeRestore(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	messages := []string{"first message", "second message", "third, with ünïcödé"}
	var resp struct {
		RoomsBody  string           `json:"rooms_body"`
		Events     []map[string]any `json:"events"`
		Curve25519 string           `json:"curve25519"`
		Ed25519    string           `json:"ed25519"`
		RandomKey  struct {
			Private string `json:"private"`
			Public  string `json:"public"`
		} `json:"random_key"`
	}
	kbNode(t, "write", map[string]any{"backup_public_key": bk.PublicKey().String(), "room_id": kbRoom, "messages": messages}, &resp)

	entries, err := keybackup.ParseRoomKeys([]byte(resp.RoomsBody))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries", len(entries))
	}
	results := bk.DecryptAll(context.Background(), entries, nil)
	r := results[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.RoomID != kbRoom || r.Session.SenderKey.String() != resp.Curve25519 || r.Session.SenderClaimedKeys["ed25519"] != resp.Ed25519 {
		t.Fatalf("restored %v", r.Session)
	}
	if r.Inbound.IsVerified() {
		t.Fatal("restored session counts as verified")
	}
	for i, ev := range resp.Events {
		if got := kbDecryptEvent(t, r.Inbound, ev); got != messages[i] {
			t.Fatalf("message %d: %q", i, got)
		}
	}

	// A backup key Element made: same public key here.
	k, err := keybackup.ParseBackupKey(resp.RandomKey.Private)
	if err != nil {
		t.Fatal(err)
	}
	if k.PublicKey().String() != resp.RandomKey.Public {
		t.Fatalf("public key %s, Element %s", k.PublicKey(), resp.RandomKey.Public)
	}
	// And the wrong key restores nothing.
	other, _ := keybackup.GenerateBackupKey()
	if res := other.DecryptAll(context.Background(), entries, nil); !errors.Is(res[0].Err, keybackup.ErrBadMAC) {
		t.Fatalf("wrong key: %v", res[0].Err)
	}
}

// kbOutbound is a Megolm session of ours with messages encrypted as full
// m.room.encrypted events.
type kbOutbound struct {
	session *megolm.GroupSession
	inbound *megolm.InboundGroupSession
	device  *olm.Account
	events  []map[string]any
}

func kbNewOutbound(t *testing.T, messages []string) *kbOutbound {
	t.Helper()
	device, _ := olm.NewAccount()
	out, _ := megolm.NewGroupSession()
	in, _ := megolm.NewInboundGroupSession(out.SessionKey())
	o := &kbOutbound{session: out, inbound: in, device: device}
	for i, m := range messages {
		payload, _ := json.Marshal(map[string]any{
			"type": "m.room.message", "room_id": kbRoom,
			"content": map[string]any{"msgtype": "m.text", "body": m},
		})
		ct, err := out.Encrypt(payload)
		if err != nil {
			t.Fatal(err)
		}
		o.events = append(o.events, map[string]any{
			"type": "m.room.encrypted", "event_id": fmt.Sprintf("$event%d", i), "sender": "@alice:example.org",
			"origin_server_ts": 1700000000000 + i, "room_id": kbRoom,
			"content": map[string]any{
				"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": base64.RawStdEncoding.EncodeToString(ct),
				"sender_key": device.Curve25519Key().String(), "device_id": "SOUVERAIN", "session_id": out.SessionID(),
			},
		})
	}
	return o
}

// TestBackupWeWriteElementRestores: we back up a room key; Element
// decrypts the backup with its BackupDecryptionKey, imports the session
// and decrypts our messages.
func TestBackupWeWriteElementRestores(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	messages := []string{"hello from Go", "second", "third"}
	o := kbNewOutbound(t, messages)
	s := keybackup.NewBackedUpSession(o.inbound, o.device.Curve25519Key(), o.device.Ed25519Key(), nil)
	entry, err := bk.PublicKey().NewBackupEntry(kbRoom, o.session.SessionID(), s, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	// A second session in another room, which Element must restore too.
	o2 := kbNewOutbound(t, nil)
	entry2, _ := bk.PublicKey().NewBackupEntry("!other:example.org", o2.session.SessionID(),
		keybackup.NewBackedUpSession(o2.inbound, o2.device.Curve25519Key(), o2.device.Ed25519Key(), nil), 0, false)
	body, err := keybackup.MarshalRoomKeys([]keybackup.BackupEntry{entry, entry2})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Decrypted  []string `json:"decrypted_sessions"`
		Imported   int      `json:"imported"`
		Total      int      `json:"total"`
		Plaintexts []string `json:"plaintexts"`
	}
	kbNode(t, "read", map[string]any{
		"backup_private_key": bk.Encode(), "backup_public_key": bk.PublicKey().String(),
		"rooms_body": string(body), "room_id": kbRoom, "events": o.events,
	}, &resp)
	if resp.Imported != 2 || resp.Total != 2 {
		t.Fatalf("Element imported %d of %d", resp.Imported, resp.Total)
	}
	if fmt.Sprint(resp.Plaintexts) != fmt.Sprint(messages) {
		t.Fatalf("Element decrypted %q", resp.Plaintexts)
	}
}

// TestKeyExportElementWritesWeRead: Element exports its room keys; we read
// the file and decrypt its messages.
func TestKeyExportElementWritesWeRead(t *testing.T) {
	messages := []string{"exported one", "exported two"}
	var resp struct {
		File   string           `json:"file"`
		Events []map[string]any `json:"events"`
	}
	kbNode(t, "export-write", map[string]any{"passphrase": "a passphrase", "rounds": 1000, "room_id": kbRoom, "messages": messages}, &resp)
	sessions, err := keybackup.DecryptKeyExport([]byte(resp.File), "a passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].RoomID != kbRoom {
		t.Fatalf("sessions %v", sessions)
	}
	igs, err := sessions[0].InboundGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range resp.Events {
		if got := kbDecryptEvent(t, igs, ev); got != messages[i] {
			t.Fatalf("message %d: %q", i, got)
		}
	}
	if _, err := keybackup.DecryptKeyExport([]byte(resp.File), "another passphrase"); !errors.Is(err, keybackup.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// TestKeyExportWeWriteElementReads: we export a room key with the default
// 500 000 rounds; Element imports the file and decrypts our messages.
func TestKeyExportWeWriteElementReads(t *testing.T) {
	messages := []string{"from a Go export", "and another"}
	o := kbNewOutbound(t, messages)
	e := keybackup.NewExportedSession(kbRoom, o.inbound, o.device.Curve25519Key(), o.device.Ed25519Key(), nil)
	file, err := keybackup.EncryptKeyExport([]keybackup.ExportedSession{e}, "export passphrase")
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Imported   int      `json:"imported"`
		Total      int      `json:"total"`
		Plaintexts []string `json:"plaintexts"`
	}
	kbNode(t, "export-read", map[string]any{"passphrase": "export passphrase", "file": string(file), "room_id": kbRoom, "events": o.events}, &resp)
	if resp.Imported != 1 || resp.Total != 1 {
		t.Fatalf("Element imported %d of %d", resp.Imported, resp.Total)
	}
	if fmt.Sprint(resp.Plaintexts) != fmt.Sprint(messages) {
		t.Fatalf("Element decrypted %q", resp.Plaintexts)
	}
}
