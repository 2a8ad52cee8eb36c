package keybackup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// roomKey is one Megolm session as a test client holds it: the outbound
// side, the inbound copy, and a message encrypted at index 0.
type roomKey struct {
	out     *megolm.GroupSession
	in      *megolm.InboundGroupSession
	message []byte
	text    string
}

func newRoomKey(t testing.TB, text string) roomKey {
	t.Helper()
	out, err := megolm.NewGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	in, err := megolm.NewInboundGroupSession(out.SessionKey())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := out.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return roomKey{out, in, msg, text}
}

var (
	testSenderKey, _ = olm.ParseCurve25519PublicKey("DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA")
	testClaimed, _   = olm.ParseEd25519PublicKey("SSdt6PT0W2BGpeSCdT2gNrIxOuBwMSTtPFFLDaIX3EI")
)

func (r roomKey) backedUp() *keybackup.BackedUpSession {
	return keybackup.NewBackedUpSession(r.in, testSenderKey, testClaimed, nil)
}

// checkDecrypts checks that s reads r's message, that its signature is not
// checked before and is after, and that its provenance is want before and
// after: a message of the session's own never raises it.
func (r roomKey) checkDecrypts(t testing.TB, s *megolm.InboundGroupSession, want megolm.Provenance) {
	t.Helper()
	if s.SignatureChecked() {
		t.Fatal("restored session has its signature checked")
	}
	if s.Provenance() != want {
		t.Fatalf("provenance %v, want %v", s.Provenance(), want)
	}
	defer func() {
		if s.Provenance() != want {
			t.Fatalf("provenance %v after a message, want %v", s.Provenance(), want)
		}
		if !s.SignatureChecked() {
			t.Fatal("signature not checked after a message")
		}
	}()
	if s.SessionID() != r.out.SessionID() {
		t.Fatalf("session ID %s, want %s", s.SessionID(), r.out.SessionID())
	}
	pt, idx, err := s.Decrypt(r.message)
	if err != nil || string(pt) != r.text || idx != 0 {
		t.Fatalf("Decrypt = %q, %d, %v", pt, idx, err)
	}
}

func TestBackupMegolmRoundTrip(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	r := newRoomKey(t, "hello room")
	s := r.backedUp()
	if s.SenderKey != testSenderKey || s.SenderClaimedKeys["ed25519"] != testClaimed.String() {
		t.Fatalf("sender fields %+v", s)
	}
	d, err := bk.PublicKey().EncryptSession(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bk.DecryptSession(d)
	if err != nil {
		t.Fatal(err)
	}
	igs, err := got.InboundGroupSession()
	if err != nil {
		t.Fatal(err)
	}
	r.checkDecrypts(t, igs, megolm.ProvenanceBackup)

	// A session that has moved on is backed up from its first known
	// index.
	later := newRoomKey(t, "x")
	later.out.Encrypt([]byte("y"))
	in2, _ := megolm.NewInboundGroupSession(later.out.SessionKey())
	b2 := keybackup.NewBackedUpSession(in2, testSenderKey, testClaimed, []string{"fwd"})
	igs2, err := b2.InboundGroupSession()
	if err != nil || igs2.FirstKnownIndex() != 2 || b2.ForwardingCurve25519KeyChain[0] != "fwd" {
		t.Fatalf("first known index %d, %v", igs2.FirstKnownIndex(), err)
	}
}

func TestInboundGroupSessionErrors(t *testing.T) {
	r := newRoomKey(t, "x")
	for name, edit := range map[string]func(*keybackup.BackedUpSession){
		"not base64":      func(s *keybackup.BackedUpSession) { s.SessionKey = "!!!!" },
		"signed form":     func(s *keybackup.BackedUpSession) { s.SessionKey = r.out.SessionKey().Encode() },
		"truncated":       func(s *keybackup.BackedUpSession) { s.SessionKey = s.SessionKey[:100] },
		"other algorithm": func(s *keybackup.BackedUpSession) { s.Algorithm = "m.megolm.v2.aes-sha2" },
	} {
		t.Run(name, func(t *testing.T) {
			s := r.backedUp()
			edit(s)
			_, err := s.InboundGroupSession()
			if !errors.Is(err, keybackup.ErrBadFormat) && !errors.Is(err, keybackup.ErrUnsupportedAlgorithm) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	e := keybackup.NewExportedSession("!r:x", r.in, testSenderKey, testClaimed, nil)
	if _, err := e.InboundGroupSession(); err != nil {
		t.Fatal(err)
	}
	e.SessionID = newRoomKey(t, "y").out.SessionID()
	if _, err := e.InboundGroupSession(); !errors.Is(err, keybackup.ErrBadFormat) {
		t.Fatalf("mismatched session ID: %v", err)
	}
}

func TestKeyExportMegolm(t *testing.T) {
	var keys []roomKey
	var sessions []keybackup.ExportedSession
	for i := range 3 {
		r := newRoomKey(t, "message "+string(rune('0'+i)))
		keys = append(keys, r)
		sessions = append(sessions, keybackup.NewExportedSession("!room:example.org", r.in, testSenderKey, testClaimed, nil))
	}
	file, err := keybackup.EncryptKeyExportWeak(sessions, "pass", 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keybackup.DecryptKeyExport(file, "pass")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		igs, err := e.InboundGroupSession()
		if err != nil {
			t.Fatal(err)
		}
		keys[i].checkDecrypts(t, igs, megolm.ProvenanceExport)
	}
}

// TestBackupCiphertextTampering: the v1 MAC does not cover the ciphertext,
// so this flips every byte of a real entry's ciphertext and follows each
// through DecryptAll and Megolm. A change is caught by padding, JSON,
// base64, length or session ID, or it leaves a session whose ratchet is
// wrong, which Megolm's MAC refuses, or it only changes an unauthenticated
// claim (sender fields). It never yields wrong plaintext.
func TestBackupCiphertextTampering(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	r := newRoomKey(t, "tamper test")
	entry, err := bk.PublicKey().NewBackupEntry("!r:x", r.out.SessionID(), r.backedUp(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := keybackup.ParseKeyBackupData(entry.Data)
	var entries []keybackup.BackupEntry
	for i := range d.SessionData.Ciphertext {
		for _, x := range []byte{0x01, 0x80} {
			sd := *d.SessionData
			sd.Ciphertext = bytes.Clone(sd.Ciphertext)
			sd.Ciphertext[i] ^= x
			kd := *d
			kd.SessionData = &sd
			data, _ := json.Marshal(&kd)
			entries = append(entries, keybackup.BackupEntry{RoomID: "!r:x", SessionID: r.out.SessionID(), Data: data})
		}
	}
	var caught, wrongRatchet, claimsOnly int
	for _, res := range bk.DecryptAll(context.Background(), entries, nil) {
		if res.Err != nil {
			if !errors.Is(res.Err, keybackup.ErrBadMAC) {
				t.Fatalf("err = %v", res.Err)
			}
			caught++
			continue
		}
		pt, _, err := res.Inbound.Decrypt(r.message)
		switch {
		case err != nil:
			wrongRatchet++
		case string(pt) != r.text:
			t.Fatalf("tampered backup gave wrong plaintext %q", pt)
		default:
			if res.Session.SessionKey == r.backedUp().SessionKey {
				claimsOnly++
			} else {
				t.Fatal("session key changed but decrypts")
			}
		}
	}
	t.Logf("%d tampered entries: %d refused at restore, %d restored with a ratchet Megolm refuses, %d with changed sender claims only",
		len(entries), caught, wrongRatchet, claimsOnly)
	if caught == 0 {
		t.Fatal("no tampering caught at restore")
	}
}
