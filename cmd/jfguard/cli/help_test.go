package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// childArgs are the arguments a child process started by runChild was given: those
// after "--" (none when a shell runs the child for completions).
func childArgs(args []string) []string {
	if i := slices.Index(args, "--"); i >= 0 {
		return args[i+1:]
	}
	return nil
}

// commandPaths lists every command of the CLI definition (groups such as `audit`
// included), read from the same kong model the parser uses: a command added later
// is covered by these tests without editing them.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	var c CLI
	parser, err := newParser(&c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var paths [][]string
	var walk func(n *kong.Node, prefix []string)
	walk = func(n *kong.Node, prefix []string) {
		for _, child := range n.Children {
			if child.Type != kong.CommandNode {
				continue
			}
			path := append(slices.Clone(prefix), child.Name)
			paths = append(paths, path)
			walk(child, path)
		}
	}
	walk(parser.Model.Node, nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands found in the model: %v", len(paths), paths)
	}
	return paths
}

// sandbox is a place where a jfguard child process can do no harm unnoticed: its
// working directory (holding a jfguard.yaml that points the data directory and
// the listening address into the sandbox), HOME and TMPDIR are all inside root.
type sandbox struct {
	root, work, home, tmp string
	dataDir               string
	listen                string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	root := t.TempDir()
	sb := &sandbox{root: root, work: filepath.Join(root, "work"), home: filepath.Join(root, "home"), tmp: filepath.Join(root, "tmp"), dataDir: filepath.Join(root, "data")}
	for _, d := range []string{sb.work, sb.home, sb.tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sb.listen = freeAddr(t)
	yaml := fmt.Sprintf("listen: %q\nupstream: \"http://127.0.0.1:9\"\ndata_dir: %q\n", sb.listen, sb.dataDir)
	if err := os.WriteFile(filepath.Join(sb.work, "jfguard.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb
}

// freeAddr is a loopback address with a port nobody listens on right now. Its
// address is one of 127.0.0.0/8 chosen at random, not 127.0.0.1, where the other
// tests of this run listen: a port of 127.0.0.1 released here could be handed to one
// of them before the check that the child left it free.
func freeAddr(t *testing.T) string {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	ip := net.IPv4(127, b[0]|1, b[1], b[2]|1)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// files lists every file and directory under the sandbox.
func (sb *sandbox) files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(sb.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sb.root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// childGORACE keeps the race detector's options for a child process but drops the
// second it otherwise sleeps at exit (these tests start over a hundred children).
func childGORACE() string {
	return "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// childResult is how a child jfguard ended.
type childResult struct {
	code           int
	stdout, stderr string
}

// runChild runs this test binary as jfguard with args in the sandbox (a real
// process: its own working directory, HOME, TMPDIR and exit status) and waits for
// it. A child that is still running after the bound is killed and reported: it
// was serving instead of printing help.
func (sb *sandbox) runChild(t *testing.T, extraEnv []string, args ...string) childResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"--"}, args...)...)
	cmd.Dir = sb.work
	cmd.Env = append([]string{"JFGUARD_TEST_CHILD=cli", "HOME=" + sb.home, "TMPDIR=" + sb.tmp, "PATH=" + os.Getenv("PATH"), childGORACE()}, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("jfguard %s did not exit: it kept running (serving?)\n%s", strings.Join(args, " "), errb.String())
	}
	res := childResult{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return res
}

// assertUntouched fails when the child left anything behind in the sandbox or the
// configured listening port is taken.
func (sb *sandbox) assertUntouched(t *testing.T, before []string, what string) {
	t.Helper()
	if after := sb.files(t); !slices.Equal(before, after) {
		t.Errorf("%s changed the files: before %v, after %v", what, before, after)
	}
	if _, err := os.Stat(sb.dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s created the data directory %s", what, sb.dataDir)
	}
	ln, err := net.Listen("tcp", sb.listen)
	if err != nil {
		t.Errorf("%s: the configured listen address %s is taken: %v", what, sb.listen, err)
		return
	}
	ln.Close()
}

// TestHelpHasNoSideEffects: `--help`, `-h` and `jfguard help …` print the help of
// every command, with or without other flags (even a --data-dir that does not
// exist yet, and arguments a command requires left out), and exit 0 without reading
// settings, creating a file or directory, or listening.
func TestHelpHasNoSideEffects(t *testing.T) {
	t.Parallel()
	paths := append([][]string{nil}, commandPaths(t)...)
	for _, path := range paths {
		name := strings.Join(append([]string{"jfguard"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t)
			variants := [][]string{
				append(slices.Clone(path), "--help"),
				append(slices.Clone(path), "-h"),
				append(append(slices.Clone(path), "--data-dir", sb.dataDir, "--listen", sb.listen, "--set", "nats.listen=127.0.0.1:0"), "--help"),
				append([]string{"-h", "--config", filepath.Join(sb.work, "jfguard.yaml")}, path...),
				append([]string{"help"}, path...),
			}
			if len(path) == 0 {
				variants = append(variants, []string{})
			}
			for _, args := range variants {
				before := sb.files(t)
				res := sb.runChild(t, nil, args...)
				what := fmt.Sprintf("jfguard %s", strings.Join(args, " "))
				if res.code != 0 {
					t.Errorf("%s: exit %d\n%s", what, res.code, res.stderr)
				}
				if first, _, _ := strings.Cut(res.stdout, "\n"); first != "Usage: "+name && !strings.HasPrefix(first, "Usage: "+name+" ") {
					t.Errorf("%s: the help does not name the command %q:\n%s", what, name, res.stdout)
				}
				if res.stderr != "" {
					t.Errorf("%s wrote to stderr: %s", what, res.stderr)
				}
				sb.assertUntouched(t, before, what)
			}
		})
	}
}

// TestBadCommandLineWithHelp: a wrong command line that also asks for help is an
// error (exit 2, a message and a hint on stderr), and still touches nothing.
func TestBadCommandLineWithHelp(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t)
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"no-such-command", "--help"}, "Run 'jfguard --help'"},
		{[]string{"serve", "--no-such-flag", "--help"}, "Run 'jfguard serve --help'"},
		{[]string{"audit", "verify", "--data-dir", sb.dataDir, "--no-such-flag", "-h"}, "Run 'jfguard audit verify --help'"},
	} {
		before := sb.files(t)
		res := sb.runChild(t, nil, tc.args...)
		what := "jfguard " + strings.Join(tc.args, " ")
		if res.code != 2 || !strings.Contains(res.stderr, "jfguard: ") || !strings.Contains(res.stderr, tc.hint) {
			t.Errorf("%s: exit %d, stderr %q; want 2 with an error and %q", what, res.code, res.stderr, tc.hint)
		}
		sb.assertUntouched(t, before, what)
	}
}
