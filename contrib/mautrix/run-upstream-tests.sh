#!/usr/bin/env bash
# Runs mautrix-go's own tests of its crypto packages with the souverain
# driver registered instead of libolm or goolm.
#
# The pinned mautrix-go module (the version in contrib/mautrix/go.mod, or in
# the file given with --modfile, such as go.mautrix-v0.33.mod) is copied
# from the module cache into a temporary directory; there its
# crypto/registerlibolm.go and crypto/registergoolm.go are deleted and
# crypto/register_souverain.go, whose init calls souverain.Register, takes
# their place, with a test that fails unless the driver in force is
# souverain's. `go test` then runs every package under crypto/. Nothing of
# mautrix-go's is kept or committed.
#
# Usage: run-upstream-tests.sh [--modfile FILE] [--baseline] [--keep] [-- go test flags...]
#   --modfile FILE  take mautrix-go's version from FILE instead of go.mod
#   --baseline      also run the same tests, unmodified, with libolm's driver
#   --keep          keep the temporary workspace and print its path
# Exit status: that of `go test` with the souverain driver.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
baseline=false
keep=false
modfile=$here/go.mod
usage="usage: $0 [--modfile FILE] [--baseline] [--keep] [-- go test flags...]"
while [ $# -gt 0 ]; do
	case "$1" in
	--modfile) [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }; modfile=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
	--baseline) baseline=true ;;
	--keep) keep=true ;;
	--) shift; break ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
	shift
done

export GOTOOLCHAIN=local  # mautrix-go's go.mod asks for a newer toolchain; the go line (1.26.0) is what matters
export GOFLAGS=-mod=mod   # let the workspace record the souverain modules in its go.mod/go.sum
export CGO_ENABLED=1      # mautrix-go's store tests use github.com/mattn/go-sqlite3

cd "$here"
version=$(go list -modfile="$modfile" -m -f '{{.Version}}' maunium.net/go/mautrix)
go mod download -modfile="$modfile" maunium.net/go/mautrix
src=$(go list -modfile="$modfile" -m -f '{{.Dir}}' maunium.net/go/mautrix)

work=$(mktemp -d "${TMPDIR:-/tmp}/mautrix-upstream.XXXXXX")
if $keep; then
	echo "workspace: $work"
else
	trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
fi
mkdir "$work/mautrix"
cp -R "$src/." "$work/mautrix/"
chmod -R u+w "$work/mautrix"
cd "$work/mautrix"

echo "== mautrix-go $version from $src"
go mod download

summarize() { # log file of go test -v
	# Top-level tests (subtests are indented) counted per package: a
	# package's results come before its ok/FAIL line.
	awk '
		/^--- PASS/ { p++ } /^--- FAIL/ { f++; failed = failed "\n     " $0 } /^--- SKIP/ { s++ }
		/^(ok|FAIL)[ \t]+maunium/ {
			printf "   %-4s %-52s %3d passed %3d failed %3d skipped%s\n", $1, $2, p, f, s, failed
			tp += p; tf += f; ts += s; p = f = s = 0; failed = ""
		}
		/^\?[ \t]/ { printf "   %-4s %-52s (no test files)\n", "?", $2 }
		END { printf "   total: %d passed, %d failed, %d skipped (top-level tests and fuzz seeds)\n", tp, tf, ts }
	' "$1"
}

if $baseline; then
	echo "== baseline: the same tests with libolm's driver (unmodified)"
	set +e
	go test -count=1 -v "$@" ./crypto/... >"$work/baseline.log" 2>&1
	set -e
	summarize "$work/baseline.log"
	# Undo the go.sum entries the baseline added, so both runs start alike.
	cp "$src/go.mod" "$src/go.sum" .
	chmod u+w go.mod go.sum
fi

rm crypto/registerlibolm.go crypto/registergoolm.go
cat >crypto/register_souverain.go <<'EOF'
// Added by souverain's contrib/mautrix/run-upstream-tests.sh.

package crypto

import souverain "github.com/souverain/e2ee/contrib/mautrix"

func init() {
	souverain.Register()
}
EOF
cat >crypto/register_souverain_test.go <<'EOF'
// Added by souverain's contrib/mautrix/run-upstream-tests.sh.

package crypto

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/crypto/olm"
)

func TestSouverainDriverRegistered(t *testing.T) {
	if olm.Driver != "souverain" {
		t.Fatalf("olm.Driver = %q, want souverain", olm.Driver)
	}
	acc, err := olm.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%T", acc); got != "*mautrix.Account" {
		t.Fatalf("olm.NewAccount made a %s", got)
	}
}
EOF
go mod edit \
	-require=github.com/souverain/e2ee/contrib/mautrix@v0.0.0-00010101000000-000000000000 \
	-replace=github.com/souverain/e2ee/contrib/mautrix="$here" \
	-replace=github.com/souverain/e2ee="$root"
gofmt -l crypto/register_souverain.go crypto/register_souverain_test.go | (! grep .)

# The driver's hooks are called from package crypto (OlmMachine, the crypto
# stores, sessions, cross-signing); these test binaries link it.
echo "== packages whose tests run on the driver (they link maunium.net/go/mautrix/crypto):"
go list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./crypto/... |
	awk '$1 ~ /\.test$/ { sub(/\.test$/, "", $1); for (i = 2; i <= NF; i++) if ($i == "maunium.net/go/mautrix/crypto") { print "   " $1; break } }'

echo "== mautrix-go's crypto tests with the souverain driver"
set +e
go test -count=1 -v "$@" ./crypto/... >"$work/souverain.log" 2>&1
status=$?
set -e
summarize "$work/souverain.log"
if [ $status -ne 0 ]; then
	echo "== go test failed; failing tests and the end of the log:"
	grep -A25 -E '^\s*--- FAIL' "$work/souverain.log" | head -300 || true
	tail -40 "$work/souverain.log"
fi
exit $status
