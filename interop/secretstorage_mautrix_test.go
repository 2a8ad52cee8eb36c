package interop_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/crypto/ssss"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// Secret storage against mautrix-go's crypto/ssss (v0.33), since Element's
// crypto stack (matrix-sdk-crypto-wasm) has no secret storage: matrix-js-sdk
// does it in JavaScript. The account data passes through the fake
// homeserver as a client's PUTs and /sync would carry it.

// ssssSecrets are the secrets the tests put in secret storage.
var ssssSecrets = []string{"m.cross_signing.master", "m.cross_signing.self_signing", "m.cross_signing.user_signing", "m.megolm_backup.v1"}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		t.Fatalf("secret is not base64: %v", err)
	}
	return b
}

// accountData returns the contents of a user's account data by type.
func (w *trustWorld) accountData(user string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, ev := range w.hs.AccountData(user) {
		var e struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}
		json.Unmarshal(ev, &e)
		out[e.Type] = e.Content
	}
	return out
}

// TestMachineSecretStorageReadByMautrix: the machine creates secret
// storage (from a recovery key, and from a passphrase), bootstraps
// cross-signing and a backup; mautrix-go finds the default key, checks
// the recovery key or passphrase against the key description and
// decrypts every secret to the machine's own value. A wrong recovery key
// or passphrase is refused by mautrix's key check.
func TestMachineSecretStorageReadByMautrix(t *testing.T) {
	for _, passphrase := range []string{"", "correct horse battery staple"} {
		name := "recovery key"
		if passphrase != "" {
			name = "passphrase"
		}
		t.Run(name, func(t *testing.T) {
			const user = "@souverain-ssss:localhost"
			w := newTrustWorld(t, nil, user, user)
			ss, err := w.m.CreateSecretStorage(meCtx, passphrase)
			if err != nil {
				t.Fatal(err)
			}
			b := w.goBootstrap()
			cr, err := w.m.CreateBackupVersion(meCtx)
			if err != nil {
				t.Fatal(err)
			}
			version, err := cr.VersionBody(w.do(user, w.goDev, "POST", "/_matrix/client/v3/room_keys/version", cr.Body))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.m.SetBackupVersion(meCtx, version); err != nil {
				t.Fatal(err)
			}
			// The backup key becomes a secret only with SetBackupVersion:
			// SecretStorageAccountData writes it then.
			more, err := w.m.SecretStorageAccountData(meCtx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range slices.Concat(ss.AccountData, b.AccountData, more) {
				w.do(user, w.goDev, "PUT", p.Path, p.Content)
			}

			ad := w.accountData(user)
			var def struct {
				Key string `json:"key"`
			}
			json.Unmarshal(ad["m.secret_storage.default_key"], &def)
			w.check(def.Key == ss.KeyID, "default key %q, want %q", def.Key, ss.KeyID)
			var meta ssss.KeyMetadata
			if err := json.Unmarshal(ad["m.secret_storage.key."+def.Key], &meta); err != nil {
				t.Fatal(err)
			}
			w.check(meta.Algorithm == ssss.AlgorithmAESHMACSHA2 && meta.IV != "" && meta.MAC != "", "key description %+v", meta)
			var key *ssss.Key
			if passphrase == "" {
				key, err = meta.VerifyRecoveryKey(def.Key, ss.RecoveryKey)
				if err != nil {
					t.Fatalf("mautrix refuses the recovery key: %v", err)
				}
				other, _ := ssss.NewKey("")
				_, err := meta.VerifyRecoveryKey(def.Key, other.RecoveryKey())
				w.check(errors.Is(err, ssss.ErrIncorrectSSSSKey), "mautrix took a wrong recovery key: %v", err)
			} else {
				w.check(meta.Passphrase != nil && meta.Passphrase.Algorithm == ssss.PassphraseAlgorithmPBKDF2, "passphrase %+v", meta.Passphrase)
				key, err = meta.VerifyPassphrase(def.Key, passphrase)
				if err != nil {
					t.Fatalf("mautrix refuses the passphrase: %v", err)
				}
				_, err := meta.VerifyPassphrase(def.Key, passphrase+"!")
				w.check(errors.Is(err, ssss.ErrIncorrectSSSSKey), "mautrix took a wrong passphrase: %v", err)
				w.check(ss.RecoveryKey == key.RecoveryKey(), "the passphrase gives another key than the recovery key")
			}
			for _, name := range ssssSecrets {
				var enc ssss.EncryptedAccountDataEventContent
				if err := json.Unmarshal(ad[name], &enc); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got, err := enc.Decrypt(name, key)
				if err != nil {
					t.Fatalf("mautrix cannot decrypt %s: %v", name, err)
				}
				want, ok, err := w.m.Secret(meCtx, name)
				if err != nil || !ok {
					t.Fatalf("the machine's %s: %v %v", name, ok, err)
				}
				w.check(len(got) == 32 && bytes.Equal(got, decodeSecret(t, want)), "%s: mautrix reads another value", name)
			}
		})
	}
}

// TestMautrixSecretStorageReadByMachine: mautrix-go writes secret storage
// (a key from a recovery key, and one from a passphrase, with its own
// iteration count) holding the cross-signing keys the machine's first
// device published and a backup key; a new device of the machine opens it
// with the recovery key or passphrase, imports every secret, cross-signs
// itself and trusts our identity. A wrong recovery key changes nothing.
func TestMautrixSecretStorageReadByMachine(t *testing.T) {
	for _, passphrase := range []string{"", "mautrix passphrase"} {
		name := "recovery key"
		if passphrase != "" {
			name = "passphrase"
		}
		t.Run(name, func(t *testing.T) {
			const user = "@mautrix-ssss:localhost"
			w := newTrustWorld(t, nil, user, user)
			b := w.goBootstrap()
			cr, err := w.m.CreateBackupVersion(meCtx)
			if err != nil {
				t.Fatal(err)
			}
			version, err := cr.VersionBody(w.do(user, w.goDev, "POST", "/_matrix/client/v3/room_keys/version", cr.Body))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.m.SetBackupVersion(meCtx, version); err != nil {
				t.Fatal(err)
			}
			key, err := ssss.NewKey(passphrase)
			if err != nil {
				t.Fatal(err)
			}
			put := func(typ string, content any) {
				body, err := json.Marshal(content)
				if err != nil {
					t.Fatal(err)
				}
				w.do(user, w.goDev, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(user)+"/account_data/"+url.PathEscape(typ), body)
			}
			put("m.secret_storage.key."+key.ID, key.Metadata)
			for _, name := range ssssSecrets {
				v, _, _ := w.m.Secret(meCtx, name)
				put(name, &ssss.EncryptedAccountDataEventContent{Encrypted: map[string]ssss.EncryptedKeyData{key.ID: key.Encrypt(name, decodeSecret(t, v))}})
			}
			put("m.secret_storage.default_key", map[string]string{"key": key.ID})

			// A new device of the user.
			m2, err := machine.New(meCtx, machine.Options{UserID: user, DeviceID: "NEWDEV", Store: memstore.New(), PickleKey: make([]byte, machine.PickleKeySize)})
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			flush2 := func() {
				for range 10 {
					reqs, _ := m2.OutgoingRequests(meCtx)
					if len(reqs) == 0 {
						return
					}
					for _, r := range reqs {
						m2.MarkRequestSent(meCtx, r.ID, w.do(user, "NEWDEV", r.Method, r.Path, r.Body))
					}
				}
			}
			flush2()
			if err := m2.ReceiveAccountData(meCtx, w.hs.AccountData(user)); err != nil {
				t.Fatal(err)
			}
			other, _ := ssss.NewKey("")
			_, err = m2.OpenSecretStorageWithRecoveryKey(meCtx, other.RecoveryKey())
			w.check(errors.Is(err, machine.ErrWrongKey), "a wrong recovery key: %v", err)
			var res *machine.SecretStorageImport
			if passphrase == "" {
				res, err = m2.OpenSecretStorageWithRecoveryKey(meCtx, key.RecoveryKey())
			} else {
				res, err = m2.OpenSecretStorageWithPassphrase(meCtx, passphrase)
			}
			if err != nil {
				t.Fatal(err)
			}
			imported := slices.Clone(res.Imported)
			slices.Sort(imported)
			w.check(slices.Equal(imported, ssssSecrets) && len(res.Errors) == 0 && res.SignedThisDevice && res.KeyID == key.ID,
				"imported %v, errors %v, signed %v", res.Imported, res.Errors, res.SignedThisDevice)
			for _, name := range ssssSecrets {
				want, _, _ := w.m.Secret(meCtx, name)
				got, _, _ := m2.Secret(meCtx, name)
				w.check(bytes.Equal(decodeSecret(t, got), decodeSecret(t, want)), "%s differs", name)
			}
			flush2()
			st, err := m2.CrossSigningStatus(meCtx)
			if err != nil {
				t.Fatal(err)
			}
			w.check(st.Trusted && st.HasMaster && st.MasterKey == b.MasterKey, "the new device's identity: %+v", st)
			w.goSync()
			ds, _ := w.m.Devices(meCtx, user)
			var seen bool
			for _, d := range ds {
				seen = seen || d.DeviceID == "NEWDEV" && d.Verification == machine.VerificationVerified
			}
			w.check(seen, "the first device does not see the new device cross-signed")
		})
	}
}
