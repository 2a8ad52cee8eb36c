package bench_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/crypto/backup"

	"github.com/souverain/e2ee/interop/libolm"
	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// Backup benchmarks: one Megolm session encrypted to the backup key, as the
// session_data JSON a client uploads, and decrypted from that JSON back to
// the session it holds. goolm has no backup code; impl=goolm is mautrix's
// pure-Go crypto/backup (crypto/ecdh, x/crypto/hkdf, its aescbc). The
// libolm rows use olm_pk_encrypt and olm_pk_decrypt with encoding/json
// around them.

// mautrixSession mirrors keybackup.BackedUpSession for mautrix's generic
// EncryptedSessionData.
type mautrixSession struct {
	Algorithm                    string            `json:"algorithm"`
	ForwardingCurve25519KeyChain []string          `json:"forwarding_curve25519_key_chain"`
	SenderClaimedKeys            map[string]string `json:"sender_claimed_keys"`
	SenderKey                    string            `json:"sender_key"`
	SessionKey                   string            `json:"session_key"`
}

// libolmSessionData is session_data with its fields in libolm's base64.
type libolmSessionData struct {
	Ciphertext string `json:"ciphertext"`
	Ephemeral  string `json:"ephemeral"`
	MAC        string `json:"mac"`
}

type backupFixture struct {
	priv      []byte // the backup's private key
	souvKey   *keybackup.BackupKey
	session   *keybackup.BackedUpSession
	mautrix   mautrixSession
	plainLen  int    // length of the session's JSON
	sessionID string // the Megolm session ID
}

func newBackupFixture(tb testing.TB) *backupFixture {
	f := &backupFixture{priv: fill(32)}
	f.souvKey = mustV[*keybackup.BackupKey](tb)(keybackup.NewBackupKey(f.priv))
	f.session, f.sessionID = newBackedUpSession(tb)
	f.mautrix = mautrixSession{
		Algorithm:                    f.session.Algorithm,
		ForwardingCurve25519KeyChain: f.session.ForwardingCurve25519KeyChain,
		SenderClaimedKeys:            f.session.SenderClaimedKeys,
		SenderKey:                    f.session.SenderKey.String(),
		SessionKey:                   f.session.SessionKey,
	}
	f.plainLen = len(mustV[[]byte](tb)(f.session.MarshalPlaintext()))
	return f
}

func newBackedUpSession(tb testing.TB) (*keybackup.BackedUpSession, string) {
	s := mustV[*megolm.GroupSession](tb)(megolm.NewGroupSession())
	in := mustV[*megolm.InboundGroupSession](tb)(megolm.NewInboundGroupSession(s.SessionKey()))
	var curve olm.Curve25519PublicKey
	var ed olm.Ed25519PublicKey
	rand.Read(curve[:])
	rand.Read(ed[:])
	return keybackup.NewBackedUpSession(in, curve, ed, nil), in.SessionID()
}

func floorBackupEncrypt(st *floorState, n int) {
	st.x25519Base()
	st.x25519DH()
	st.hkdf(80, 0)
	st.cbcEncrypt(n)
	st.hmac(0)
}

func floorBackupDecrypt(st *floorState, n int) {
	st.x25519DH()
	st.hkdf(80, 0)
	st.hmac(0)
	st.cbcDecrypt(n)
}

// BenchmarkBackupEncrypt encrypts one session to the backup key and
// encodes the session_data JSON.
func BenchmarkBackupEncrypt(b *testing.B) {
	f := newBackupFixture(b)
	pub := f.souvKey.PublicKey()
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			d := mustV[*keybackup.SessionData](b)(pub.EncryptSession(f.session))
			mustV[[]byte](b)(json.Marshal(d))
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		mpub := mustV[*ecdh.PublicKey](b)(ecdh.X25519().NewPublicKey(pub[:]))
		for b.Loop() {
			d := mustV[*backup.EncryptedSessionData[mautrixSession]](b)(backup.EncryptSessionDataWithPubkey(mpub, f.mautrix))
			mustV[[]byte](b)(json.Marshal(d))
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		pubB64 := pub.String()
		random := make([]byte, libolm.PkEncryptRandomLength())
		for b.Loop() {
			pt := mustV[[]byte](b)(f.session.MarshalPlaintext())
			rand.Read(random)
			m := mustV[libolm.PkMessage](b)(libolm.PkEncrypt(pubB64, pt, random))
			mustV[[]byte](b)(json.Marshal(libolmSessionData{Ciphertext: m.Ciphertext, Ephemeral: m.Ephemeral, MAC: m.MAC}))
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorBackupEncrypt(fl, f.plainLen)
		}
	})
}

// BenchmarkBackupDecrypt decrypts one session_data JSON to the session.
func BenchmarkBackupDecrypt(b *testing.B) {
	f := newBackupFixture(b)
	data := mustV[[]byte](b)(json.Marshal(mustV[*keybackup.SessionData](b)(f.souvKey.PublicKey().EncryptSession(f.session))))
	runImpl(b, implSouverain, func(b *testing.B) {
		for b.Loop() {
			d := mustV[*keybackup.SessionData](b)(keybackup.ParseSessionData(data))
			s := mustV[*keybackup.BackedUpSession](b)(f.souvKey.DecryptSession(d))
			if s.SessionKey != f.session.SessionKey {
				b.Fatal("wrong session")
			}
		}
	})
	runImpl(b, implGoolm, func(b *testing.B) {
		key := mustV[*backup.MegolmBackupKey](b)(backup.MegolmBackupKeyFromBytes(f.priv))
		for b.Loop() {
			var d backup.EncryptedSessionData[mautrixSession]
			must(b, json.Unmarshal(data, &d))
			s := mustV[*mautrixSession](b)(d.Decrypt(key))
			if s.SessionKey != f.session.SessionKey {
				b.Fatal("wrong session")
			}
		}
	})
	runImpl(b, implLibolm, func(b *testing.B) {
		d := mustV[*libolm.PkDecryption](b)(libolm.NewPkDecryption(f.priv))
		defer d.Free()
		for b.Loop() {
			var m libolmSessionData
			must(b, json.Unmarshal(data, &m))
			pt := mustV[[]byte](b)(d.Decrypt(libolm.PkMessage{Ciphertext: m.Ciphertext, Ephemeral: m.Ephemeral, MAC: m.MAC}))
			var s mautrixSession
			must(b, json.Unmarshal(pt, &s))
			if s.SessionKey != f.session.SessionKey {
				b.Fatal("wrong session")
			}
		}
	})
	runImpl(b, implFloor, func(b *testing.B) {
		for b.Loop() {
			floorBackupDecrypt(fl, f.plainLen)
		}
	})
}
