package main

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/vectors"
)

// TestKnownFailures runs every vector against goolm in process and checks
// that exactly the vectors of known-failures.txt fail, so that REPORT.md
// stays true: a new failure, or a listed one that now passes, fails here.
func TestKnownFailures(t *testing.T) {
	must, may := readKnown(t, "known-failures.txt")
	r := vectors.Run(impl{})
	failed := slices.DeleteFunc(r.FailedIDs(), func(id string) bool { return may[id] })
	for _, id := range failed {
		if _, ok := slices.BinarySearch(must, id); !ok {
			f, _ := failure(r, id)
			t.Errorf("unexpected failure %s: %s", id, f)
		}
	}
	for _, id := range must {
		if _, ok := slices.BinarySearch(failed, id); !ok {
			t.Errorf("%s passes now: remove it from known-failures.txt and REPORT.md", id)
		}
	}
	t.Logf("goolm: passed %d, failed %d, skipped %d", r.Passed(), r.Failed(), r.Skipped())
}

func failure(r vectors.Report, id string) (string, bool) {
	for _, f := range r.Families {
		for _, fail := range f.Failures {
			if fail.ID == id {
				return fail.Reason, true
			}
		}
	}
	return "", false
}

// readKnown reads a known-failures file (the format of souverain
// conformance -expect-failures).
func readKnown(t *testing.T, path string) (must []string, may map[string]bool) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	may = map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
		case fields[0] == "?" && len(fields) > 1:
			may[fields[1]] = true
		default:
			must = append(must, fields[0])
		}
	}
	slices.Sort(must)
	return must, may
}
