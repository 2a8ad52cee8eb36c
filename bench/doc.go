// Package bench measures souverain side by side with the two libraries a
// Go program would otherwise use for Matrix end-to-end encryption: goolm
// (maunium.net/go/mautrix/crypto/goolm, with mautrix's pure-Go key backup
// and SAS code where goolm has none) and libolm 3.2.13 through cgo.
//
// It is a separate module so that the core module never needs cgo or
// mautrix. Every benchmark is one operation with a sub-benchmark per
// implementation, named Op/impl=NAME, so that
//
//	go test -run='^$' -bench=. -count=6 | tee new.txt
//	benchstat -col /impl new.txt
//
// prints the implementations as columns. Beside souverain, goolm and libolm,
// each operation has impl=floor: the primitives the operation cannot avoid
// (X25519, Ed25519, AES-256-CBC, HMAC-SHA-256 of the same sizes, and the
// random bytes it needs), run back to back with the fastest code available
// to Go, so that each row shows how close it is to the limit. The floor
// primitives themselves are BenchmarkFloor.
//
// Scale benchmarks share a room key with N devices and restore N backup
// entries on 1 and 2 cores; N = 10000 runs only when -bench names it
// (for example -bench='Scale.*/n=10000') or with -large.
//
// BENCHMARKS.md at the root of the repository records a run and what it
// means. The speed goals live in the benchmarks; the tests of this package
// check only correctness and allocation counts, never time.
package bench
