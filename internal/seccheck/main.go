package main

import (
	"flag"
	"fmt"
	"go/format"
	"go/token"
	"io"
	"os"

	"go/ast"
)

func formatNode(w io.Writer, fset *token.FileSet, n ast.Node) error {
	return format.Node(w, fset, n)
}

func main() {
	allowPath := flag.String("allow", "internal/seccheck/allow.txt", "allow-list `file`")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	os.Exit(run(root, *allowPath, os.Stdout))
}

// run checks root, prints the report to w and returns the exit status.
func run(root, allowPath string, w io.Writer) int {
	f, err := os.Open(allowPath)
	if err != nil {
		fmt.Fprintln(w, "seccheck:", err)
		return 2
	}
	allow, err := ParseAllowList(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(w, "seccheck:", err)
		return 2
	}
	findings, err := Check(root)
	if err != nil {
		fmt.Fprintln(w, "seccheck:", err)
		return 2
	}
	r := Apply(findings, allow)
	for _, f := range r.Known {
		fmt.Fprintf(w, "known, to fix: %s:%d: %s: %s\n", f.File, f.Line, f.Rule, f.Expr)
	}
	for _, f := range r.New {
		fmt.Fprintln(w, f)
	}
	for _, e := range r.Stale {
		fmt.Fprintf(w, "%s:%d: stale allow-list entry, matches nothing: %s\n", allowPath, e.Line, e.Key())
	}
	fmt.Fprintf(w, "seccheck: %d findings: %d allowed with a reason, %d known and marked FIX (TODO), %d new; %d stale allow-list entries\n",
		len(findings), len(r.Allowed), len(r.Known), len(r.New), len(r.Stale))
	if len(r.New) > 0 || len(r.Stale) > 0 {
		return 1
	}
	return 0
}
