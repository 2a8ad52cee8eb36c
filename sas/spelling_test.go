package sas_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/sas"
)

// respellings returns other base64 spellings of key: padded, URL-safe
// (padded or not), with a stray bit in the last character, and with
// surrounding space. The key is chosen by the caller to contain '+' or
// '/' so that the URL-safe spelling differs.
func respellings(key olm.Ed25519PublicKey) map[string]string {
	s := key.String()
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(alpha, s[len(s)-1])
	stray := s[:len(s)-1] + string(alpha[last^1])
	url := base64.RawURLEncoding.EncodeToString(key[:])
	return map[string]string{
		"padded": s + "=", "url": url, "url padded": url + "=", "stray bits": stray, "space": " " + s,
	}
}

// keyWithURLChars returns a test key whose base64 has '+' or '/'.
func keyWithURLChars(prefix string) olm.Ed25519PublicKey {
	for i := 0; ; i++ {
		k := testKey(prefix + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		if strings.ContainsAny(k.String(), "+/") {
			return k
		}
	}
}

// TestKeyIDCollisionSpellings: a device ID that is another base64 spelling
// of a cross-signing key collides too (SECURITY 38).
func TestKeyIDCollisionSpellings(t *testing.T) {
	for name, id := range respellings(keyWithURLChars("master")) {
		t.Run(name, func(t *testing.T) {
			p := newScripted(t)
			k := p.keys[p.user]
			k.MasterKey = keyWithURLChars("master")
			k.Devices[id] = testKey("fake")
			p.keys[p.user] = k
			p.send(sas.EventRequest, map[string]any{"from_device": p.dev, "methods": []string{sas.MethodSAS}, "timestamp": p.clock.Now().UnixMilli()})
			if _, err := p.engine.Verification("", p.txn).Accept(); !errors.Is(err, sas.ErrKeyIDCollision) {
				t.Fatalf("accept with device %q: %v", id, err)
			}
		})
		t.Run("own/"+name, func(t *testing.T) {
			master := keyWithURLChars("master")
			_, err := sas.NewMachine(sas.Config{UserID: "@a:x", DeviceID: id, DeviceKey: testKey("d"), MasterKey: master,
				Keys: func(string) (sas.UserKeys, bool) { return sas.UserKeys{}, false }})
			if !errors.Is(err, sas.ErrKeyIDCollision) {
				t.Fatalf("NewMachine with device %q: %v", id, err)
			}
		})
	}
}
