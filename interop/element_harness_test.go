package interop_test

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// elementNode is a running node harness from element/ (sas.mjs,
// roomkeys.mjs) that drives Element's crypto stack: commands go in as JSON
// lines {"id", "cmd", ...args} on stdin, and each is answered by one JSON
// line {"id", "ok", "error", ...result} on stdout.
type elementNode struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
	seq int
}

// startNodeHarness starts element/script, or skips the test when node or
// the npm package is missing. The process ends with the test.
func startNodeHarness(t *testing.T, script string) *elementNode {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the Element interop test")
	}
	if _, err := os.Stat(filepath.Join("element", "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm")); err != nil {
		t.Skip("element/node_modules is missing (run npm install in interop/element): skipping the Element interop test")
	}
	cmd := exec.Command(node, script)
	cmd.Dir = "element"
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &elementNode{t: t, in: in, out: bufio.NewScanner(out)}
	e.out.Buffer(make([]byte, 1<<20), 16<<20)
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	return e
}

// call sends a command and decodes the answer into res (if not nil). A
// refused command fails the test.
func (e *elementNode) call(res any, cmd string, args map[string]any) {
	e.t.Helper()
	e.seq++
	msg := map[string]any{"id": e.seq, "cmd": cmd}
	for k, v := range args {
		msg[k] = v
	}
	b, err := json.Marshal(msg)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.in.Write(append(b, '\n')); err != nil {
		e.t.Fatalf("write to node: %v", err)
	}
	if !e.out.Scan() {
		e.t.Fatalf("node exited: %v", e.out.Err())
	}
	var head struct {
		ID    int    `json:"id"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	line := e.out.Bytes()
	if err := json.Unmarshal(line, &head); err != nil {
		e.t.Fatalf("bad answer %q: %v", line, err)
	}
	if head.ID != e.seq {
		e.t.Fatalf("answer %d to command %d", head.ID, e.seq)
	}
	if !head.OK {
		e.t.Fatalf("node %s: %s", cmd, head.Error)
	}
	if res != nil {
		if err := json.Unmarshal(line, res); err != nil {
			e.t.Fatalf("decode %s answer: %v", cmd, err)
		}
	}
}
