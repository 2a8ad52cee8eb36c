package machine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/souverain/e2ee/olm"
)

// unwedgeInterval is the least time between two new Olm sessions made to
// recover a wedged session with the same device (the specification and
// matrix-rust-sdk: one hour).
const unwedgeInterval = time.Hour

// maxUnwedge bounds the devices waiting for a new Olm session because
// their session is wedged; more are dropped until OutgoingRequests runs.
const maxUnwedge = 100

// markWedged records that no session with a device decrypted its normal
// message, for a new session and m.dummy. Only a device we already know
// by its Curve25519 key counts: anyone can send an undecryptable message
// naming any user and key, and that must not make us track or query them.
func (t *txn) markWedged(sender, sk string) error {
	if _, ok := t.m.unwedge[sk]; ok || len(t.m.unwedge) >= maxUnwedge {
		return nil
	}
	d, err := t.deviceByCurve(sender, sk)
	if err != nil || d == nil || d.Deleted {
		return err
	}
	t.m.unwedge[sk] = sender
	return nil
}

// maxNormalHashes bounds the hashes of decrypted Olm normal messages kept
// to tell a replay from a wedged session. Beyond it the oldest quarter is
// dropped; a replay of a message whose hash was dropped is taken for a
// wedged session, which makes at most one new session per device per
// unwedgeInterval.
const maxNormalHashes = 4096

// putNormalHash records the hash of a decrypted Olm normal message.
func (t *txn) putNormalHash(hash string) error {
	c := t.m.c
	if c.normalHashes < 0 {
		kvs, err := t.tx.List(NSOlmHashes)
		if err != nil {
			return storeErr(err)
		}
		c.normalHashes = 0
		for _, kv := range kvs {
			if strings.HasPrefix(kv.Key, "normal\x00") {
				c.normalHashes++
			}
		}
	}
	if c.normalHashes >= maxNormalHashes {
		kvs, err := t.tx.List(NSOlmHashes)
		if err != nil {
			return storeErr(err)
		}
		type entry struct {
			key string
			at  int64
		}
		var es []entry
		for _, kv := range kvs {
			if strings.HasPrefix(kv.Key, "normal\x00") {
				var at int64
				fmt.Sscan(string(kv.Value), &at)
				es = append(es, entry{kv.Key, at})
			}
		}
		sort.Slice(es, func(i, j int) bool { return es[i].at < es[j].at })
		drop := es[:min(len(es), max(1, maxNormalHashes/4))]
		for _, e := range drop {
			if err := storeErr(t.tx.Delete(NSOlmHashes, e.key)); err != nil {
				return err
			}
		}
		c.normalHashes = len(es) - len(drop)
	}
	if err := t.tx.Put(NSOlmHashes, hash, []byte(fmt.Sprint(ms(t.now)))); err != nil {
		return storeErr(err)
	}
	c.normalHashes++
	return nil
}

// olmSessions returns the Olm sessions with a device, most recently used
// first.
func (t *txn) olmSessions(senderKey string) ([]*olmSession, error) {
	c := t.m.c
	if ss, ok := c.olm[senderKey]; ok {
		return ss, nil
	}
	recs, err := t.tx.OlmSessions(senderKey)
	if err != nil {
		return nil, storeErr(err)
	}
	ss := make([]*olmSession, 0, len(recs))
	for _, r := range recs {
		var st olmState
		if err := t.m.open(kindOlm, r.Pickle, &st); err != nil {
			return nil, err
		}
		if st.SenderKey != senderKey || r.SenderKey != senderKey {
			return nil, fmt.Errorf("%w: olm session filed under another key", ErrCorruptedStore)
		}
		s, err := olm.UnpickleSession(st.Session, t.m.key[:])
		if err != nil {
			return nil, err
		}
		if s.SessionID() != r.SessionID {
			return nil, fmt.Errorf("%w: olm session filed under another ID", ErrCorruptedStore)
		}
		st.Session = ""
		ss = append(ss, &olmSession{s: s, state: st})
	}
	sortOlm(ss)
	if len(ss) > 0 {
		// Empty entries are not cached: anyone can name any sender key.
		c.olm[senderKey] = ss
	}
	return ss, nil
}

// sortOlm orders sessions as the specification says to pick one for
// sending: the one that most recently received a message (or, if none has,
// was created) first.
func sortOlm(ss []*olmSession) {
	used := func(s *olmSession) int64 {
		if s.state.LastReceived != 0 {
			return s.state.LastReceived
		}
		return s.state.Created
	}
	sort.SliceStable(ss, func(i, j int) bool { return used(ss[i]) > used(ss[j]) })
}

func (t *txn) putOlm(s *olmSession) error {
	rec, err := t.m.olmRecord(s)
	if err != nil {
		return err
	}
	return storeErr(t.tx.PutOlmSession(rec))
}

// olmRecord pickles and seals a session; it only reads the session, so
// several may run at once on different sessions.
func (m *Machine) olmRecord(s *olmSession) (OlmSessionRecord, error) {
	p, err := s.s.Pickle(m.key[:])
	if err != nil {
		return OlmSessionRecord{}, err
	}
	st := s.state
	st.Session = p
	b, err := m.seal(kindOlm, st)
	if err != nil {
		return OlmSessionRecord{}, err
	}
	return OlmSessionRecord{SenderKey: st.SenderKey, SessionID: s.s.SessionID(), Pickle: b}, nil
}

// putOlms writes back many sessions, pickling them on every core.
func (t *txn) putOlms(ss []*olmSession) error {
	if len(ss) < 16 {
		for _, s := range ss {
			if err := t.putOlm(s); err != nil {
				return err
			}
		}
		return nil
	}
	recs := make([]OlmSessionRecord, len(ss))
	errs := make([]error, len(ss))
	parallel(len(ss), func(i int) { recs[i], errs[i] = t.m.olmRecord(ss[i]) })
	for i := range ss {
		if errs[i] != nil {
			return errs[i]
		}
		if err := t.tx.PutOlmSession(recs[i]); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// parallel runs f(0) … f(n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// maxOlmPerSender bounds the Olm sessions kept with one identity key: a
// new one beyond it deletes the one least recently used. A device makes a
// new session with us only when it lost or gave up its old one (at most
// once an hour when wedged), and uses its newest; without the bound,
// anyone could open a session per to-device event on our fallback key,
// all under one identity key, each kept for good and tried for every
// normal message that key sends (up to olm.MaxMessageGap chain steps
// each). The record of the pre-key message that made a deleted session
// stays, so that its replay is still refused.
const maxOlmPerSender = 16

func (t *txn) addOlm(senderKey string, s *olm.Session) (*olmSession, error) {
	ss, err := t.olmSessions(senderKey)
	if err != nil {
		return nil, err
	}
	os := &olmSession{s: s, state: olmState{SenderKey: senderKey, Created: ms(t.now)}}
	ss = append([]*olmSession{os}, ss...)
	for len(ss) > maxOlmPerSender {
		// The list is sorted by last use (sortOlm), newest first.
		old := ss[len(ss)-1]
		ss[len(ss)-1] = nil
		ss = ss[:len(ss)-1]
		delete(t.dirtyOlm, old)
		if err := storeErr(t.tx.DeleteOlmSession(senderKey, old.s.SessionID())); err != nil {
			return nil, err
		}
		// Wiped now: a failed transaction reloads the sessions from
		// the store into a new cache.
		old.s.Close()
	}
	t.m.c.olm[senderKey] = ss
	t.dirtyOlm[os] = true
	return os, nil
}

// olmContent is the content of an m.room.encrypted to-device event.
type olmContent struct {
	Algorithm  string                      `json:"algorithm"`
	SenderKey  string                      `json:"sender_key"`
	Ciphertext map[string]olmCiphertextObj `json:"ciphertext"`
}

type olmCiphertextObj struct {
	Type int    `json:"type"`
	Body string `json:"body"`
}

// maxOlmBody is the longest base64 body accepted.
const maxOlmBody = (olm.MaxMessageSize*4)/3 + 4

// decryptOlm decrypts an Olm to-device event and checks its payload.
func (t *txn) decryptOlm(sender string, raw json.RawMessage) (*olm.Payload, olm.Curve25519PublicKey, *deviceState, error) {
	var zero olm.Curve25519PublicKey
	var c olmContent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, zero, nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if c.Algorithm != olm.AlgorithmOlm {
		return nil, zero, nil, fmt.Errorf("%w: %q", ErrUnknownAlgorithm, c.Algorithm)
	}
	senderKey, err := olm.ParseCurve25519PublicKey(c.SenderKey)
	if err != nil {
		return nil, zero, nil, fmt.Errorf("%w: sender_key: %v", ErrMalformedEvent, err)
	}
	a, err := t.account()
	if err != nil {
		return nil, zero, nil, err
	}
	ourCurve, ourEd := a.IdentityKeys()
	obj, ok := c.Ciphertext[ourCurve.String()]
	if !ok {
		return nil, senderKey, nil, ErrNotForUs
	}
	if len(obj.Body) > maxOlmBody {
		return nil, senderKey, nil, fmt.Errorf("%w: %w", ErrMalformedEvent, olm.ErrMessageTooLarge)
	}
	body, err := base64.RawStdEncoding.DecodeString(obj.Body)
	if err != nil {
		body, err = base64.StdEncoding.DecodeString(obj.Body)
	}
	if err != nil {
		return nil, senderKey, nil, fmt.Errorf("%w: body: %v", ErrMalformedEvent, err)
	}
	if obj.Type != int(olm.MessageTypePreKey) && obj.Type != int(olm.MessageTypeNormal) {
		return nil, senderKey, nil, fmt.Errorf("%w: olm message type %d", ErrMalformedEvent, obj.Type)
	}
	msg, err := olm.ParseMessage(olm.MessageType(obj.Type), body)
	if err != nil {
		return nil, senderKey, nil, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	sk := senderKey.String()
	ss, err := t.olmSessions(sk)
	if err != nil {
		return nil, senderKey, nil, err
	}
	var plain []byte
	var used *olmSession
	switch msg := msg.(type) {
	case *olm.NormalMessage:
		for _, s := range ss {
			if p, err := s.s.Decrypt(msg); err == nil {
				plain, used = p, s
				break
			}
		}
		h := sha256.Sum256(append([]byte(sk+"\x00"), body...))
		hash := "normal\x00" + hex.EncodeToString(h[:])
		if used != nil {
			if err := t.putNormalHash(hash); err != nil {
				return nil, senderKey, nil, err
			}
		}
		if used == nil {
			seen, err := t.tx.Get(NSOlmHashes, hash)
			if err != nil && !isNotFound(err) {
				return nil, senderKey, nil, storeErr(err)
			}
			if seen != nil {
				// A replay, not a wedged session: no new session.
				return nil, senderKey, nil, fmt.Errorf("%w: olm message already decrypted", ErrReplay)
			}
			if err := t.markWedged(sender, sk); err != nil {
				return nil, senderKey, nil, err
			}
			return nil, senderKey, nil, fmt.Errorf("%w: no session with %s decrypts it", ErrOlmDecrypt, sk)
		}
	case *olm.PreKeyMessage:
		if msg.IdentityKey() != senderKey {
			return nil, senderKey, nil, fmt.Errorf("%w: pre-key message from another identity key", ErrMalformedEvent)
		}
		h := sha256.Sum256(append([]byte(sk+"\x00"), body...))
		hash := hex.EncodeToString(h[:])
		seen, err := t.tx.Get(NSOlmHashes, hash)
		if err != nil && !isNotFound(err) {
			return nil, senderKey, nil, storeErr(err)
		}
		if seen != nil {
			return nil, senderKey, nil, fmt.Errorf("%w: pre-key message already used", ErrReplay)
		}
		matched := false
		for _, s := range ss {
			if !s.s.Matches(msg) {
				continue
			}
			matched = true
			if p, err := s.s.Decrypt(msg); err == nil {
				plain, used = p, s
			}
			break
		}
		if matched && used == nil {
			// The one-time key was spent on this session: never make
			// another from the same message.
			return nil, senderKey, nil, fmt.Errorf("%w: the matching session does not decrypt it", ErrOlmDecrypt)
		}
		if used == nil {
			s, p, err := a.NewInboundSession(senderKey, msg)
			if err != nil {
				return nil, senderKey, nil, fmt.Errorf("%w: %w", ErrOlmDecrypt, err)
			}
			t.accountDirty = true
			if len(ss) > 0 {
				// The device had a session with us and made a new one:
				// its old one was wedged, and the room keys we sent over
				// it may be lost. Share them again (matrix-rust-sdk's
				// olm_wedging_index).
				if err := t.reshareTo(sender, sk); err != nil {
					return nil, senderKey, nil, err
				}
			}
			if used, err = t.addOlm(sk, s); err != nil {
				return nil, senderKey, nil, err
			}
			plain = p
			// Remember the message that made the session: replayed, it
			// must not make a second one (with a fallback key it could).
			// Messages that an existing session decrypted need no record:
			// their session matches them again and refuses the spent key.
			// So there is one record per session made from a pre-key
			// message, no more.
			if err := t.tx.Put(NSOlmHashes, hash, []byte(fmt.Sprint(ms(t.now)))); err != nil {
				return nil, senderKey, nil, storeErr(err)
			}
		}
	default:
		return nil, senderKey, nil, fmt.Errorf("%w: olm message type", ErrMalformedEvent)
	}
	used.state.LastReceived = ms(t.now)
	t.dirtyOlm[used] = true
	sortOlm(t.m.c.olm[sk])

	check := olm.PayloadCheck{Sender: sender, SenderKey: senderKey, Recipient: t.m.userID, RecipientEd25519: ourEd}
	dev, err := t.deviceByCurve(sender, sk)
	if err != nil {
		return nil, senderKey, nil, err
	}
	if dev != nil {
		if check.SenderEd25519, err = olm.ParseEd25519PublicKey(dev.Ed); err != nil {
			return nil, senderKey, nil, fmt.Errorf("%w: device key", ErrCorruptedStore)
		}
	}
	p, err := olm.ParsePayload(plain, check)
	if err != nil {
		return nil, senderKey, dev, err
	}
	if dev != nil && dev.Dehydrated {
		// MSC3814: a dehydrated device sends nothing; whoever holds its
		// key (anyone who can read our secret storage) could.
		return nil, senderKey, dev, fmt.Errorf("%w: to-device event from a dehydrated device", ErrUntrustedSender)
	}
	return p, senderKey, dev, nil
}

// encryptOlm encrypts an event for a device with the session picked by the
// specification's rule; ok is false if there is no session.
func (t *txn) encryptOlm(d *deviceState, eventType string, content json.RawMessage) (json.RawMessage, bool, error) {
	ss, err := t.olmSessions(d.Curve)
	if err != nil || len(ss) == 0 {
		return nil, false, err
	}
	a, err := t.account()
	if err != nil {
		return nil, false, err
	}
	out, err := encryptOlmWith(a, t.m.userID, ss[0], d, eventType, content)
	if err != nil {
		return nil, false, err
	}
	t.dirtyOlm[ss[0]] = true
	return out, true, nil
}

// encryptOlmWith encrypts with one session. It reads the account only, so
// several may run at once on different sessions.
func encryptOlmWith(a *olm.Account, userID string, s *olmSession, d *deviceState, eventType string, content json.RawMessage) (json.RawMessage, error) {
	ed, err := olm.ParseEd25519PublicKey(d.Ed)
	if err != nil {
		return nil, fmt.Errorf("%w: device key", ErrCorruptedStore)
	}
	plain, err := olm.NewPayload(a, userID, d.UserID, ed, eventType, content)
	if err != nil {
		return nil, err
	}
	msg, err := s.s.Encrypt(plain)
	if err != nil {
		return nil, err
	}
	return json.Marshal(olmContent{
		Algorithm: olm.AlgorithmOlm,
		SenderKey: a.Curve25519Key().String(),
		Ciphertext: map[string]olmCiphertextObj{d.Curve: {
			Type: int(msg.Type()),
			Body: base64.RawStdEncoding.EncodeToString(msg.Bytes()),
		}},
	})
}

// claimBatch is an in-flight /keys/claim.
type claimBatch struct {
	devices []*deviceState
	unwedge bool
}

func buildClaim(devs []*deviceState) json.RawMessage {
	otk := map[string]map[string]string{}
	for _, d := range devs {
		if otk[d.UserID] == nil {
			otk[d.UserID] = map[string]string{}
		}
		otk[d.UserID][d.DeviceID] = "signed_curve25519"
	}
	b, _ := json.Marshal(map[string]any{"one_time_keys": otk, "timeout": 10000})
	return b
}

// handleClaim opens Olm sessions with the claimed keys whose signature
// verifies; the devices without one are recorded for m.no_olm.
func (t *txn) handleClaim(cb *claimBatch, body []byte) error {
	var resp struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("%w: keys/claim: %v", ErrBadResponse, err)
	}
	a, err := t.account()
	if err != nil {
		return err
	}
	for _, want := range cb.devices {
		d, err := t.device(want.UserID, want.DeviceID)
		if err != nil {
			return err
		}
		if d == nil || d.Curve != want.Curve {
			continue
		}
		made := false
		for keyID, data := range resp.OneTimeKeys[d.UserID][d.DeviceID] {
			if len(keyID) < 18 || keyID[:18] != "signed_curve25519:" {
				continue
			}
			ed, err := olm.ParseEd25519PublicKey(d.Ed)
			if err != nil {
				return fmt.Errorf("%w: device key", ErrCorruptedStore)
			}
			otk, _, err := olm.VerifySignedKey(data, d.UserID, d.DeviceID, ed)
			if err != nil {
				t.m.notice(Notice{UserID: d.UserID, DeviceID: d.DeviceID, Err: err})
				break
			}
			curve, err := olm.ParseCurve25519PublicKey(d.Curve)
			if err != nil {
				return fmt.Errorf("%w: device key", ErrCorruptedStore)
			}
			s, err := a.NewOutboundSession(curve, otk)
			if err != nil {
				t.m.notice(Notice{UserID: d.UserID, DeviceID: d.DeviceID, Err: err})
				break
			}
			if _, err := t.addOlm(d.Curve, s); err != nil {
				return err
			}
			made = true
			break
		}
		changed := false
		if made && d.NoOlmSent {
			d.NoOlmSent, changed = false, true
		}
		// Remember a failure so that sharing sends m.no_olm once and
		// claims again only after a backoff (claimRetryAfter).
		if err := t.recordClaim(d, made); err != nil {
			return err
		}
		if made {
			if err := t.answerDeferred(d); err != nil {
				return err
			}
		}
		if made && cb.unwedge {
			d.LastUnwedge, changed = ms(t.now), true
			dummy, ok, err := t.encryptOlm(d, "m.dummy", json.RawMessage(`{}`))
			if err != nil {
				return err
			}
			if ok {
				if err := t.queueToDevice("m.room.encrypted", map[string]map[string]json.RawMessage{d.UserID: {d.DeviceID: dummy}}, ""); err != nil {
					return err
				}
			}
		}
		if changed {
			if err := t.putDevice(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// reshareTo forgets that our current room keys were shared with the
// device of user with identity key curve, so that the next ShareRoomKey of
// each room sends them again.
func (t *txn) reshareTo(user, curve string) error {
	d, err := t.deviceByCurve(user, curve)
	if err != nil || d == nil {
		return err
	}
	rooms, err := t.tx.List(NSRooms)
	if err != nil {
		return storeErr(err)
	}
	for _, r := range rooms {
		o, err := t.outbound(r.Key)
		if err != nil {
			return err
		}
		if o == nil {
			continue
		}
		if sh, ok := o.state.Shared[d.key()]; ok && sh.Withheld == "" {
			delete(o.state.Shared, d.key())
			o.state.NeedsShare = true
			if err := t.putOutbound(o); err != nil {
				return err
			}
		}
	}
	return nil
}
