// Command souverain is the souverain E2EE library's tool.
//
// Usage:
//
//	souverain conformance [-exec command]   run the conformance vectors
//	souverain recovery-key [-decode] [key]  check or decode a recovery key
//	souverain export [-passphrase-file f] file  list the sessions of a key export
//	souverain bench [-time d] [-run re]     measure the main operations
//	souverain help [command]                print usage
//
// Exit status 0 means success, 1 a failure (failed vectors, bad input), 2 a
// bad command line.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
