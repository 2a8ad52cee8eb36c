package qrlogin_test

import (
	"errors"
	"testing"

	"github.com/souverain/e2ee/megolm"
	"github.com/souverain/e2ee/olm"
	"github.com/souverain/e2ee/qrlogin"
)

// TestSharedSentinels: this package's sentinels that share a name with
// another package's are the same value.
func TestSharedSentinels(t *testing.T) {
	for name, pair := range map[string][2]error{
		"ErrBadPublicKey":     {qrlogin.ErrBadPublicKey, olm.ErrBadPublicKey},
		"ErrBadMessageMAC":    {qrlogin.ErrBadMessageMAC, olm.ErrBadMessageMAC},
		"ErrBadMessageFormat": {qrlogin.ErrBadMessageFormat, megolm.ErrBadMessageFormat},
		"ErrMessageTooLarge":  {qrlogin.ErrMessageTooLarge, megolm.ErrMessageTooLarge},
	} {
		if !errors.Is(pair[0], pair[1]) || !errors.Is(pair[1], pair[0]) {
			t.Errorf("%s: not one value", name)
		}
	}
}
