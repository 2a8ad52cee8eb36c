package machine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"time"
)

// RequestKind says which endpoint a Request is for.
type RequestKind int

// Request kinds.
const (
	// KindKeysUpload: POST /_matrix/client/v3/keys/upload.
	KindKeysUpload RequestKind = iota + 1
	// KindKeysQuery: POST /_matrix/client/v3/keys/query.
	KindKeysQuery
	// KindKeysClaim: POST /_matrix/client/v3/keys/claim.
	KindKeysClaim
	// KindToDevice: PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId},
	// where txnId is the request's ID.
	KindToDevice
)

// String returns the endpoint's name, such as "keys/upload".
func (k RequestKind) String() string {
	switch k {
	case KindKeysUpload:
		return "keys/upload"
	case KindKeysQuery:
		return "keys/query"
	case KindKeysClaim:
		return "keys/claim"
	case KindToDevice:
		return "sendToDevice"
	case KindSignatureUpload:
		return "keys/signatures/upload"
	case KindKeysBackup:
		return "room_keys/keys"
	case KindDehydratedDevice:
		return "dehydrated_device"
	case KindDehydratedEvents:
		return "dehydrated_device/events"
	}
	return "unknown"
}

// Request is an HTTP request the caller sends to the homeserver for the
// machine, then reports with MarkRequestSent.
type Request struct {
	// ID identifies the request to MarkRequestSent. For KindToDevice it is
	// also the transaction ID in Path, stable across retries and restarts.
	ID   string
	Kind RequestKind
	// Method and Path (below the homeserver's base URL, already escaped)
	// of the HTTP request.
	Method, Path string
	// Body is the JSON body.
	Body json.RawMessage
}

// inflight is a request handed out and not yet marked as sent.
type inflight struct {
	req    Request
	query  *queryBatch
	claim  *claimBatch
	room   string // for claims made by ShareRoomKey
	backup *backupBatch
}

// toDeviceState is a persisted /sendToDevice request.
type toDeviceState struct {
	// Kind, Method and Path are set for requests other than /sendToDevice.
	Kind   RequestKind `json:"kind,omitempty"`
	Method string      `json:"method,omitempty"`
	Path   string      `json:"path,omitempty"`
	Type   string      `json:"type"`
	// Body is the request body, {"messages": ...}, built once.
	Body []byte `json:"body"`
	// Room is the room whose key share this request is part of, if any.
	Room string `json:"room,omitempty"`
	// Seq orders the requests.
	Seq int64 `json:"seq"`
}

func toDeviceRequest(id string, st *toDeviceState) Request {
	if st.Kind != 0 {
		return Request{ID: id, Kind: st.Kind, Method: st.Method, Path: st.Path, Body: st.Body}
	}
	return Request{
		ID: id, Kind: KindToDevice, Method: "PUT",
		Path: "/_matrix/client/v3/sendToDevice/" + url.PathEscape(st.Type) + "/" + url.PathEscape(id),
		Body: st.Body,
	}
}

// queueToDevice persists a /sendToDevice request; it is offered by
// OutgoingRequests until marked as sent.
func (t *txn) queueToDevice(eventType string, msgs map[string]map[string]json.RawMessage, room string) error {
	_, err := t.queueToDeviceID(eventType, msgs, room)
	return err
}

func (t *txn) queueToDeviceID(eventType string, msgs map[string]map[string]json.RawMessage, room string) (string, error) {
	r, err := t.queueToDeviceRequest(eventType, msgs, room)
	return r.ID, err
}

func (t *txn) queueToDeviceRequest(eventType string, msgs map[string]map[string]json.RawMessage, room string) (Request, error) {
	id := newID()
	body, err := json.Marshal(map[string]any{"messages": msgs})
	if err != nil {
		return Request{}, err
	}
	t.m.toDeviceSeq++
	st := toDeviceState{Type: eventType, Body: body, Room: room, Seq: t.now.UnixMilli()*1_000_000 + t.m.toDeviceSeq%1_000_000}
	return toDeviceRequest(id, &st), t.putValue(NSRequests, id, st)
}

// pendingToDevice returns the persisted to-device requests, oldest first,
// only those of room if room is not "".
func (t *txn) pendingToDevice(room string) ([]Request, error) {
	kvs, err := t.tx.List(NSRequests)
	if err != nil {
		return nil, storeErr(err)
	}
	type item struct {
		seq int64
		r   Request
	}
	var items []item
	for _, kv := range kvs {
		var st toDeviceState
		if err := t.m.open(kindValue+string(NSRequests)+"\x00"+kv.Key, kv.Value, &st); err != nil {
			return nil, err
		}
		if room != "" && st.Room != room {
			continue
		}
		if st.Kind == KindSignatureUpload {
			// Signatures wait for the keys of a cross-signing bootstrap
			// to be on the server (ConfirmCrossSigningUpload).
			if held, err := t.bootstrapPending(); err != nil {
				return nil, err
			} else if held {
				continue
			}
		}
		items = append(items, item{st.Seq, toDeviceRequest(kv.Key, &st)})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	out := make([]Request, len(items))
	for i, it := range items {
		out[i] = it.r
	}
	return out, nil
}

// OutgoingRequests returns the requests to send now: key uploads, device
// queries, Olm session claims (for wedged sessions and room key shares) and
// every to-device message not yet marked as sent. A request returned and not
// marked is returned again, with the same ID. Send them, in order, and
// report each with MarkRequestSent.
func (m *Machine) OutgoingRequests(ctx context.Context) ([]Request, error) {
	var out []Request
	err := m.update(ctx, func(t *txn) error {
		var err error
		out, err = t.outgoing()
		return err
	})
	return out, err
}

func (t *txn) outgoing() ([]Request, error) {
	m := t.m
	var out []Request
	if err := t.topUp(nil); err != nil {
		return nil, err
	}
	up, err := t.uploadRequest()
	if err != nil {
		return nil, err
	}
	if up != nil {
		out = append(out, *up)
	}
	// Queries for outdated users not in a query already in flight.
	outdated, err := t.outdatedUsers()
	if err != nil {
		return nil, err
	}
	var queries, claims []Request
	for _, f := range m.inflight {
		switch {
		case f.query != nil:
			for u := range f.query.seqs {
				delete(outdated, u)
			}
			queries = append(queries, f.req)
		case f.claim != nil:
			claims = append(claims, f.req)
		}
	}
	users := make([]string, 0, len(outdated))
	for u := range outdated {
		users = append(users, u)
	}
	sort.Strings(users)
	for len(users) > 0 {
		n := min(len(users), maxQueryUsers)
		q := &queryBatch{seqs: map[string]uint64{}}
		for _, u := range users[:n] {
			q.seqs[u] = outdated[u]
		}
		r := Request{ID: newID(), Kind: KindKeysQuery, Method: "POST", Path: "/_matrix/client/v3/keys/query", Body: m.buildQuery(users[:n])}
		t.addInflight(&inflight{req: r, query: q})
		queries = append(queries, r)
		users = users[n:]
	}
	// New sessions for wedged ones, at most one per device per hour.
	if len(m.unwedge) > 0 {
		var devs []*deviceState
		keys := make([]string, 0, len(m.unwedge))
		for k := range m.unwedge {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			u := m.unwedge[k]
			if u == "" {
				continue
			}
			d, err := t.deviceByCurve(u, k)
			if err != nil {
				return nil, err
			}
			if d == nil {
				delete(m.unwedge, k) // never tracked from here
				continue
			}
			delete(m.unwedge, k)
			if d.Deleted || t.now.Sub(time.UnixMilli(d.LastUnwedge)) < unwedgeInterval {
				continue
			}
			devs = append(devs, d)
		}
		if len(devs) > 0 {
			r := Request{ID: newID(), Kind: KindKeysClaim, Method: "POST", Path: "/_matrix/client/v3/keys/claim", Body: buildClaim(devs)}
			t.addInflight(&inflight{req: r, claim: &claimBatch{devices: devs, unwedge: true}})
			claims = append(claims, r)
		}
	}
	// Sessions for devices waiting for an answer to a request.
	if len(m.needOlm) > 0 {
		var devs []*deviceState
		keys := make([]string, 0, len(m.needOlm))
		for k := range m.needOlm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ud := m.needOlm[k]
			delete(m.needOlm, k)
			d, err := t.device(ud[0], ud[1])
			if err != nil {
				return nil, err
			}
			if d == nil || d.Deleted {
				continue
			}
			if ss, err := t.olmSessions(d.Curve); err != nil {
				return nil, err
			} else if len(ss) > 0 {
				if err := t.answerDeferred(d); err != nil {
					return nil, err
				}
				continue
			}
			devs = append(devs, d)
		}
		if len(devs) > 0 {
			r := Request{ID: newID(), Kind: KindKeysClaim, Method: "POST", Path: "/_matrix/client/v3/keys/claim", Body: buildClaim(devs)}
			t.addInflight(&inflight{req: r, claim: &claimBatch{devices: devs}})
			claims = append(claims, r)
		}
	}
	sort.Slice(queries, func(i, j int) bool { return queries[i].ID < queries[j].ID })
	sort.Slice(claims, func(i, j int) bool { return claims[i].ID < claims[j].ID })
	out = append(out, queries...)
	out = append(out, claims...)
	td, err := t.pendingToDevice("")
	if err != nil {
		return nil, err
	}
	return append(out, td...), nil
}

// MarkRequestSent reports the response to a request: body is the response
// body of a successful (HTTP 200) request. For a request that failed, do
// not call it; the request is offered again (to-device and uploads) or
// rebuilt (queries and claims).
func (m *Machine) MarkRequestSent(ctx context.Context, id string, body []byte) error {
	return m.update(ctx, func(t *txn) error {
		if f, ok := m.inflight[id]; ok {
			delete(m.inflight, id)
			switch {
			case f.query != nil:
				return t.handleQuery(f.query, body)
			case f.claim != nil:
				return t.handleClaim(f.claim, body)
			case f.backup != nil:
				return t.handleBackup(f.backup)
			case f.req.Kind == KindKeysUpload:
				return t.handleUpload(body)
			}
			return nil
		}
		var st toDeviceState
		ok, err := t.getValue(NSRequests, id, &st)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownRequest, id)
		}
		if err := storeErr(t.tx.Delete(NSRequests, id)); err != nil {
			return err
		}
		if st.Kind == KindSignatureUpload {
			// New signatures change what queries say: of our own
			// identity (and so of everyone we evaluate against it), and of
			// the users whose master key we signed.
			return t.markAllOutdated()
		}
		if st.Room != "" {
			o, err := t.outbound(st.Room)
			if err != nil {
				return err
			}
			if o != nil && o.state.Pending[id] {
				delete(o.state.Pending, id)
				return t.putOutbound(o)
			}
		}
		return nil
	})
}
