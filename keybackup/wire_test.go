package keybackup_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// wireGolden are sessions with their JSON as encoding/json wrote it when
// the types carried the wire tags (before MarshalJSON redacted them): the
// explicit encoders must write exactly these bytes.
var wireGolden = []struct {
	session keybackup.ExportedSession
	list    string
}{
	{
		keybackup.ExportedSession{BackedUpSession: keybackup.BackedUpSession{Algorithm: keybackup.MegolmAlgorithm, SenderKey: testSenderKey, SessionKey: "AQAAAAB<&>"}, RoomID: "!r<x>:example.org", SessionID: "sid&"},
		`[{"algorithm":"m.megolm.v1.aes-sha2","forwarding_curve25519_key_chain":[],"sender_claimed_keys":{},"sender_key":"DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA","session_key":"AQAAAAB\u003c\u0026\u003e","room_id":"!r\u003cx\u003e:example.org","session_id":"sid\u0026"}]`,
	},
	{
		keybackup.ExportedSession{BackedUpSession: keybackup.BackedUpSession{Algorithm: keybackup.MegolmAlgorithm, ForwardingCurve25519KeyChain: []string{"DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA", "x\u2028"}, SenderClaimedKeys: map[string]string{"ed25519": "SSdt6PT0W2BGpeSCdT2gNrIxOuBwMSTtPFFLDaIX3EI", "a": "b"}, SenderKey: testSenderKey, SessionKey: "AQAAAAB", SharedHistory: true}, RoomID: "!r:example.org", SessionID: "é"},
		`[{"algorithm":"m.megolm.v1.aes-sha2","forwarding_curve25519_key_chain":["DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA","x\u2028"],"sender_claimed_keys":{"a":"b","ed25519":"SSdt6PT0W2BGpeSCdT2gNrIxOuBwMSTtPFFLDaIX3EI"},"sender_key":"DeHIg4gwhClxzFYcmNntPNF9YtsdZbmMy8+3kzCMXHA","session_key":"AQAAAAB","shared_history":true,"room_id":"!r:example.org","session_id":"é"}]`,
	},
}

// TestWireFormUnchanged: MarshalKeyExport, ExportedSession.MarshalPlaintext
// and BackedUpSession.MarshalPlaintext write the bytes encoding/json wrote
// before, and the decoders read them back.
func TestWireFormUnchanged(t *testing.T) {
	var all []keybackup.ExportedSession
	want := "["
	for i, g := range wireGolden {
		got, err := keybackup.MarshalKeyExport([]keybackup.ExportedSession{g.session})
		if err != nil || string(got) != g.list {
			t.Errorf("%d: MarshalKeyExport = %s, %v\nwant %s", i, got, err, g.list)
		}
		one, err := g.session.MarshalPlaintext()
		if err != nil || "["+string(one)+"]" != g.list {
			t.Errorf("%d: ExportedSession.MarshalPlaintext = %s, %v", i, one, err)
		}
		// The backed-up form is the export form without the last two members.
		b, err := g.session.BackedUpSession.MarshalPlaintext()
		if err != nil || len(b) < 2 || string(one[:len(b)-1]) != string(b[:len(b)-1]) {
			t.Errorf("%d: BackedUpSession.MarshalPlaintext = %s, %v", i, b, err)
		}
		all = append(all, g.session)
		if i > 0 {
			want += ","
		}
		want += g.list[1 : len(g.list)-1]
	}
	want += "]"
	got, err := keybackup.MarshalKeyExport(all)
	if err != nil || string(got) != want {
		t.Errorf("MarshalKeyExport(all) = %s, %v\nwant %s", got, err, want)
	}
	if got, _ := keybackup.MarshalKeyExport([]keybackup.ExportedSession{}); string(got) != "[]" {
		t.Errorf("empty list: %s", got)
	}
	// Round trip through a file.
	file, err := keybackup.EncryptKeyExportRounds(all, "pass", keybackup.MinPBKDF2Iterations)
	if err != nil {
		t.Fatal(err)
	}
	back, err := keybackup.DecryptKeyExport(file, "pass")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := keybackup.MarshalKeyExport(back)
	if string(again) != want {
		t.Errorf("after a round trip: %s", again)
	}
}

// TestSenderKeyTyped: sender_key is an olm.Curve25519PublicKey, written as
// unpadded base64; text that is not such a key is refused on import.
func TestSenderKeyTyped(t *testing.T) {
	var s keybackup.BackedUpSession
	var _ olm.Curve25519PublicKey = s.SenderKey
	for _, bad := range []string{`"short"`, `"` + testSenderKey.String() + `AAAA"`, `"***"`} {
		list := strings.Replace(wireGolden[0].list, `"`+testSenderKey.String()+`"`, bad, 1)
		file, err := keybackup.EncryptKeyExportDataWith([]byte(list), "p", 10, [16]byte{1}, [16]byte{2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keybackup.DecryptKeyExport(file, "p"); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("sender_key %s: %v", bad, err)
		}
	}
	padded := strings.Replace(wireGolden[0].list, `"`+testSenderKey.String()+`"`, `"`+testSenderKey.String()+`="`, 1)
	file, _ := keybackup.EncryptKeyExportDataWith([]byte(padded), "p", 10, [16]byte{1}, [16]byte{2})
	got, err := keybackup.DecryptKeyExport(file, "p")
	if err != nil || got[0].SenderKey != testSenderKey {
		t.Fatalf("padded sender_key: %v", err)
	}
}
