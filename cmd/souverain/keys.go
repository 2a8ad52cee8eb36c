package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/souverain/e2ee/keybackup"
)

var recoveryKeyCommand = &command{
	name:    "recovery-key",
	summary: "check, decode or encode a recovery key",
	setup: func(fs *flag.FlagSet) string {
		fs.Bool("decode", false, "print the key the recovery key holds, in unpadded base64 (as secret storage and backups store it)")
		fs.Bool("encode", false, "read a 32-byte key in base64 and print it as a recovery key")
		return `Usage: souverain recovery-key [-decode | -encode] [key]

Recovery-key checks a recovery key (a backup or secret storage key as users
write it down: base58 in groups of four characters): its prefix, length and
parity. The key is read from the arguments, where its groups may be separate
arguments, or, if there are none, from standard input. With -decode it prints
the key inside; with -encode it does the reverse. The output of -decode is
the secret key itself.

It exits with status 1 if the key is not valid.

Flags:
`
	},
	run: func(c *command, fs *flag.FlagSet, args []string, e *env) int {
		decode := fs.Lookup("decode").Value.(flag.Getter).Get().(bool)
		encode := fs.Lookup("encode").Value.(flag.Getter).Get().(bool)
		if decode && encode {
			return usageError(e, c, "-decode and -encode exclude each other")
		}
		input := strings.Join(args, " ")
		if len(args) == 0 {
			b, err := io.ReadAll(io.LimitReader(e.stdin, 4096))
			if err != nil {
				return failure(e, c, err)
			}
			input = string(b)
		}
		input = strings.TrimSpace(input)
		if input == "" {
			return usageError(e, c, "no key given")
		}
		if encode {
			raw, err := decodeBase64(input)
			if err != nil {
				return failure(e, c, fmt.Errorf("the key is not base64: %v", err))
			}
			rk, err := keybackup.EncodeRecoveryKey(raw)
			if err != nil {
				return failure(e, c, err)
			}
			fmt.Fprintln(e.stdout, rk)
			return exitOK
		}
		key, err := keybackup.DecodeRecoveryKeyUnchecked(input)
		if err != nil {
			return failure(e, c, err)
		}
		if decode {
			fmt.Fprintln(e.stdout, base64.RawStdEncoding.EncodeToString(key))
			return exitOK
		}
		fmt.Fprintf(e.stdout, "ok: a valid recovery key (prefix, length and parity check) for a %d-byte key\n", len(key))
		return exitOK
	},
}

// decodeBase64 accepts padded and unpadded standard base64.
func decodeBase64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

var exportCommand = &command{
	name:    "export",
	summary: "open a key export file and list its sessions",
	setup: func(fs *flag.FlagSet) string {
		fs.String("passphrase-file", "", "read the passphrase from the first line of `file` instead of $SOUVERAIN_PASSPHRASE or standard input")
		return `Usage: souverain export [-passphrase-file file] exportfile

Export opens a key export file (what Element's "Export E2E room keys" writes),
checks it with its passphrase and lists the Megolm sessions it holds: room,
session ID, first known message index, sender key and how often the key was
forwarded. It never prints the keys themselves.

The passphrase comes from -passphrase-file, else from the environment
variable SOUVERAIN_PASSPHRASE, else from the first line of standard input.
Stretching it takes a while (PBKDF2 with the file's round count, often
500,000): a progress line is shown on standard error meanwhile.

It exits with status 1 if the file cannot be read or the passphrase is wrong.

Flags:
`
	},
	run: runExport,
}

func runExport(c *command, fs *flag.FlagSet, args []string, e *env) int {
	if len(args) != 1 {
		return usageError(e, c, "want one export file, got %d arguments", len(args))
	}
	file, err := os.ReadFile(args[0])
	if err != nil {
		return failure(e, c, err)
	}
	pass, err := passphrase(fs.Lookup("passphrase-file").Value.String(), e)
	if err != nil {
		return failure(e, c, err)
	}
	rounds, ok := exportRounds(file)
	what := "stretching the passphrase"
	if ok {
		what = fmt.Sprintf("stretching the passphrase (PBKDF2-SHA-512, %d rounds)", rounds)
	}
	stop := progress(e.stderr, what)
	sessions, err := keybackup.DecryptKeyExport(file, pass)
	stop(err == nil)
	if err != nil {
		if errors.Is(err, keybackup.ErrWrongPassphrase) {
			return failure(e, c, errors.New("wrong passphrase, or the file was changed"))
		}
		return failure(e, c, err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tSESSION\tFIRST INDEX\tSENDER KEY\tFORWARDED")
	for _, s := range sessions {
		first := "?"
		if igs, err := s.InboundGroupSession(); err == nil {
			first = fmt.Sprint(igs.FirstKnownIndex())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.RoomID, s.SessionID, first, s.SenderKey, len(s.ForwardingCurve25519KeyChain))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d sessions\n", len(sessions))
	return exitOK
}

// passphrase reads the passphrase from a file, the environment or stdin.
func passphrase(path string, e *env) (string, error) {
	var r io.Reader
	switch {
	case path != "":
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	case e.getenv("SOUVERAIN_PASSPHRASE") != "":
		return e.getenv("SOUVERAIN_PASSPHRASE"), nil
	default:
		r = e.stdin
	}
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no passphrase given (use -passphrase-file, $SOUVERAIN_PASSPHRASE or standard input)")
	}
	return line, nil
}

// exportRounds reads the round count from a key export file, for the
// progress line; ok is false if the file does not look like one.
func exportRounds(file []byte) (uint32, bool) {
	s := string(file)
	i := strings.Index(s, keybackup.ExportHeader)
	j := strings.Index(s, keybackup.ExportFooter)
	if i < 0 || j < i {
		return 0, false
	}
	body := strings.Join(strings.Fields(s[i+len(keybackup.ExportHeader):j]), "")
	raw, err := decodeBase64(body)
	if err != nil || len(raw) < 37 {
		return 0, false
	}
	return binary.BigEndian.Uint32(raw[33:37]), true
}

// progress shows what on w with the elapsed time until the returned stop
// function is called.
func progress(w io.Writer, what string) (stop func(ok bool)) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	fmt.Fprintf(w, "%s...", what)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "\r%s... %.1fs", what, time.Since(start).Seconds())
			}
		}
	}()
	return func(ok bool) {
		close(done)
		wg.Wait()
		result := "done"
		if !ok {
			result = "failed"
		}
		fmt.Fprintf(w, "\r%s... %s in %.1fs\n", what, result, time.Since(start).Seconds())
	}
}
