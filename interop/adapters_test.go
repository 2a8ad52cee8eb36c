package interop_test

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/souverain/e2ee/vectors"
)

// TestPythonOlmAdapter runs every vector against libolm through Debian's
// python3-olm, over the external protocol, and checks that exactly the
// vectors of adapters/python-olm/known-failures.txt fail, so that
// vectors/REPORT.md stays true.
func TestPythonOlmAdapter(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import olm").Run(); err != nil {
		t.Skipf("%s cannot import olm (install python3-olm): %v", python, err)
	}
	cmd := exec.Command(python, "adapters/python-olm/adapter.py")
	p, err := vectors.Exec(cmd)
	if err != nil {
		t.Fatal(err)
	}
	r := vectors.Run(p)
	if err := p.Close(); err != nil {
		t.Errorf("adapter exit: %v", err)
	}
	must, may := readKnown(t, "adapters/python-olm/known-failures.txt")
	failed := slices.DeleteFunc(r.FailedIDs(), func(id string) bool { return may[id] })
	reasons := map[string]string{}
	for _, f := range r.Families {
		for _, fail := range f.Failures {
			reasons[fail.ID] = fail.Reason
		}
	}
	for _, id := range failed {
		if _, ok := slices.BinarySearch(must, id); !ok {
			t.Errorf("unexpected failure %s: %s", id, reasons[id])
		}
	}
	for _, id := range must {
		if _, ok := slices.BinarySearch(failed, id); !ok {
			t.Errorf("%s passes now: remove it from known-failures.txt and REPORT.md", id)
		}
	}
	t.Logf("python-olm: passed %d, failed %d, skipped %d, restarts %d", r.Passed(), r.Failed(), r.Skipped(), p.Restarts)
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
