package olm

import "github.com/souverain/e2ee/internal/pickle"

var pickleDecryptLibolm = pickle.DecryptLibolm
