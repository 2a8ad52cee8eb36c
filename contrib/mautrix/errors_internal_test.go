package mautrix

import (
	"errors"
	"fmt"
	"testing"

	"maunium.net/go/mautrix/crypto/olm"

	solm "github.com/souverain/e2ee/olm"
)

// Every souverain sentinel maps to its mautrix-go counterpart, and both stay
// visible to errors.Is.
func TestMapError(t *testing.T) {
	for _, m := range errorMap {
		t.Run(m.ours.Error(), func(t *testing.T) {
			err := mapError("op", fmt.Errorf("pkg: op: %w", m.ours))
			if !errors.Is(err, m.theirs) {
				t.Errorf("mapError(%v) = %v, does not wrap %v", m.ours, err, m.theirs)
			}
			if !errors.Is(err, m.ours) {
				t.Errorf("mapError(%v) = %v, lost the souverain error", m.ours, err)
			}
		})
	}
	if err := mapError("op", nil); err != nil {
		t.Errorf("mapError(nil) = %v", err)
	}
	other := errors.New("other")
	err := mapError("op", other)
	if !errors.Is(err, other) {
		t.Errorf("mapError(other) = %v, lost the error", err)
	}
	for _, m := range errorMap {
		if errors.Is(err, m.theirs) {
			t.Errorf("mapError(other) = %v wraps %v", err, m.theirs)
		}
	}
	// A sentinel shared by both packages (the pickle errors) maps once.
	if !errors.Is(mapError("op", solm.ErrBadPickleKey), olm.ErrLibolmBadAccountKey) {
		t.Error("pickle key error not mapped")
	}
}
