package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found failures, or its input was bad
	exitUsage   = 2 // bad command line
)

const usage = `Usage: souverain <command> [arguments]

Commands:
  conformance    run the conformance vectors against this library or another
                 implementation, and print a table of the results
  recovery-key   check, decode or encode a recovery key
  export         open a key export file and list its sessions
  bench          measure the library's main operations and print a table
  help           print this message, or the help of a command

Run "souverain help <command>" for a command's flags.
`

// command is one subcommand.
type command struct {
	name, summary string
	// run parses args (after the command name) with fs and runs.
	run func(c *command, fs *flag.FlagSet, args []string, env *env) int
	// setup declares the flags and returns the usage text.
	setup func(fs *flag.FlagSet) string
}

// env is what a command reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv reads environment variables (tests replace it).
	getenv func(string) string
}

var commands = []*command{conformanceCommand, recoveryKeyCommand, exportCommand, benchCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the whole command: it parses args (without the program name),
// writes to stdout and stderr and returns the exit status. A panic, which
// would be a bug, is reported in one line, never as a stack trace.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "souverain: internal error: %v\n", p)
			code = exitFailure
		}
	}()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "souverain help: unknown command %q\n\n%s", args[1], usage)
				return exitUsage
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			fmt.Fprint(stdout, c.setup(fs))
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		c := lookup(name)
		if c == nil {
			fmt.Fprintf(stderr, "souverain: unknown command %q\n\n%s", name, usage)
			return exitUsage
		}
		fs := flag.NewFlagSet("souverain "+c.name, flag.ContinueOnError)
		text := c.setup(fs)
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, text)
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return exitOK
			}
			fmt.Fprintf(stderr, "souverain %s: %v\n", c.name, err)
			fmt.Fprintf(stderr, "Run \"souverain help %s\" for usage.\n", c.name)
			return exitUsage
		}
		return c.run(c, fs, fs.Args(), e)
	}
}

// usageError reports a bad command line for command c.
func usageError(e *env, c *command, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "souverain %s: %s\n", c.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(e.stderr, "Run \"souverain help %s\" for usage.\n", c.name)
	return exitUsage
}

// failure reports a failure of command c in one line.
func failure(e *env, c *command, err error) int {
	msg := err.Error()
	// One line, whatever the error says.
	msg = strings.Join(strings.Fields(msg), " ")
	fmt.Fprintf(e.stderr, "souverain %s: %s\n", c.name, msg)
	return exitFailure
}
