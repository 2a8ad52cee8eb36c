package megolm

import "github.com/souverain/e2ee/internal/pickle"

type pickleWriter struct{ pickle.Writer }
