package keybackup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/souverain/e2ee/keybackup"
	"github.com/souverain/e2ee/megolm"
)

// backupFixture is a backup of n room keys as the server would return it.
type backupFixture struct {
	key     *keybackup.BackupKey
	keys    []roomKey
	entries []keybackup.BackupEntry // sorted as ParseRoomKeys sorts them
}

func newBackupFixture(t testing.TB, n int) *backupFixture {
	t.Helper()
	bk, err := keybackup.GenerateBackupKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &backupFixture{key: bk}
	var upload []keybackup.BackupEntry
	byID := map[string]roomKey{}
	for i := range n {
		r := newRoomKey(t, fmt.Sprintf("message %d", i))
		room := fmt.Sprintf("!room%d:example.org", i%7)
		e, err := bk.PublicKey().NewBackupEntry(room, r.out.SessionID(), r.backedUp(), 0, i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		upload = append(upload, e)
		byID[r.out.SessionID()] = r
	}
	body, err := keybackup.MarshalRoomKeys(upload)
	if err != nil {
		t.Fatal(err)
	}
	if f.entries, err = keybackup.ParseRoomKeys(body); err != nil {
		t.Fatal(err)
	}
	if len(f.entries) != n {
		t.Fatalf("%d entries after the round trip, want %d", len(f.entries), n)
	}
	for _, e := range f.entries {
		f.keys = append(f.keys, byID[e.SessionID])
	}
	return f
}

func TestDecryptAll(t *testing.T) {
	f := newBackupFixture(t, 60)
	for _, workers := range []int{0, 1, 2, 3, 16, 100} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			res := f.key.DecryptAll(context.Background(), f.entries, &keybackup.DecryptAllOptions{Workers: workers})
			if len(res) != len(f.entries) {
				t.Fatalf("%d results", len(res))
			}
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("entry %d: %v", i, r.Err)
				}
				if r.RoomID != f.entries[i].RoomID || r.SessionID != f.entries[i].SessionID {
					t.Fatalf("result %d is for %s/%s, want %s/%s", i, r.RoomID, r.SessionID, f.entries[i].RoomID, f.entries[i].SessionID)
				}
				if r.Data.FirstMessageIndex != 0 || r.Data.ForwardedCount != 0 {
					t.Fatalf("metadata %+v", r.Data)
				}
				f.keys[i].checkDecrypts(t, r.Inbound, megolm.ProvenanceBackup)
			}
		})
	}
	if res := f.key.DecryptAll(context.Background(), nil, nil); len(res) != 0 {
		t.Fatal("results for no entries")
	}
}

// TestDecryptAllDamagedEntries mixes damaged entries into a backup: each
// gets its own error, the others are restored.
func TestDecryptAllDamagedEntries(t *testing.T) {
	f := newBackupFixture(t, 20)
	entries := append([]keybackup.BackupEntry{}, f.entries...)
	other, _ := keybackup.GenerateBackupKey()
	foreign, _ := other.PublicKey().NewBackupEntry("!r:x", f.entries[3].SessionID, f.keys[3].backedUp(), 0, false)

	var d map[string]any
	json.Unmarshal(entries[5].Data, &d)
	d["session_data"].(map[string]any)["mac"] = "AAAAAAAAAAA"
	badMAC, _ := json.Marshal(d)

	damage := map[int]struct {
		data json.RawMessage
		id   string
		want error
	}{
		1:  {json.RawMessage(`{"first_message_index":0}`), "", keybackup.ErrBadFormat},
		2:  {json.RawMessage(`"not an object"`), "", keybackup.ErrBadFormat},
		3:  {foreign.Data, "", keybackup.ErrBadMAC},
		5:  {badMAC, "", keybackup.ErrBadMAC},
		8:  {json.RawMessage(`{"session_data":{"ephemeral":"AA","ciphertext":"","mac":""}}`), "", keybackup.ErrBadFormat},
		13: {entries[14].Data, "", keybackup.ErrBadMAC}, // served under another session's ID
		17: {json.RawMessage(`{"first_message_index":-1,"session_data":{}}`), "", keybackup.ErrBadFormat},
	}
	for i, dmg := range damage {
		entries[i].Data = dmg.data
	}
	res := f.key.DecryptAll(context.Background(), entries, &keybackup.DecryptAllOptions{Workers: 3})
	for i, r := range res {
		dmg, damaged := damage[i]
		if !damaged {
			if r.Err != nil {
				t.Fatalf("entry %d: %v", i, r.Err)
			}
			f.keys[i].checkDecrypts(t, r.Inbound, megolm.ProvenanceBackup)
			continue
		}
		if !errors.Is(r.Err, dmg.want) {
			t.Fatalf("entry %d: err = %v, want %v", i, r.Err, dmg.want)
		}
		if r.Session != nil || r.Inbound != nil {
			t.Fatalf("entry %d: session returned with error", i)
		}
	}
}

func TestDecryptAllProgress(t *testing.T) {
	f := newBackupFixture(t, 40)
	var inside atomic.Int32
	var calls []int
	total := 0
	res := f.key.DecryptAll(context.Background(), f.entries, &keybackup.DecryptAllOptions{
		Workers: 4,
		Progress: func(done, n int) {
			if inside.Add(1) != 1 {
				t.Error("overlapping progress calls")
			}
			calls = append(calls, done)
			total = n
			inside.Add(-1)
		},
	})
	if len(res) != 40 || total != 40 || len(calls) != 40 {
		t.Fatalf("%d results, total %d, %d calls", len(res), total, len(calls))
	}
	for i, c := range calls {
		if c != i+1 {
			t.Fatalf("call %d reported %d", i, c)
		}
	}
}

func TestDecryptAllCancel(t *testing.T) {
	f := newBackupFixture(t, 30)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range f.key.DecryptAll(ctx, f.entries, nil) {
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("err = %v", r.Err)
		}
	}

	// Cancelled part way: the result is complete, entries finished before
	// the cancellation are restored, the rest carry the context's error.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	res := f.key.DecryptAll(ctx, f.entries, &keybackup.DecryptAllOptions{
		Workers: 1,
		Progress: func(done, _ int) {
			if done == 10 {
				cancel()
			}
		},
	})
	if len(res) != 30 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if i < 10 && r.Err != nil || i >= 10 && !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
}

func TestParseRoomKeys(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"rooms":[]}`, `{"rooms":{"!r":{"sessions":[]}}}`} {
		if _, err := keybackup.ParseRoomKeys([]byte(bad)); !errors.Is(err, keybackup.ErrBadFormat) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	got, err := keybackup.ParseRoomKeys([]byte(`{"rooms":{"!b":{"sessions":{"y":{},"x":1}},"!a":{"sessions":{"z":null}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range got {
		order = append(order, e.RoomID+"/"+e.SessionID+"="+string(e.Data))
	}
	if fmt.Sprint(order) != "[!a/z=null !b/x=1 !b/y={}]" {
		t.Fatalf("order %v", order)
	}
	if empty, err := keybackup.ParseRoomKeys([]byte(`{}`)); err != nil || len(empty) != 0 {
		t.Fatalf("empty: %v, %v", empty, err)
	}
}
