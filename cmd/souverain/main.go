// Command souverain is the souverain E2EE library's tool.
//
// Usage:
//
//	souverain conformance   run the conformance vectors against this library
//	souverain help          print usage
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
