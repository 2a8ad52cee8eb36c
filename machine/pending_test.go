package machine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// getFailStore fails every Get of account data with errInjected.
type getFailStore struct{ machine.Store }

func (s getFailStore) Begin(ctx context.Context) (machine.Tx, error) {
	tx, err := s.Store.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return getFailTx{tx}, nil
}

type getFailTx struct{ machine.Tx }

func (t getFailTx) Get(ns machine.Namespace, k string) ([]byte, error) {
	if ns == machine.NSAccountData && strings.HasPrefix(k, machine.AccountDataKeyPrefix) {
		return nil, errInjected
	}
	return t.Tx.Get(ns, k)
}

// A store failure while ReceiveAccountData checks whether a key
// description is new must fail the call (the transaction is rolled back):
// before the fix it was taken for "not new" and the bound on key
// descriptions skipped.
func TestReceiveAccountDataStoreError(t *testing.T) {
	st := getFailStore{memstore.New()}
	m, err := machine.New(ctx, machine.Options{UserID: "@alice:x", DeviceID: "ALICE", Store: st, PickleKey: pickleKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ev := accountDataEvent(t, machine.AccountDataKeyPrefix+"k", map[string]string{"algorithm": "m.secret_storage.v1.aes-hmac-sha2"})
	if err := m.ReceiveAccountData(ctx, []json.RawMessage{ev}); !errors.Is(err, errInjected) {
		t.Fatalf("ReceiveAccountData with a failing store: %v", err)
	}
}
