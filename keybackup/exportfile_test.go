package keybackup_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/keybackup"
)

// exportVector is a megolm-key-export-file vector of the conformance data
// (Element Web's MegolmExportEncryption test vectors).
type exportVector struct {
	id         string
	passphrase string
	file       string
	plaintext  string
	rounds     int
}

// loadExportVectors reads the vectors from the conformance data, a copy of
// the project's research file spec-vectors.json.
func loadExportVectors(t testing.TB) []exportVector {
	data, err := os.ReadFile("../vectors/data/spec.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			ID       string          `json:"id"`
			Kind     string          `json:"kind"`
			Inputs   json.RawMessage `json:"inputs"`
			Expected json.RawMessage `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var out []exportVector
	for _, v := range f.Vectors {
		if v.Kind != "megolm-key-export-file" {
			continue
		}
		var in struct {
			Passphrase string `json:"passphrase"`
			File       string `json:"file"`
		}
		var exp struct {
			Plaintext string `json:"plaintext_utf8"`
			Rounds    int    `json:"rounds"`
		}
		if err := json.Unmarshal(v.Inputs, &in); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(v.Expected, &exp); err != nil {
			t.Fatal(err)
		}
		out = append(out, exportVector{v.ID, in.Passphrase, in.File, exp.Plaintext, exp.Rounds})
	}
	if len(out) != 4 {
		t.Fatalf("%d key export vectors, want Element's 4", len(out))
	}
	return out
}

// exportBody returns the decoded body of an export file.
func exportBody(t testing.TB, file string) []byte {
	lines := strings.Split(strings.TrimSpace(file), "\n")
	b, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func armor(body []byte) string {
	return keybackup.ExportHeader + "\n" + base64.StdEncoding.EncodeToString(body) + "\n" + keybackup.ExportFooter + "\n"
}

// TestElementExportVectors decrypts Element's four files, the fourth of
// which needs WebCrypto's 64-bit counter (its IV is all ones).
func TestElementExportVectors(t *testing.T) {
	for _, v := range loadExportVectors(t) {
		t.Run(v.id, func(t *testing.T) {
			got, err := keybackup.DecryptKeyExportData([]byte(v.file), v.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.plaintext {
				t.Fatalf("plaintext %q, want %q", got, v.plaintext)
			}
			body := exportBody(t, v.file)
			if r := binary.BigEndian.Uint32(body[33:]); int(r) != v.rounds {
				t.Fatalf("rounds %d, want %d", r, v.rounds)
			}
			if _, err := keybackup.DecryptKeyExportData([]byte(v.file), v.passphrase+"x"); !errors.Is(err, keybackup.ErrWrongPassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
			// The writer, given the same salt and IV, writes the same body.
			again, err := keybackup.EncryptKeyExportDataWith([]byte(v.plaintext), v.passphrase, v.rounds, [16]byte(body[1:17]), [16]byte(body[17:33]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(exportBody(t, string(again)), body) {
				t.Fatal("re-encrypted body differs")
			}
		})
	}
}

// TestExportMustFail changes the vector files in every way a damaged or
// hostile file might be.
func TestExportMustFail(t *testing.T) {
	v := loadExportVectors(t)[1]
	body := exportBody(t, v.file)
	lines := strings.Split(strings.TrimSpace(v.file), "\n")
	withRounds := func(r uint32) string {
		b := bytes.Clone(body)
		binary.BigEndian.PutUint32(b[33:], r)
		return armor(b)
	}
	tests := []struct {
		name string
		file string
		want error
	}{
		{"empty", "", keybackup.ErrBadFormat},
		{"no header", strings.Join(lines[1:], "\n"), keybackup.ErrBadFormat},
		{"no footer", strings.Join(lines[:len(lines)-1], "\n"), keybackup.ErrBadFormat},
		{"text before header", "Keys:\n" + v.file, keybackup.ErrBadFormat},
		{"text after footer", v.file + "\nmore", keybackup.ErrBadFormat},
		{"only armor", keybackup.ExportHeader + "\n" + keybackup.ExportFooter, keybackup.ErrBadFormat},
		{"bad base64", keybackup.ExportHeader + "\n*" + lines[1][1:] + "\n" + strings.Join(lines[2:], "\n"), keybackup.ErrBadFormat},
		{"truncated body", armor(body[:68]), keybackup.ErrBadFormat},
		{"truncated to header", armor(body[:37]), keybackup.ErrBadFormat},
		{"last line cut, too short", strings.Join(append(append([]string{}, lines[:len(lines)-2]...), lines[len(lines)-1]), "\n"), keybackup.ErrBadFormat},
		{"body cut by one byte", armor(body[:len(body)-1]), keybackup.ErrWrongPassphrase},
		{"version 2", armor(append([]byte{2}, body[1:]...)), keybackup.ErrUnsupportedAlgorithm},
		{"version 0", armor(append([]byte{0}, body[1:]...)), keybackup.ErrUnsupportedAlgorithm},
		{"zero rounds", withRounds(0), keybackup.ErrIterations},
		{"2^31 rounds", withRounds(1 << 31), keybackup.ErrIterations},
		{"max+1 rounds", withRounds(keybackup.MaxPBKDF2Iterations + 1), keybackup.ErrIterations},
		{"rounds changed", withRounds(999), keybackup.ErrWrongPassphrase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keybackup.DecryptKeyExportData([]byte(tt.file), v.passphrase)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A longer file with its last base64 line cut: the MAC fails.
	v3 := loadExportVectors(t)[2]
	long := strings.Split(strings.TrimSpace(v3.file), "\n")
	cut := strings.Join(append(append([]string{}, long[:len(long)-2]...), long[len(long)-1]), "\n")
	if _, err := keybackup.DecryptKeyExportData([]byte(cut), v3.passphrase); !errors.Is(err, keybackup.ErrWrongPassphrase) {
		t.Fatalf("last line cut: %v", err)
	}
	// Every byte after the version and rounds, flipped, fails the MAC.
	for i := range body {
		if i == 0 || (i >= 33 && i < 37) {
			continue
		}
		b := bytes.Clone(body)
		b[i] ^= 0x01
		if _, err := keybackup.DecryptKeyExportData([]byte(armor(b)), v.passphrase); !errors.Is(err, keybackup.ErrWrongPassphrase) {
			t.Fatalf("byte %d: err = %v", i, err)
		}
	}
}

func TestExportArmorTolerance(t *testing.T) {
	v := loadExportVectors(t)[2]
	body := exportBody(t, v.file)
	unpadded := strings.TrimRight(base64.StdEncoding.EncodeToString(body), "=")
	for name, file := range map[string]string{
		"crlf":          strings.ReplaceAll(v.file, "\n", "\r\n"),
		"blank lines":   "\n\n" + strings.ReplaceAll(v.file, "\n", "\n\n") + "\n\n",
		"indented":      "  " + strings.ReplaceAll(v.file, "\n", "\n  "),
		"one line":      armor(body),
		"unpadded":      keybackup.ExportHeader + "\n" + unpadded + "\n" + keybackup.ExportFooter,
		"short lines":   keybackup.ExportHeader + "\n" + strings.Join(chunk(unpadded, 7), "\n") + "\n" + keybackup.ExportFooter,
		"trailing tabs": v.file + "\t\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := keybackup.DecryptKeyExportData([]byte(file), v.passphrase)
			if err != nil || string(got) != v.plaintext {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func chunk(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func testExportedSessions(n int) []keybackup.ExportedSession {
	out := make([]keybackup.ExportedSession, n)
	for i := range out {
		s := testSession()
		s.ForwardingCurve25519KeyChain = []string{}
		if i%2 == 1 {
			s.ForwardingCurve25519KeyChain = []string{"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"}
			s.SharedHistory = true
		}
		out[i] = keybackup.ExportedSession{
			BackedUpSession: *s,
			RoomID:          "!room" + string(rune('a'+i%26)) + ":example.org",
			SessionID:       "session" + string(rune('A'+i%26)),
		}
	}
	return out
}

func TestKeyExportRoundTrip(t *testing.T) {
	sessions := testExportedSessions(5)
	file, err := keybackup.EncryptKeyExportWeak(sessions, "passphrase", 1000)
	if err != nil {
		t.Fatal(err)
	}
	text := string(file)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != keybackup.ExportHeader || lines[len(lines)-1] != keybackup.ExportFooter {
		t.Fatalf("armor:\n%s", text)
	}
	for _, l := range lines[1 : len(lines)-2] {
		if len(l) != 96 {
			t.Fatalf("line of %d characters", len(l))
		}
	}
	if body := exportBody(t, text); body[0] != 1 || body[17+8]&0x80 != 0 {
		t.Fatalf("version %d, IV byte 8 %#x: bit 63 must be clear", body[0], body[25])
	}
	got, err := keybackup.DecryptKeyExport(file, "passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sessions, got); diff != "" {
		t.Fatal(diff)
	}
	// The JSON has the fields Element reads.
	pt, _ := keybackup.DecryptKeyExportData(file, "passphrase")
	var raw []map[string]any
	if err := json.Unmarshal(pt, &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"algorithm", "room_id", "session_id", "session_key", "sender_key", "sender_claimed_keys", "forwarding_curve25519_key_chain"} {
		if _, ok := raw[0][f]; !ok {
			t.Errorf("no %s in %v", f, raw[0])
		}
	}
	if _, err := keybackup.DecryptKeyExport(file, "Passphrase"); !errors.Is(err, keybackup.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}

	// An empty list is a valid export.
	empty, _ := keybackup.EncryptKeyExportWeak(nil, "p", 10)
	if got, err := keybackup.DecryptKeyExport(empty, "p"); err != nil || len(got) != 0 {
		t.Fatalf("empty export: %v, %v", got, err)
	}
}

func TestKeyExportRejects(t *testing.T) {
	bad := testExportedSessions(1)
	bad[0].RoomID = ""
	if _, err := keybackup.EncryptKeyExportWeak(bad, "p", 10); !errors.Is(err, keybackup.ErrBadFormat) {
		t.Fatalf("session without room: %v", err)
	}
	for _, r := range []int{0, 1, 10_000, keybackup.MinPBKDF2Iterations - 1} {
		if _, err := keybackup.EncryptKeyExportRounds(testExportedSessions(1), "p", r); !errors.Is(err, keybackup.ErrIterations) {
			t.Errorf("%d rounds: %v", r, err)
		}
		if _, err := keybackup.EncryptKeyExportData([]byte("x"), "p", r); !errors.Is(err, keybackup.ErrIterations) {
			t.Errorf("%d rounds: %v", r, err)
		}
	}
	// Authentic files whose content is not a valid session list.
	for name, pt := range map[string]string{
		"not JSON":    "plain",
		"object":      `{"room_id":"x"}`,
		"no key":      `[{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!r","session_id":"s","sender_key":"k"}]`,
		"olm session": `[{"algorithm":"m.olm.v1.curve25519-aes-sha2","room_id":"!r","session_id":"s","sender_key":"k","session_key":"x"}]`,
	} {
		file, _ := keybackup.EncryptKeyExportDataWith([]byte(pt), "p", 10, [16]byte{}, [16]byte{})
		_, err := keybackup.DecryptKeyExport(file, "p")
		if !errors.Is(err, keybackup.ErrBadFormat) && !errors.Is(err, keybackup.ErrUnsupportedAlgorithm) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestKeyExportDefaultRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("500 000 PBKDF2 rounds, twice")
	}
	file, err := keybackup.EncryptKeyExport(testExportedSessions(2), "long enough")
	if err != nil {
		t.Fatal(err)
	}
	if r := binary.BigEndian.Uint32(exportBody(t, string(file))[33:]); r != keybackup.MinPBKDF2Iterations {
		t.Fatalf("rounds %d", r)
	}
	if _, err := keybackup.DecryptKeyExport(file, "long enough"); err != nil {
		t.Fatal(err)
	}
}
