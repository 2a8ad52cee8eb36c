// Package filestore is a machine.Store that survives restarts: the in-memory
// store (machine/memstore) plus an append-only journal on disk.
//
// Each committed transaction appends one record to the journal (its writes,
// length-prefixed and CRC-checked) and syncs the file before the in-memory
// transaction commits; a failed append rolls the transaction back, so the
// store is as before Begin. Opening replays the journal; a record torn by a
// crash is not committed and is cut off. The records hold only what the
// machine gives a store: pickles encrypted under the pickle key and index
// fields.
//
// It is the example bot's stand-in for the SQL store (store/sql): it never
// compacts, so its file grows with every transaction, and it keeps every
// record in memory.
package filestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/souverain/e2ee/machine"
	"github.com/souverain/e2ee/machine/memstore"
)

// maxRecord bounds one journal record (a key backup restore writes many
// sessions in one transaction).
const maxRecord = 1 << 30

// ErrCorruptJournal means the journal holds a record that is complete but
// does not check out (not a torn tail).
var ErrCorruptJournal = errors.New("filestore: corrupt journal")

// Store is a machine.Store kept in a journal file.
type Store struct {
	mem *memstore.Store
	f   *os.File
}

// Open opens or creates the journal at path and replays it.
func Open(ctx context.Context, path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	s := &Store{mem: memstore.New(), f: f}
	good, err := s.replay(ctx)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Cut a torn tail so that the next record starts at a record boundary.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return s, nil
}

// replay applies every complete record and returns the offset after the
// last one.
func (s *Store) replay(ctx context.Context) (int64, error) {
	r := bufio.NewReader(s.f)
	var off int64
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil // end, or a torn header
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n > maxRecord {
			return 0, fmt.Errorf("%w: record of %d bytes at offset %d", ErrCorruptJournal, n, off)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return off, nil // torn body
		}
		if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(hdr[4:]) {
			// A torn write leaves a short file, not a bad checksum,
			// unless it is the last record: cut it then.
			if _, err := r.Peek(1); err == io.EOF {
				return off, nil
			}
			return 0, fmt.Errorf("%w: bad checksum at offset %d", ErrCorruptJournal, off)
		}
		var ops []op
		if err := json.Unmarshal(body, &ops); err != nil {
			return 0, fmt.Errorf("%w: offset %d: %v", ErrCorruptJournal, off, err)
		}
		tx, err := s.mem.Begin(ctx)
		if err != nil {
			return 0, err
		}
		for _, o := range ops {
			if err := o.apply(tx); err != nil {
				tx.Rollback()
				return 0, fmt.Errorf("%w: offset %d: %v", ErrCorruptJournal, off, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		off += 8 + int64(n)
	}
}

// Begin starts a transaction, waiting until the previous one ends or ctx is
// done.
func (s *Store) Begin(ctx context.Context) (machine.Tx, error) {
	mtx, err := s.mem.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: mtx, s: s}, nil
}

// Close closes the store and its file.
func (s *Store) Close() error {
	s.mem.Close()
	return s.f.Close()
}

// append writes one record and syncs it.
func (s *Store) append(ops []op) error {
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if len(body) > maxRecord {
		return fmt.Errorf("filestore: transaction of %d bytes is too large", len(body))
	}
	var buf bytes.Buffer
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(body)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.ChecksumIEEE(body))
	buf.Write(hdr[:])
	buf.Write(body)
	off, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		s.f.Truncate(off)
		s.f.Seek(off, io.SeekStart)
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.f.Truncate(off)
		s.f.Seek(off, io.SeekStart)
		return err
	}
	return nil
}

// op is one write of a transaction.
type op struct {
	Op       string                              `json:"op"`
	Account  *machine.AccountRecord              `json:"account,omitempty"`
	Olm      *machine.OlmSessionRecord           `json:"olm,omitempty"`
	Inbound  *machine.InboundGroupSessionRecord  `json:"inbound,omitempty"`
	Replay   *machine.ReplayRecord               `json:"replay,omitempty"`
	Outbound *machine.OutboundGroupSessionRecord `json:"outbound,omitempty"`
	Device   *machine.DeviceRecord               `json:"device,omitempty"`
	A        string                              `json:"a,omitempty"`
	B        string                              `json:"b,omitempty"`
	NS       machine.Namespace                   `json:"ns,omitempty"`
	Value    []byte                              `json:"value"`
}

func (o op) apply(tx machine.Tx) error {
	switch o.Op {
	case "account":
		return tx.PutAccount(*o.Account)
	case "olm":
		return tx.PutOlmSession(*o.Olm)
	case "del-olm":
		return tx.DeleteOlmSession(o.A, o.B)
	case "inbound":
		return tx.PutInboundGroupSession(*o.Inbound)
	case "del-inbound":
		return tx.DeleteInboundGroupSession(o.A, o.B)
	case "replay":
		return tx.PutReplayRecord(*o.Replay)
	case "outbound":
		return tx.PutOutboundGroupSession(*o.Outbound)
	case "del-outbound":
		return tx.DeleteOutboundGroupSession(o.A)
	case "device":
		return tx.PutDevice(*o.Device)
	case "del-device":
		return tx.DeleteDevice(o.A, o.B)
	case "put":
		return tx.Put(o.NS, o.A, o.Value)
	case "del":
		return tx.Delete(o.NS, o.A)
	}
	return fmt.Errorf("unknown operation %q", o.Op)
}

// tx records the writes of a memstore transaction and journals them at
// Commit.
type tx struct {
	machine.Tx
	s    *Store
	ops  []op
	done bool
}

// do applies a write to the memstore transaction and records it.
func (t *tx) do(o op) error {
	if err := o.apply(t.Tx); err != nil {
		return err
	}
	t.ops = append(t.ops, o)
	return nil
}

func (t *tx) Commit() error {
	if t.done {
		return t.Tx.Commit() // ErrTxDone
	}
	t.done = true
	if len(t.ops) > 0 {
		if err := t.s.append(t.ops); err != nil {
			t.Tx.Rollback()
			return fmt.Errorf("filestore: commit: %w", err)
		}
	}
	return t.Tx.Commit()
}

func (t *tx) Rollback() error {
	t.done = true
	return t.Tx.Rollback()
}

func (t *tx) PutAccount(r machine.AccountRecord) error {
	return t.do(op{Op: "account", Account: &r})
}

func (t *tx) PutOlmSession(r machine.OlmSessionRecord) error {
	return t.do(op{Op: "olm", Olm: &r})
}

func (t *tx) DeleteOlmSession(senderKey, sessionID string) error {
	return t.do(op{Op: "del-olm", A: senderKey, B: sessionID})
}

func (t *tx) PutInboundGroupSession(r machine.InboundGroupSessionRecord) error {
	return t.do(op{Op: "inbound", Inbound: &r})
}

func (t *tx) DeleteInboundGroupSession(roomID, sessionID string) error {
	return t.do(op{Op: "del-inbound", A: roomID, B: sessionID})
}

func (t *tx) PutReplayRecord(r machine.ReplayRecord) error {
	return t.do(op{Op: "replay", Replay: &r})
}

func (t *tx) PutOutboundGroupSession(r machine.OutboundGroupSessionRecord) error {
	return t.do(op{Op: "outbound", Outbound: &r})
}

func (t *tx) DeleteOutboundGroupSession(roomID string) error {
	return t.do(op{Op: "del-outbound", A: roomID})
}

func (t *tx) PutDevice(r machine.DeviceRecord) error {
	return t.do(op{Op: "device", Device: &r})
}

func (t *tx) DeleteDevice(userID, deviceID string) error {
	return t.do(op{Op: "del-device", A: userID, B: deviceID})
}

func (t *tx) Put(ns machine.Namespace, key string, value []byte) error {
	return t.do(op{Op: "put", NS: ns, A: key, Value: value})
}

func (t *tx) Delete(ns machine.Namespace, key string) error {
	return t.do(op{Op: "del", NS: ns, A: key})
}
