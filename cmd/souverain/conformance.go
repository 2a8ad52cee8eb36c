package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/souverain/e2ee/vectors"
)

var conformanceCommand = &command{
	name:    "conformance",
	summary: "run the conformance vectors",
	setup: func(fs *flag.FlagSet) string {
		fs.String("exec", "", "run the vectors against the external implementation started by this shell `command` (JSON lines on its stdin and stdout; see vectors/README.md)")
		fs.String("expect-failures", "", "`file` listing, one per line, the IDs of vectors the implementation is known to fail; exit 0 if exactly those fail")
		fs.String("family", "", "run only the families whose names contain this `text`")
		fs.Bool("v", false, "list every failure and skip reason in full")
		fs.Duration("timeout", vectors.DefaultTimeout, "with -exec, how long to wait for each response")
		return `Usage: souverain conformance [-exec command] [-expect-failures file] [-family text] [-v]

Conformance runs the embedded conformance vectors (vectors/data) against this
library, or with -exec against another implementation, and prints one row per
family and kind: how many vectors passed, failed and were skipped. A vector
of an operation the implementation does not support is skipped, never passed.

It exits with status 1 if a vector failed (with -expect-failures: if the set
of failures is not exactly the file's), 2 on a bad command line.

Flags:
`
	},
	run: runConformance,
}

func runConformance(c *command, fs *flag.FlagSet, args []string, e *env) int {
	if len(args) > 0 {
		return usageError(e, c, "unexpected argument %q", args[0])
	}
	get := func(name string) flag.Value { return fs.Lookup(name).Value }
	execCmd := get("exec").String()
	verbose := get("v").(flag.Getter).Get().(bool)
	timeout := get("timeout").(flag.Getter).Get().(time.Duration)

	var expected *expectation
	if path := get("expect-failures").String(); path != "" {
		var err error
		if expected, err = readExpected(path); err != nil {
			return failure(e, c, err)
		}
	}
	files, err := vectors.Files()
	if err != nil {
		return failure(e, c, err)
	}
	if f := get("family").String(); f != "" {
		files = slices.DeleteFunc(files, func(file vectors.File) bool { return !strings.Contains(file.Family, f) })
		if len(files) == 0 {
			return usageError(e, c, "no family matches %q", f)
		}
	}

	impl := vectors.DeterministicNative()
	var proc *vectors.Process
	if execCmd != "" {
		cmd := exec.Command("sh", "-c", execCmd)
		cmd.Stderr = e.stderr
		if proc, err = vectors.Exec(cmd); err != nil {
			return failure(e, c, err)
		}
		proc.Timeout = timeout
		// A first request that no vector makes: an implementation that
		// cannot even answer it (a wrong command) is one error, not a
		// thousand failed vectors.
		if _, err := proc.Do("hello", json.RawMessage(`{}`)); errors.Is(err, vectors.ErrFault) {
			proc.Close()
			return failure(e, c, fmt.Errorf("the implementation does not answer: %v", err))
		}
		impl = proc
	}
	r := vectors.RunFiles(impl, files)
	if proc != nil {
		if err := proc.Close(); err != nil {
			fmt.Fprintf(e.stderr, "souverain conformance: the implementation exited: %v\n", err)
		}
		if proc.Restarts > 0 {
			fmt.Fprintf(e.stderr, "souverain conformance: the implementation crashed and was restarted %d times\n", proc.Restarts)
		}
	}
	return report(r, expected, verbose, e.stdout)
}

// expectation is the content of an -expect-failures file.
type expectation struct {
	must []string        // must fail, sorted
	may  map[string]bool // may fail or pass: undefined behaviour in the implementation
}

// readExpected reads a file of vector IDs, one per line: the ID first,
// anything after it ignored. A line "? ID" names a vector that may fail or
// pass (its outcome is undefined behaviour in the implementation). Blank
// lines and lines starting with # are ignored.
func readExpected(path string) (*expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exp := &expectation{may: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == "?" {
			if len(fields) < 2 {
				return nil, fmt.Errorf("%s: \"?\" without a vector ID", path)
			}
			exp.may[fields[1]] = true
			continue
		}
		exp.must = append(exp.must, fields[0])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(exp.must)+len(exp.may) == 0 {
		return nil, errors.New(path + ": no vector IDs")
	}
	slices.Sort(exp.must)
	return exp, nil
}

// report prints the table and the failures, and returns the exit status.
// expected, if not nil, lists the failures that are known.
func report(r vectors.Report, expected *expectation, verbose bool, w io.Writer) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAMILY\tKIND\tPASSED\tFAILED\tSKIPPED\tNOTE")
	for _, f := range r.Families {
		note := f.SkipReason
		if !verbose && len(note) > 70 {
			note = note[:67] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", f.Family, f.Kind, f.Passed, f.Failed, f.Skipped, note)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t\n", r.Passed(), r.Failed(), r.Skipped())
	tw.Flush()

	known := map[string]bool{}
	if expected != nil {
		for _, id := range expected.must {
			known[id] = true
		}
		for id := range expected.may {
			known[id] = true
		}
	}
	unexpected := 0
	for _, f := range r.Families {
		for _, fail := range f.Failures {
			if known[fail.ID] {
				if verbose {
					fmt.Fprintf(w, "known  %s: %s\n", fail.ID, fail.Reason)
				}
				continue
			}
			unexpected++
			reason := fail.Reason
			if !verbose && len(reason) > 300 {
				reason = reason[:297] + "..."
			}
			fmt.Fprintf(w, "FAIL %s: %s\n", fail.ID, reason)
		}
	}
	if expected == nil {
		if !r.OK() {
			fmt.Fprintf(w, "FAIL: %d of %d vectors failed\n", r.Failed(), r.Passed()+r.Failed()+r.Skipped())
			return exitFailure
		}
		fmt.Fprintln(w, "ok")
		return exitOK
	}
	failed := r.FailedIDs()
	var fixed []string
	for _, id := range expected.must {
		if _, found := slices.BinarySearch(failed, id); !found {
			fixed = append(fixed, id)
		}
	}
	for _, id := range fixed {
		fmt.Fprintf(w, "PASS %s, listed as a known failure: remove it from the list\n", id)
	}
	if unexpected > 0 || len(fixed) > 0 {
		fmt.Fprintf(w, "FAIL: %d unexpected failures, %d known failures now pass\n", unexpected, len(fixed))
		return exitFailure
	}
	fmt.Fprintf(w, "ok: the %d failures are the known ones\n", len(failed))
	if len(expected.may) > 0 {
		fmt.Fprintf(w, "(%d vectors may fail or pass: undefined behaviour in the implementation)\n", len(expected.may))
	}
	return exitOK
}
