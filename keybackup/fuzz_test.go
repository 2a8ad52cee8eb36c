package keybackup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/olm"
)

// Fixed keys for the fuzz targets and their seeds: the libolm test keys.
var (
	fuzzBackupPriv = []byte{
		0x77, 0x07, 0x6D, 0x0A, 0x73, 0x18, 0xA5, 0x7D, 0x3C, 0x16, 0xC1, 0x72, 0x51, 0xB2, 0x66, 0x45,
		0xDF, 0x4C, 0x2F, 0x87, 0xEB, 0xC0, 0x99, 0x2A, 0xB1, 0x77, 0xFB, 0xA5, 0x1D, 0xB9, 0x2C, 0x2A,
	}
	fuzzEphemeral = []byte{
		0x5D, 0xAB, 0x08, 0x7E, 0x62, 0x4A, 0x8A, 0x4B, 0x79, 0xE1, 0x7F, 0x8B, 0x83, 0x80, 0x0E, 0xE6,
		0x6F, 0x3B, 0xB1, 0x29, 0x26, 0x18, 0xB6, 0xFD, 0x1C, 0x2F, 0x8B, 0x27, 0xFF, 0x88, 0xE0, 0xEB,
	}
	fuzzSSSSKey    = bytes.Repeat([]byte{0x42}, 32)
	fuzzSSSSIV     = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	fuzzSigningKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
)

const (
	fuzzPassphrase = "password" // Element's first export vector uses it too
	fuzzUser       = "@fuzz:example.org"
)

func fuzzBackupKey(t testing.TB) *keybackup.BackupKey {
	k, err := keybackup.NewBackupKey(fuzzBackupPriv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fuzzSSSS(t testing.TB) *keybackup.SecretStorageKey {
	return keybackup.NewSecretStorageKeyWith("fuzzkey", "Fuzz", fuzzSSSSKey, fuzzSSSSIV)
}

func fuzzTrusted() keybackup.TrustedKey {
	pub, _ := olm.NewEd25519PublicKey(fuzzSigningKey.Public().(ed25519.PublicKey))
	return keybackup.DeviceSigningKey("FUZZDEVICE", pub)
}

// limitIterations keeps hostile PBKDF2 counts cheap while fuzzing.
func limitIterations(f *testing.F) {
	f.Cleanup(keybackup.SetMaxIterations(2000))
}

func FuzzDecodeRecoveryKey(f *testing.F) {
	addSeeds(f, "FuzzDecodeRecoveryKey")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := keybackup.DecodeRecoveryKeyUnchecked(s)
		if err != nil {
			if key != nil || !errors.Is(err, keybackup.ErrBadFormat) {
				t.Fatalf("DecodeRecoveryKeyUnchecked = %x, %v", key, err)
			}
			return
		}
		again, err := keybackup.EncodeRecoveryKey(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := keybackup.DecodeRecoveryKeyUnchecked(again)
		if err != nil || !bytes.Equal(back, key) {
			t.Fatalf("round trip of %q failed", again)
		}
	})
}

func FuzzParseSessionData(f *testing.F) {
	addSeeds(f, "FuzzParseSessionData")
	k := fuzzBackupKey(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := keybackup.ParseSessionData(data)
		if err != nil {
			return
		}
		text, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := keybackup.ParseSessionData(text)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Fatal(diff)
		}
		_, err1 := k.Decrypt(d)
		s, err2 := k.DecryptSession(d)
		if err1 != nil && err2 == nil {
			t.Fatal("DecryptSession succeeded where Decrypt failed")
		}
		if err2 == nil {
			s.InboundGroupSession()
		}
	})
}

func FuzzParseKeyDescription(f *testing.F) {
	addSeeds(f, "FuzzParseKeyDescription")
	limitIterations(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := keybackup.ParseKeyDescription(data)
		if err != nil {
			return
		}
		text, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := keybackup.ParseKeyDescription(text)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Fatal(diff)
		}
		d.CheckKey(fuzzSSSSKey)
		d.UnlockWithRecoveryKey("id", mautrixKey1Recovery)
		d.UnlockWithPassphrase("id", fuzzPassphrase)
	})
}

func FuzzDecryptKeyExport(f *testing.F) {
	addSeeds(f, "FuzzDecryptKeyExport")
	limitIterations(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		sessions, err := keybackup.DecryptKeyExport(file, fuzzPassphrase)
		if err != nil {
			if sessions != nil {
				t.Fatal("sessions with error")
			}
			return
		}
		for i := range sessions {
			sessions[i].InboundGroupSession()
		}
	})
}

func FuzzParseAuthData(f *testing.F) {
	addSeeds(f, "FuzzParseAuthData")
	trusted := fuzzTrusted()
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := keybackup.ParseAuthData(data)
		if err != nil {
			return
		}
		text, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		again, err := keybackup.ParseAuthData(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		text2, _ := again.MarshalJSON()
		if !bytes.Equal(text, text2) {
			t.Fatalf("re-encoding differs:\n%s\n%s", text, text2)
		}
		_, err1 := a.Verify(fuzzUser, trusted)
		_, err2 := again.Verify(fuzzUser, trusted)
		if (err1 == nil) != (err2 == nil) {
			t.Fatal("verification changed by re-encoding")
		}
	})
}

func FuzzParseRoomKeys(f *testing.F) {
	addSeeds(f, "FuzzParseRoomKeys")
	k := fuzzBackupKey(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, err := keybackup.ParseRoomKeys(body)
		if err != nil {
			return
		}
		res := k.DecryptAll(context.Background(), entries, &keybackup.DecryptAllOptions{Workers: 2})
		if len(res) != len(entries) {
			t.Fatalf("%d results for %d entries", len(res), len(entries))
		}
		for i, r := range res {
			if (r.Err == nil) != (r.Inbound != nil) || r.SessionID != entries[i].SessionID {
				t.Fatalf("result %d inconsistent: %+v", i, r)
			}
		}
	})
}

func FuzzParseEncryptedSecret(f *testing.F) {
	addSeeds(f, "FuzzParseEncryptedSecret")
	k := fuzzSSSS(f)
	bk := fuzzBackupKey(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := keybackup.ParseEncryptedSecret(data)
		if err != nil {
			return
		}
		text, _ := es.MarshalJSON()
		again, err := keybackup.ParseEncryptedSecret(text)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(es, again); diff != "" {
			t.Fatal(diff)
		}
		k.Decrypt("fuzz", es)
		k.DecryptBackupKey(es, bk.PublicKey())
		k.DecryptCrossSigningKey(keybackup.SecretCrossSigningMaster, es, fuzzTrusted().Key)
	})
}

// addSeeds adds the checked-in corpus of target to f. go test reads
// testdata/fuzz/<target> by itself; adding the files here as well makes
// the seeds run under -run as plain tests even where the directory is
// filtered.
func addSeeds(f *testing.F, target string) {
	// The files are read by the testing package; nothing to do beyond
	// checking they exist, so that a missing corpus is noticed.
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
	if err != nil || len(entries) == 0 {
		f.Fatalf("no seed corpus for %s: %v", target, err)
	}
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in TestWriteFuzzCorpus")

// fuzzSeeds builds the seed corpus of every target from fixed keys and
// randomness, so that it is reproducible.
func fuzzSeeds(t testing.TB) map[string]map[string][]byte {
	bk := fuzzBackupKey(t)
	ssss := fuzzSSSS(t)
	session := testSession()
	pt := wireJSON(session)
	sd, err := keybackup.EncryptFromRandom(bk.PublicKey(), pt, fuzzEphemeral)
	if err != nil {
		t.Fatal(err)
	}
	sdJSON, _ := sd.MarshalJSON()
	notJSON, _ := keybackup.EncryptFromRandom(bk.PublicKey(), []byte("not json"), fuzzEphemeral)
	notJSONText, _ := notJSON.MarshalJSON()

	rk, _ := keybackup.EncodeRecoveryKey(fuzzSSSSKey)
	desc, _ := ssss.Description().MarshalJSON()
	passDesc := []byte(`{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","passphrase":{"algorithm":"m.pbkdf2","salt":"MmMsAlty","iterations":1000}}`)

	w := wireJSON(session)
	listJSON := append(append([]byte("["), w[:len(w)-1]...), `,"room_id":"!room:example.org","session_id":"s"}]`...)
	export, _ := keybackup.EncryptKeyExportDataWith(listJSON, fuzzPassphrase, 10, [16]byte{1}, [16]byte{2})
	exportPlain, _ := keybackup.EncryptKeyExportDataWith([]byte("plain"), fuzzPassphrase, 10, [16]byte{3}, [16]byte{4})
	vectors := loadExportVectors(t)

	ad := keybackup.NewAuthData(bk.PublicKey())
	ad.Sign(fuzzUser, "FUZZDEVICE", func(m []byte) olm.Ed25519Signature {
		s, _ := olm.NewEd25519Signature(ed25519.Sign(fuzzSigningKey, m))
		return s
	})
	adJSON, _ := ad.MarshalJSON()

	kbd, _ := json.Marshal(&keybackup.KeyBackupData{FirstMessageIndex: 0, ForwardedCount: 0, IsVerified: true, SessionData: sd})
	roomKeys, _ := keybackup.MarshalRoomKeys([]keybackup.BackupEntry{
		{RoomID: "!a:x", SessionID: "s1", Data: kbd},
		{RoomID: "!a:x", SessionID: "s2", Data: json.RawMessage(`{"session_data":{}}`)},
		{RoomID: "!b:x", SessionID: "s3", Data: json.RawMessage(`null`)},
	})

	secret, _ := ssss.EncryptSecretWith("fuzz", []byte("c2VjcmV0"), fuzzSSSSIV)
	secretJSON, _ := secret.MarshalJSON()
	backupSecret, _ := ssss.EncryptBackupKey(bk) // random IV: regenerated below
	_ = backupSecret
	backupSecretFixed, _ := ssss.EncryptSecretWith(keybackup.SecretMegolmBackup, []byte(bk.Encode()), fuzzSSSSIV)
	backupSecretJSON, _ := backupSecretFixed.MarshalJSON()

	return map[string]map[string][]byte{
		"FuzzDecodeRecoveryKey": {
			"mautrix-1": []byte(mautrixKey1Recovery),
			"mautrix-2": []byte(mautrixKey2Recovery),
			"fixed":     []byte(rk),
			"bad-char":  []byte("EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvo0"),
			"short":     []byte("EsTE s92N"),
		},
		"FuzzParseSessionData": {
			"valid":       sdJSON,
			"not-json":    notJSONText,
			"padded":      bytes.Replace(sdJSON, []byte(`","mac"`), []byte(`=","mac"`), 1),
			"empty":       []byte(`{}`),
			"wrong-types": []byte(`{"ciphertext":1,"ephemeral":[],"mac":null}`),
		},
		"FuzzParseKeyDescription": {
			"mautrix-1":       []byte(mautrixKey1Meta),
			"mautrix-2":       []byte(mautrixKey2Meta),
			"fixed":           desc,
			"passphrase":      passDesc,
			"bare":            []byte(`{"algorithm":"m.secret_storage.v1.aes-hmac-sha2"}`),
			"huge-iterations": []byte(`{"algorithm":"m.secret_storage.v1.aes-hmac-sha2","passphrase":{"algorithm":"m.pbkdf2","salt":"s","iterations":2147483648}}`),
		},
		"FuzzDecryptKeyExport": {
			"sessions":  export,
			"plain":     exportPlain,
			"element-1": []byte(vectors[0].file),
			"element-4": []byte(vectors[3].file),
			"armor":     []byte(keybackup.ExportHeader + "\n" + keybackup.ExportFooter + "\n"),
		},
		"FuzzParseAuthData": {
			"signed":   adJSON,
			"unsigned": []byte(`{"public_key":"` + bk.PublicKey().String() + `"}`),
			"extra":    []byte(`{"public_key":"` + bk.PublicKey().String() + `","private_key_salt":"x","private_key_iterations":5,"unsigned":{}}`),
		},
		"FuzzParseRoomKeys": {
			"mixed": roomKeys,
			"empty": []byte(`{"rooms":{}}`),
		},
		"FuzzParseEncryptedSecret": {
			"secret":     secretJSON,
			"backup-key": backupSecretJSON,
			"mautrix":    []byte(`{"iv":"BpKP9nQJTE9jrsAssoxPqQ==","ciphertext":"fNRiiiidezjerTgV+G6pUtmeF3izzj5re/mVvY0hO2kM6kYGrxLuIu2ej80=","mac":"/gWGDGMyOLmbJp+aoSLh5JxCs0AdS6nAhjzpe+9G2Q0="}`),
		},
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz when run with
//
//	go test -run TestWriteFuzzCorpus -write-corpus ./keybackup/
//
// and otherwise checks that the checked-in seeds are up to date.
func TestWriteFuzzCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, target := range slices.Sorted(mapKeys(seeds)) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *writeCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range seeds[target] {
			var content string
			if target == "FuzzDecodeRecoveryKey" {
				content = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", data)
			} else {
				content = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			}
			path := filepath.Join(dir, name)
			if *writeCorpus {
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -write-corpus)", err)
			}
			if string(got) != content {
				t.Errorf("%s is out of date (run with -write-corpus)", path)
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
