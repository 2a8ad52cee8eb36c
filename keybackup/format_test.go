package keybackup_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/souverain/e2ee/keybackup"
)

// render prints v with an fmt verb, or with encoding/json ("json"), or
// through log/slog's JSON or text handler ("slog-json", "slog-text").
func render(t *testing.T, how string, v any) string {
	t.Helper()
	var buf bytes.Buffer
	switch how {
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		return string(b)
	case "slog-json":
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
	case "slog-text":
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
	default:
		return fmt.Sprintf(how, v)
	}
	return buf.String()
}

// TestFormatHidesSecrets prints every secret-bearing value with every
// common verb, encoding/json and log/slog, and looks for the secret in any
// encoding.
func TestFormatHidesSecrets(t *testing.T) {
	bk, _ := keybackup.GenerateBackupKey()
	ssk, _ := keybackup.GenerateSecretStorageKey("name")
	r := newRoomKey(t, "x")
	session := r.backedUp()
	exported := keybackup.NewExportedSession("!r:x", r.in, testSenderKey, testClaimed, nil)
	result := keybackup.RestoreResult{RoomID: "!r:x", Session: session}

	secrets := map[string][]byte{"backup key": bk.Bytes(), "secret storage key": ssk.Bytes()}
	texts := []string{bk.RecoveryKey(), ssk.RecoveryKey(), session.SessionKey, bk.Encode()}
	for _, s := range secrets {
		texts = append(texts,
			base64.StdEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s),
			base64.RawURLEncoding.EncodeToString(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			fmt.Sprint(s), fmt.Sprintf("%#v", s), string(s))
	}
	for _, rk := range []string{bk.RecoveryKey(), ssk.RecoveryKey()} {
		texts = append(texts, strings.ReplaceAll(rk, " ", ""))
	}
	// A prefix of the session key is enough to leak it in part.
	texts = append(texts, session.SessionKey[:24])

	values := map[string]any{
		"*BackupKey": bk, "BackupKey": *bk,
		"*SecretStorageKey": ssk, "SecretStorageKey": *ssk,
		"*BackedUpSession": session, "BackedUpSession": *session,
		"ExportedSession": exported, "*ExportedSession": &exported,
		"[]ExportedSession": []keybackup.ExportedSession{exported},
		"RestoreResult":     result,
		"*RestoreResult":    &result,
		"[]RestoreResult":   []keybackup.RestoreResult{result},
		"map":               map[string]any{"s": session, "e": exported},
		"struct":            struct{ K *keybackup.BackupKey }{bk},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "json", "slog-json", "slog-text"} {
			out := render(t, verb, v)
			for _, secret := range texts {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("%s with %s prints a secret: %s", name, verb, out)
				}
			}
		}
	}
	if s := fmt.Sprint(bk); !strings.Contains(s, bk.PublicKey().String()) {
		t.Errorf("BackupKey prints %q, want its public key", s)
	}
	if s := fmt.Sprint(ssk); !strings.Contains(s, ssk.ID()) {
		t.Errorf("SecretStorageKey prints %q, want its ID", s)
	}
}
