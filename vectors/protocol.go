package vectors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The external protocol (README.md, "External implementations"): the
// runner writes one request per line to the implementation's standard
// input and reads one response per line from its standard output.

// request is one line from the runner.
type request struct {
	ID   string          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// response is one line from the implementation: exactly one of Result,
// Error, Unsupported and Fault is set.
type response struct {
	ID          string          `json:"id"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	Unsupported string          `json:"unsupported,omitempty"`
	Fault       string          `json:"fault,omitempty"`
}

// maxLine bounds a protocol line, in bytes.
const maxLine = 16 << 20

// DefaultTimeout is how long a Process waits for one response.
const DefaultTimeout = time.Minute

// Process is an implementation running in another process, spoken to over
// the JSON-lines protocol. It is an Impl. When the process exits, breaks
// the protocol or times out, the operation fails with an error wrapping
// ErrFault and the next operation starts it again, up to MaxRestarts times;
// after that every operation fails at once. A Process is safe for use by
// one goroutine at a time.
type Process struct {
	// Timeout bounds the wait for each response; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxRestarts bounds how often a crashed process is started again;
	// zero means DefaultMaxRestarts.
	MaxRestarts int
	// Restarts counts the restarts so far.
	Restarts int

	template *exec.Cmd
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan []byte
	readErr  *error
	seq      int
	dead     error // set when the current process is gone
}

// DefaultMaxRestarts is how often a Process restarts a crashed
// implementation by default.
const DefaultMaxRestarts = 20

// Exec starts cmd, whose standard input and output must be unset, and
// returns the Process that speaks to it. Restarts run a copy of cmd (its
// Path, Args, Env, Dir and Stderr). The caller should set cmd.Stderr to see
// the implementation's diagnostics, and must Close the Process.
func Exec(cmd *exec.Cmd) (*Process, error) {
	p := &Process{template: cmd}
	if err := p.start(cmd); err != nil {
		return nil, err
	}
	return p, nil
}

// start runs cmd and connects to it.
func (p *Process) start(cmd *exec.Cmd) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("vectors: exec: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("vectors: exec: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vectors: exec: %w", err)
	}
	lines := make(chan []byte)
	readErr := new(error)
	p.cmd, p.stdin, p.lines, p.readErr, p.dead = cmd, stdin, lines, readErr, nil
	go func() {
		// The error is written before the channel closes, so whoever
		// sees the closed channel sees the error.
		r := bufio.NewReaderSize(stdout, 64<<10)
		defer close(lines)
		for {
			line, err := readLine(r)
			if err != nil {
				*readErr = err
				return
			}
			lines <- line
		}
	}()
	return nil
}

// restart starts a fresh copy of the command after a crash.
func (p *Process) restart() error {
	max := p.MaxRestarts
	if max <= 0 {
		max = DefaultMaxRestarts
	}
	if p.Restarts >= max {
		return fmt.Errorf("%w: the implementation crashed %d times; not restarted", ErrFault, p.Restarts+1)
	}
	p.Restarts++
	t := p.template
	cmd := exec.Command(t.Path, t.Args[1:]...)
	cmd.Args, cmd.Env, cmd.Dir, cmd.Stderr = t.Args, t.Env, t.Dir, t.Stderr
	if err := p.start(cmd); err != nil {
		return fmt.Errorf("%w: restart: %v", ErrFault, err)
	}
	return nil
}

// readLine reads one line of at most maxLine bytes, without its newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// Do sends one request and waits for its response.
func (p *Process) Do(op string, args json.RawMessage) (json.RawMessage, error) {
	if p.dead != nil {
		if err := p.restart(); err != nil {
			return nil, err
		}
	}
	p.seq++
	id := strconv.Itoa(p.seq)
	req, err := json.Marshal(request{ID: id, Op: op, Args: args})
	if err != nil {
		return nil, fmt.Errorf("vectors: bad arguments: %v", err)
	}
	if _, err := p.stdin.Write(append(req, '\n')); err != nil {
		return nil, p.kill(fmt.Errorf("writing the request: %v", err))
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var line []byte
	select {
	case l, ok := <-p.lines:
		if !ok {
			if *p.readErr == io.EOF {
				return nil, p.kill(errors.New("the implementation exited"))
			}
			return nil, p.kill(fmt.Errorf("reading the response: %v", *p.readErr))
		}
		line = l
	case <-timer.C:
		return nil, p.kill(fmt.Errorf("no response within %v", timeout))
	}
	var resp response
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, p.kill(fmt.Errorf("bad response line %q: %v", clip(line), err))
	}
	if resp.ID != id {
		return nil, p.kill(fmt.Errorf("response id %q, want %q", resp.ID, id))
	}
	set := 0
	for _, b := range []bool{resp.Result != nil, resp.Error != "", resp.Unsupported != "", resp.Fault != ""} {
		if b {
			set++
		}
	}
	switch {
	case set != 1:
		return nil, fmt.Errorf("%w: response %q must have exactly one of result, error, unsupported, fault", ErrFault, clip(line))
	case resp.Fault != "":
		return nil, fmt.Errorf("%w: %s", ErrFault, resp.Fault)
	case resp.Unsupported != "":
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, resp.Unsupported)
	case resp.Error != "":
		return nil, errors.New(resp.Error)
	}
	return resp.Result, nil
}

// kill ends the process after a crash or protocol failure; the next
// operation restarts it.
func (p *Process) kill(err error) error {
	p.dead = fmt.Errorf("%w: %v", ErrFault, err)
	p.stdin.Close()
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	for range p.lines { // let the reader end
	}
	p.cmd.Wait()
	return p.dead
}

// Close closes the process's standard input, which asks it to exit, and
// waits for it, killing it if it has not exited within five seconds. It
// returns the process's exit error, if any.
func (p *Process) Close() error {
	if p.dead != nil {
		return nil // already waited for
	}
	p.stdin.Close()
	done := make(chan error, 1)
	go func() {
		for range p.lines { // drain, so that the reader ends
		}
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		return errors.New("vectors: the implementation did not exit; killed")
	}
}

// Serve answers protocol requests read from r with impl, writing the
// responses to w, until r ends. It is the implementation's side of Exec,
// for implementations written in Go: an adapter's main can be
//
//	if err := vectors.Serve(myImpl{}, os.Stdin, os.Stdout); err != nil { ... }
//
// A panic in impl is answered with a fault, and serving goes on.
func Serve(impl Impl, r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriter(w)
	for {
		line, err := readLine(br)
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("vectors: serve: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req request
		var resp response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Fault = "bad request: " + err.Error()
		} else {
			resp = serveOne(impl, req)
		}
		out, err := json.Marshal(resp)
		if err != nil {
			out, _ = json.Marshal(response{ID: req.ID, Fault: "result is not JSON: " + err.Error()})
		}
		bw.Write(append(out, '\n'))
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("vectors: serve: %w", err)
		}
	}
}

func serveOne(impl Impl, req request) (resp response) {
	resp.ID = req.ID
	defer func() {
		if p := recover(); p != nil {
			resp = response{ID: req.ID, Fault: fmt.Sprintf("panic: %v", p)}
		}
	}()
	res, err := impl.Do(req.Op, req.Args)
	switch {
	case errors.Is(err, ErrUnsupported):
		resp.Unsupported = strings.TrimPrefix(err.Error(), ErrUnsupported.Error()+": ")
	case errors.Is(err, ErrFault):
		resp.Fault = strings.TrimPrefix(err.Error(), ErrFault.Error()+": ")
	case err != nil:
		resp.Error = err.Error()
		if resp.Error == "" {
			resp.Error = "error"
		}
	case !json.Valid(res):
		resp.Fault = "result is not JSON"
	default:
		resp.Result = res
	}
	return resp
}
