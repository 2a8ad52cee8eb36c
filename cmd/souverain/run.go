package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/souverain/e2ee/vectors"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found failures
	exitUsage   = 2 // bad command line
)

const usage = `Usage: souverain <command>

Commands:
  conformance   Run the embedded conformance vectors (vectors/data) against
                this library's own implementation and print, per vector
                kind, how many passed, failed and were skipped. Exits with
                status 1 if any vector failed.
  help          Print this message.
`

// run is the whole command: it parses args (without the program name),
// writes to stdout and stderr and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd := args[0]; cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "conformance":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "souverain conformance: unexpected argument %q\n\n%s", args[1], usage)
			return exitUsage
		}
		return conformance(vectors.Run(vectors.Native()), stdout)
	default:
		fmt.Fprintf(stderr, "souverain: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// conformance prints the report as a table followed by the failures and
// returns the exit status.
func conformance(r vectors.Report, stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAMILY\tPASSED\tFAILED\tSKIPPED\tNOTE")
	for _, f := range r.Families {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", f.Family, f.Passed, f.Failed, f.Skipped, f.SkipReason)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t\n", r.Passed(), r.Failed(), r.Skipped())
	tw.Flush()
	for _, f := range r.Families {
		for _, fail := range f.Failures {
			fmt.Fprintf(stdout, "FAIL %s %s: %s\n", f.Family, fail.ID, fail.Reason)
		}
	}
	if !r.OK() {
		fmt.Fprintf(stdout, "FAIL: %d vectors failed\n", r.Failed())
		return exitFailure
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
