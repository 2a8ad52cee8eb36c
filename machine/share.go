package machine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
)

// Withheld codes (specification, m.room_key.withheld).
const (
	WithheldBlacklisted  = "m.blacklisted"
	WithheldUnverified   = "m.unverified"
	WithheldUnauthorised = "m.unauthorised"
	WithheldUnavailable  = "m.unavailable"
	WithheldNoOlm        = "m.no_olm"
)

// maxToDeviceMessages is the most devices in one /sendToDevice request
// (matrix-rust-sdk's MAX_TO_DEVICE_MESSAGES).
const maxToDeviceMessages = 250

// claimRetryBase and claimRetryMax bound how long after a /keys/claim
// found no key for a device the machine claims again: 15 s after the first
// failure, doubling with each failure in a row, at most 15 minutes
// (matrix-rust-sdk's FailuresCache). A device that runs out of one-time
// keys and uploads new ones is thus reached again within seconds, and one
// that stays keyless costs a claim every 15 minutes.
const (
	claimRetryBase = 15 * time.Second
	claimRetryMax  = 15 * time.Minute
)

// claimRetryAfter is the wait after n failed claims in a row (n ≥ 1).
func claimRetryAfter(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 16 {
		return claimRetryMax
	}
	return min(claimRetryBase<<(n-1), claimRetryMax)
}

// policy says whether a device gets the room key: "" if it does, else the
// withheld code.
func (t *txn) policy(r *roomState, d *deviceState) string {
	switch {
	case d.Blacklisted:
		return WithheldBlacklisted
	case d.Flagged:
		return WithheldUnverified
	case (t.m.onlyVerified || r.OnlyVerified) && d.verification() != VerificationVerified:
		return WithheldUnverified
	case !t.m.shareUnsigned && d.verification() == VerificationUnsigned && t.hasIdentity(d.UserID):
		return WithheldUnverified
	case d.Dehydrated && d.verification() == VerificationUnsigned:
		// MSC3814: never to a dehydrated device that is not cross-signed,
		// whatever ShareWithUnsignedDevices says.
		return WithheldUnverified
	}
	return ""
}

// hasIdentity reports whether a user published a cross-signing identity
// (a master key we pinned); a store error counts as yes, so that the
// policy fails closed.
func (t *txn) hasIdentity(userID string) bool {
	if has, ok := t.hasID[userID]; ok {
		return has
	}
	var id identityState
	if _, err := t.getValue(NSIdentities, userID, &id); err != nil {
		return true
	}
	if t.hasID == nil {
		t.hasID = map[string]bool{}
	}
	t.hasID[userID] = id.Master != ""
	return id.Master != ""
}

// ShareRoomKey returns the requests needed to share the room's Megolm key
// with the devices of members (the joined members, and the invited ones if
// history visibility allows): first a /keys/query for members whose
// devices are not known or outdated, then a /keys/claim for devices without
// an Olm session, then the /sendToDevice requests carrying m.room_key to
// each device that passes the sharing policy and m.room_key.withheld to the
// others (m.no_olm when no Olm session could be made). Send the requests,
// report each with MarkRequestSent, and call ShareRoomKey again until it
// returns none; then EncryptRoomEvent works. Our own device never gets the
// key; our other devices do.
//
// A new session is made when there is none, when the current one is due
// for rotation, or when a device that got it is no longer among the
// recipients (a member or device left, or the policy now excludes it). The
// /sendToDevice requests are stored before they are returned, so after a
// restart the same requests come back with the same transaction IDs.
func (m *Machine) ShareRoomKey(ctx context.Context, roomID string, members []string) ([]Request, error) {
	var out []Request
	err := m.update(ctx, func(t *txn) error {
		var err error
		out, err = t.share(roomID, members)
		return err
	})
	return out, err
}

func (t *txn) share(roomID string, members []string) ([]Request, error) {
	m := t.m
	r, err := t.room(roomID)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: %s", ErrRoomNotEncrypted, roomID)
	}
	// Pending requests of this room's share go first.
	pending, err := t.pendingToDevice(roomID)
	if err != nil || len(pending) > 0 {
		return pending, err
	}
	users := map[string]bool{m.userID: true}
	for _, u := range members {
		users[u] = true
	}
	for u := range users {
		if err := t.track(u); err != nil {
			return nil, err
		}
	}
	// 1. Device lists.
	outdated, err := t.outdatedUsers()
	if err != nil {
		return nil, err
	}
	waiting := false
	for u := range outdated {
		if users[u] && !m.queryFailed(u) {
			waiting = true
		}
	}
	if waiting {
		return t.queryRequests()
	}
	// 2. Recipients.
	userList := make([]string, 0, len(users))
	for u := range users {
		userList = append(userList, u)
	}
	sort.Strings(userList)
	var recipients, withheld []*deviceState
	codes := map[string]string{}
	for _, u := range userList {
		ds, err := t.devices(u)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.Deleted || (u == m.userID && d.DeviceID == m.deviceID) {
				continue
			}
			if code := t.policy(r, d); code != "" {
				withheld = append(withheld, d)
				codes[d.key()] = code
			} else {
				recipients = append(recipients, d)
			}
		}
	}
	isRecipient := map[string]bool{}
	for _, d := range recipients {
		isRecipient[d.key()] = true
	}
	// 3. The session, rotated if needed.
	o, err := t.outbound(roomID)
	if err != nil {
		return nil, err
	}
	rotate := o == nil || o.expired(t.now) || o.state.PeriodMs != r.PeriodMs || o.state.PeriodMsgs != r.PeriodMsgs
	if o != nil && !rotate {
		for k, sh := range o.state.Shared {
			if sh.Withheld == "" && !isRecipient[k] {
				rotate = true
				break
			}
		}
	}
	if rotate {
		if o, err = t.newOutbound(roomID, r); err != nil {
			return nil, err
		}
	}
	// 4. Olm sessions.
	var need, claim []*deviceState
	for _, d := range recipients {
		if sh, done := o.state.Shared[d.key()]; done && sh.Withheld == "" {
			continue
		}
		need = append(need, d)
		ss, err := t.olmSessions(d.Curve)
		if err != nil {
			return nil, err
		}
		if len(ss) > 0 {
			continue
		}
		failed, n, err := t.claimFailedAt(d)
		if err != nil {
			return nil, err
		}
		if failed.IsZero() || t.now.Sub(failed) >= claimRetryAfter(n) {
			claim = append(claim, d)
		}
	}
	if len(claim) > 0 {
		for _, f := range m.inflight {
			if f.claim != nil && f.room == roomID {
				return []Request{f.req}, nil
			}
		}
		req := Request{ID: newID(), Kind: KindKeysClaim, Method: "POST", Path: "/_matrix/client/v3/keys/claim", Body: buildClaim(claim)}
		t.addInflight(&inflight{req: req, claim: &claimBatch{devices: claim}, room: roomID})
		o.state.DeviceGen = m.deviceGen
		return []Request{req}, t.putOutbound(o)
	}
	// 5. Messages.
	msgs, err := t.encryptRoomKeys(o, r, need)
	if err != nil {
		return nil, err
	}
	var wmsgs []toDevice
	a, err := t.account()
	if err != nil {
		return nil, err
	}
	ourCurve := a.Curve25519Key().String()
	for _, d := range need {
		if sh, done := o.state.Shared[d.key()]; (done && sh.Withheld == "") || d.NoOlmSent {
			continue
		}
		// No Olm session could be made: m.no_olm, once per device.
		c, _ := json.Marshal(withheldContent{Algorithm: olm.AlgorithmMegolm, SenderKey: ourCurve, Code: WithheldNoOlm, Reason: "Unable to establish a secure channel."})
		wmsgs = append(wmsgs, toDevice{d, c})
		d.NoOlmSent = true
		if err := t.putDevice(d); err != nil {
			return nil, err
		}
	}
	for _, d := range withheld {
		code := codes[d.key()]
		if sh, done := o.state.Shared[d.key()]; done && sh.Withheld == code {
			continue
		}
		c, _ := json.Marshal(withheldContent{Algorithm: olm.AlgorithmMegolm, RoomID: roomID, SessionID: o.state.SessionID,
			SenderKey: ourCurve, Code: code, Reason: withheldReason(code)})
		wmsgs = append(wmsgs, toDevice{d, c})
		o.state.Shared[d.key()] = shareState{Curve25519: d.Curve, Withheld: code}
	}
	reqs, err := t.queueChunks("m.room.encrypted", msgs, roomID, o)
	if err != nil {
		return nil, err
	}
	wreqs, err := t.queueChunks("m.room_key.withheld", wmsgs, roomID, o)
	if err != nil {
		return nil, err
	}
	o.state.DeviceGen = m.deviceGen
	o.state.NeedsShare = false
	if err := t.putOutbound(o); err != nil {
		return nil, err
	}
	return append(reqs, wreqs...), nil
}

func withheldReason(code string) string {
	switch code {
	case WithheldBlacklisted:
		return "The sender has blocked you."
	case WithheldUnverified:
		return "The sender has disabled encrypting to unverified devices."
	case WithheldUnauthorised:
		return "You are not authorised to read the message."
	case WithheldUnavailable:
		return "The requested key was not found."
	}
	return ""
}

type toDevice struct {
	d       *deviceState
	content json.RawMessage
}

// queueChunks queues messages in requests of at most maxToDeviceMessages
// devices, recorded as pending on o, and returns them.
func (t *txn) queueChunks(eventType string, msgs []toDevice, roomID string, o *outboundSession) ([]Request, error) {
	var chunks [][]toDevice
	for len(msgs) > 0 {
		n := min(len(msgs), maxToDeviceMessages)
		chunks = append(chunks, msgs[:n])
		msgs = msgs[n:]
	}
	// Bodies and sealed records are built on every core; the store writes
	// stay in this goroutine.
	type built struct {
		r   Request
		rec []byte
		err error
	}
	out := make([]built, len(chunks))
	base := t.now.UnixMilli() * 1_000_000
	seq := t.m.toDeviceSeq
	t.m.toDeviceSeq += int64(len(chunks))
	parallel(len(chunks), func(i int) {
		id := newID()
		body := toDeviceBody(chunks[i])
		st := toDeviceState{Type: eventType, Body: body, Room: roomID, Seq: base + (seq+int64(i)+1)%1_000_000}
		out[i].r = toDeviceRequest(id, &st)
		out[i].rec, out[i].err = t.m.seal(kindValue+string(NSRequests)+"\x00"+id, st)
	})
	reqs := make([]Request, 0, len(out))
	for _, b := range out {
		if b.err != nil {
			return nil, b.err
		}
		if err := t.tx.Put(NSRequests, b.r.ID, b.rec); err != nil {
			return nil, storeErr(err)
		}
		if o.state.Pending == nil {
			o.state.Pending = map[string]bool{}
		}
		o.state.Pending[b.r.ID] = true
		reqs = append(reqs, b.r)
	}
	return reqs, nil
}

// toDeviceBody writes {"messages": {user: {device: content}}} directly: the
// contents are our own compact JSON, so encoding/json's validation and
// compaction of each would only cost time.
func toDeviceBody(msgs []toDevice) []byte {
	byUser := map[string][]toDevice{}
	var users []string
	size := 16
	for _, m := range msgs {
		if byUser[m.d.UserID] == nil {
			users = append(users, m.d.UserID)
		}
		byUser[m.d.UserID] = append(byUser[m.d.UserID], m)
		size += len(m.content) + len(m.d.UserID) + len(m.d.DeviceID) + 8
	}
	sort.Strings(users)
	b := make([]byte, 0, size)
	b = append(b, `{"messages":{`...)
	for i, u := range users {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, u)
		b = append(b, ":{"...)
		for j, m := range byUser[u] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m.d.DeviceID)
			b = append(b, ':')
			b = append(b, m.content...)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// newOutbound starts a new session for the room, and keeps its inbound
// copy so that we can read our own messages.
func (t *txn) newOutbound(roomID string, r *roomState) (*outboundSession, error) {
	s, err := megolm.NewGroupSession()
	if err != nil {
		return nil, err
	}
	in, err := megolm.NewInboundGroupSession(s.SessionKey())
	if err != nil {
		return nil, err
	}
	a, err := t.account()
	if err != nil {
		return nil, err
	}
	curve, ed := a.IdentityKeys()
	if err := t.putInbound(&inboundSession{s: in, state: inboundState{
		RoomID: roomID, SessionID: s.SessionID(), SenderKey: curve.String(), SenderEd25519: ed.String(),
		SenderUser: t.m.userID, SenderDevice: t.m.deviceID, Provenance: ProvenanceDirect,
		SharedHistory: sharedHistory(r),
	}}, false); err != nil {
		return nil, err
	}
	o := &outboundSession{s: s, state: outboundState{
		RoomID: roomID, SessionID: s.SessionID(), Created: ms(t.now),
		PeriodMs: r.PeriodMs, PeriodMsgs: r.PeriodMsgs, Shared: map[string]shareState{},
	}}
	return o, t.putOutbound(o)
}

func sharedHistory(r *roomState) bool {
	return r.HistoryVisibility == "shared" || r.HistoryVisibility == "world_readable"
}

// encryptRoomKeys encrypts the m.room_key for each device that has an Olm
// session, using every core: the Olm encryptions are independent.
func (t *txn) encryptRoomKeys(o *outboundSession, r *roomState, devs []*deviceState) ([]toDevice, error) {
	key, err := json.Marshal(roomKeyContent{
		Algorithm: olm.AlgorithmMegolm, RoomID: o.state.RoomID, SessionID: o.state.SessionID,
		SessionKey: o.s.SessionKey().Encode(), SharedHistory: sharedHistory(r),
	})
	if err != nil {
		return nil, err
	}
	a, err := t.account()
	if err != nil {
		return nil, err
	}
	type job struct {
		d   *deviceState
		s   *olmSession
		out json.RawMessage
		err error
	}
	var jobs []*job
	seen := map[string]bool{}
	for _, d := range devs {
		ss, err := t.olmSessions(d.Curve)
		if err != nil {
			return nil, err
		}
		if len(ss) == 0 || seen[d.Curve] {
			continue // no session, or a second device with the same key
		}
		seen[d.Curve] = true
		jobs = append(jobs, &job{d: d, s: ss[0]})
	}
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		j.out, j.err = encryptOlmWith(a, t.m.userID, j.s, j.d, "m.room_key", key)
	})
	idx := o.s.MessageIndex()
	var out []toDevice
	for _, j := range jobs {
		if j.err != nil {
			return nil, j.err
		}
		t.dirtyOlm[j.s] = true
		o.state.Shared[j.d.key()] = shareState{Curve25519: j.d.Curve, Index: idx}
		out = append(out, toDevice{j.d, j.out})
	}
	return out, nil
}

// queryRequests returns the in-flight and new /keys/query requests.
func (t *txn) queryRequests() ([]Request, error) {
	reqs, err := t.outgoing()
	if err != nil {
		return nil, err
	}
	var out []Request
	for _, r := range reqs {
		if r.Kind == KindKeysQuery {
			out = append(out, r)
		}
	}
	return out, nil
}

// queryFailed reports whether the last query for u did not answer for it;
// sharing then goes on with the devices known.
func (m *Machine) queryFailed(u string) bool { return m.failedQueries[u] }

// claimFailedAt returns when the last claim for d found no key and how many
// claims in a row did (zero time if the last one did not fail). The record
// is "<unix ms> <count>"; records written before the count have none and
// count as one failure.
func (t *txn) claimFailedAt(d *deviceState) (time.Time, int, error) {
	b, err := t.tx.Get(NSValues, claimFailKey(d))
	if isNotFound(err) {
		return time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, 0, storeErr(err)
	}
	var msec int64
	n := 1
	fmt.Sscan(string(b), &msec, &n)
	return time.UnixMilli(msec), n, nil
}

// recordClaim records the outcome of a claim for d: a failure extends the
// run of failures, a success ends it.
func (t *txn) recordClaim(d *deviceState, ok bool) error {
	if ok {
		return storeErr(t.tx.Delete(NSValues, claimFailKey(d)))
	}
	_, n, err := t.claimFailedAt(d)
	if err != nil {
		return err
	}
	return storeErr(t.tx.Put(NSValues, claimFailKey(d), []byte(fmt.Sprint(ms(t.now), " ", n+1))))
}

func claimFailKey(d *deviceState) string { return "claimfail\x00" + d.key() }
