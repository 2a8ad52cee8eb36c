package crossign_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/souverain/e2ee/crossign"
)

func TestPrivateKey(t *testing.T) {
	s := seed("k")
	k, err := crossign.NewPrivateKey(crossign.UsageSelfSigning, s)
	if err != nil {
		t.Fatal(err)
	}
	std := ed25519.NewKeyFromSeed(s)
	if got, want := k.PublicKey().String(), b64(std.Public().(ed25519.PublicKey)); got != want {
		t.Errorf("PublicKey = %s, want %s (crypto/ed25519)", got, want)
	}
	if k.KeyID() != "ed25519:"+k.PublicKey().String() {
		t.Errorf("KeyID = %s", k.KeyID())
	}
	if k.Usage() != crossign.UsageSelfSigning {
		t.Errorf("Usage = %s", k.Usage())
	}
	// crypto.Signer: the signatures are crypto/ed25519's.
	var _ crypto.Signer = k
	msg := []byte("message")
	sig, err := k.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if want := ed25519.Sign(std, msg); string(sig) != string(want) {
		t.Error("signature differs from crypto/ed25519")
	}
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig) {
		t.Error("signature does not verify with Public()")
	}
	if _, err := k.Sign(nil, msg, crypto.SHA512); err == nil {
		t.Error("Sign accepted Ed25519ph (crypto.SHA512)")
	}
	if _, err := k.Sign(nil, msg, &ed25519.Options{Context: "x"}); err == nil {
		t.Error("Sign accepted Ed25519ctx")
	}
	// The secret storage form is the unpadded base64 seed.
	if k.Secret() != base64.RawStdEncoding.EncodeToString(s) {
		t.Errorf("Secret = %s", k.Secret())
	}
	if string(k.Seed()) != string(s) {
		t.Error("Seed differs")
	}
	k2, err := crossign.ParsePrivateKey(crossign.UsageSelfSigning, k.Secret())
	if err != nil || k2.PublicKey() != k.PublicKey() {
		t.Errorf("ParsePrivateKey(Secret()) = %v, %v", k2, err)
	}
	k3, err := crossign.ParsePrivateKey(crossign.UsageSelfSigning, base64.StdEncoding.EncodeToString(s))
	if err != nil || k3.PublicKey() != k.PublicKey() {
		t.Errorf("ParsePrivateKey(padded) = %v, %v", k3, err)
	}
}

func TestSecretNames(t *testing.T) {
	for u, want := range map[crossign.Usage]string{
		crossign.UsageMaster:      "m.cross_signing.master",
		crossign.UsageSelfSigning: "m.cross_signing.self_signing",
		crossign.UsageUserSigning: "m.cross_signing.user_signing",
	} {
		if got := u.SecretName(); got != want {
			t.Errorf("%s.SecretName() = %s, want %s", u, got, want)
		}
	}
}

func TestPrivateKeyRejects(t *testing.T) {
	for n := 0; n <= 70; n++ {
		if n == crossign.SeedSize {
			continue
		}
		if _, err := crossign.NewPrivateKey(crossign.UsageMaster, make([]byte, n)); !errors.Is(err, crossign.ErrInvalidKey) {
			t.Errorf("seed of %d bytes: %v, want ErrInvalidKey", n, err)
		}
	}
	for _, u := range []crossign.Usage{"", "Master", "signing", "master "} {
		if _, err := crossign.NewPrivateKey(u, seed("x")); !errors.Is(err, crossign.ErrWrongUsage) {
			t.Errorf("usage %q: %v, want ErrWrongUsage", u, err)
		}
		if _, err := crossign.GeneratePrivateKey(u); !errors.Is(err, crossign.ErrWrongUsage) {
			t.Errorf("generate usage %q: %v, want ErrWrongUsage", u, err)
		}
	}
	secret := base64.RawStdEncoding.EncodeToString(seed("secret"))
	for _, s := range []string{"", "AAAA", secret[:42], secret + "AA", strings.ReplaceAll(secret, "+", "-") + "-", "not base64!" + secret[11:]} {
		_, err := crossign.ParsePrivateKey(crossign.UsageMaster, s)
		if !errors.Is(err, crossign.ErrInvalidKey) {
			t.Errorf("ParsePrivateKey(%q) = %v, want ErrInvalidKey", s, err)
		}
		if err != nil && len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains the secret", err)
		}
	}
}

// TestFormatHidesSecrets prints keys with every fmt verb and checks that
// no form of the seed or expanded key appears.
func TestFormatHidesSecrets(t *testing.T) {
	ks, err := crossign.GenerateKeys(aliceID)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, k := range []*crossign.PrivateKey{ks.Master, ks.SelfSigning, ks.UserSigning} {
		s := k.Seed()
		secrets = append(secrets, k.Secret(), base64.StdEncoding.EncodeToString(s), hex.EncodeToString(s), fmt.Sprint(s), fmt.Sprintf("%x", s[:8]), fmt.Sprintf("%v", s[:4]))
	}
	for _, v := range []any{ks, *ks, ks.Master, *ks.Master, crossign.PrivateKey{}, []*crossign.PrivateKey{ks.UserSigning}, map[string]crossign.PrivateKey{"k": *ks.SelfSigning}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("fmt %s of %T prints a secret: %s", verb, v, out)
				}
			}
			if !strings.Contains(out, "PrivateKey") {
				t.Errorf("fmt %s of %T = %s: no public description", verb, v, out)
			}
		}
	}
	// encoding/json and log/slog see no secret either.
	verifier := &crossign.Verifier{UserID: aliceID, MasterKey: ks.Master}
	for _, v := range []any{ks, *ks, ks.Master, verifier} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		for _, s := range secrets {
			if strings.Contains(string(b), s) || strings.Contains(buf.String(), s) {
				t.Fatalf("json or slog of %T prints a secret: %s %s", v, b, buf.String())
			}
		}
	}
	if got := fmt.Sprint(ks.Master); got != "crossign.PrivateKey(master, public: "+ks.Master.PublicKey().String()+")" {
		t.Errorf("String = %s", got)
	}
	var nilKey *crossign.PrivateKey
	if got := fmt.Sprint(nilKey); got != "<nil>" {
		t.Errorf("nil key prints %s", got)
	}
}

func TestGenerateKeys(t *testing.T) {
	a, err := crossign.GenerateKeys(aliceID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := crossign.GenerateKeys(aliceID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range []*crossign.PrivateKey{a.Master, a.SelfSigning, a.UserSigning, b.Master, b.SelfSigning, b.UserSigning} {
		if seen[k.Secret()] {
			t.Fatal("GenerateKeys repeats a key")
		}
		seen[k.Secret()] = true
	}
	if a.Master.Usage() != crossign.UsageMaster || a.SelfSigning.Usage() != crossign.UsageSelfSigning || a.UserSigning.Usage() != crossign.UsageUserSigning {
		t.Error("wrong usages")
	}
	if _, err := crossign.GenerateKeys(""); !errors.Is(err, crossign.ErrWrongUserID) {
		t.Errorf("empty user ID: %v", err)
	}
}
