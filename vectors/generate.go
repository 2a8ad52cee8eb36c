package vectors

// The generated files in data/ come from interop/cmd/vectorgen, which needs
// libolm (cgo); its test in the interop module fails when they are stale.
//go:generate sh -c "cd ../interop && go run ./cmd/vectorgen -out ../vectors/data"
