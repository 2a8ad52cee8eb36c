#!/usr/bin/env bash
# Records the run behind BENCHMARKS.md: every benchmark, including the scale
# ones at N = 10000, COUNT times. Each count is a whole pass over the suite,
# so that a burst of load on a shared machine spreads over all
# implementations instead of falling on one. Writes OUT (raw results,
# results/DATE.txt by default), then prints benchstat's comparison and
# benchtable's summary, which BENCHMARKS.md shows.
#
#   ./run.sh [OUT] [COUNT] [BENCHTIME]
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-results/$(date +%F).txt}
count=${2:-6}
benchtime=${3:-300ms}
bin=$(mktemp -d)/bench.test
go test -c -o "$bin" .
: >"$out"
for i in $(seq "$count"); do
  "$bin" -test.run='^$' -test.bench=. -test.benchtime="$benchtime" -large >>"$out"
done
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl "$out"
go run ./cmd/benchtable "$out"
