package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// topLevelCommands are the first words of every command path in the model.
func topLevelCommands(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range commandPaths(t) {
		if len(p) == 1 {
			out = append(out, p[0])
		}
	}
	return out
}

// subcommands are the commands directly under parent.
func subcommands(t *testing.T, parent string) []string {
	t.Helper()
	var out []string
	for _, p := range commandPaths(t) {
		if len(p) == 2 && p[0] == parent {
			out = append(out, p[1])
		}
	}
	return out
}

// completionScript prints the script for a shell through the real command line
// and writes it to a file.
func completionScript(t *testing.T, shell string) (script, file string) {
	t.Helper()
	code, out, errOut := runCLI(t, "completion", shell)
	if code != 0 || out == "" {
		t.Fatalf("completion %s: exit %d\n%s", shell, code, errOut)
	}
	file = filepath.Join(t.TempDir(), "jfguard."+shell)
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return out, file
}

// shellOrSkip returns the path of a shell, or skips naming the Debian package that
// provides it (.ci/run installs them, so CI runs these checks).
func shellOrSkip(t *testing.T, shell string) string {
	t.Helper()
	p, err := exec.LookPath(shell)
	if err != nil {
		skipOrFail(t, "%s is not installed (Debian package %s): its check of the completion script was not run", shell, shell)
	}
	return p
}

// jfguardOnPath makes a directory whose `jfguard` is this test binary, so a shell
// running the completion script runs the real command line (TestMain's child mode).
func jfguardOnPath(t *testing.T) (pathEnv string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(os.Args[0], filepath.Join(bin, "jfguard")); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

// TestCompletionScriptsParse: each shell's script is printed, registers jfguard as
// its own completer, and the shell's syntax check accepts it.
func TestCompletionScriptsParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		shell    string
		register string
	}{
		{"bash", "complete -C jfguard jfguard"},
		{"zsh", "complete -C jfguard jfguard"},
		{"fish", "complete -f -c jfguard"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			t.Parallel()
			script, file := completionScript(t, tc.shell)
			if !strings.Contains(script, tc.register) {
				t.Fatalf("the %s script does not register jfguard (%q):\n%s", tc.shell, tc.register, script)
			}
			sh := shellOrSkip(t, tc.shell)
			if out, err := exec.Command(sh, "-n", file).CombinedOutput(); err != nil {
				t.Fatalf("%s -n rejects the script: %v\n%s\n%s", tc.shell, err, out, script)
			}
		})
	}
	if code, _, errOut := runCLI(t, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, "bash") {
		t.Errorf("completion tcsh: exit %d %q; want 2 naming the shells", code, errOut)
	}
}

// TestCompletionAnswers: jfguard answers a completion request as bash and zsh
// (bashcompinit) make it — COMP_LINE and COMP_POINT set, the command, the word and
// the previous word as arguments — with the words of the command definitions, and
// does nothing else.
func TestCompletionAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"jfguard ", topLevelCommands(t)},
		{"jfguard au", []string{"audit"}},
		{"jfguard audit ", subcommands(t, "audit")},
		{"jfguard completion ", []string{"bash", "fish", "zsh"}},
		{"jfguard audit verify --", []string{"--pubkey", "--json", "--server", "--data-dir", "--config"}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t)
			before := sb.files(t)
			fields := strings.Fields(tc.line)
			word := ""
			if !strings.HasSuffix(tc.line, " ") {
				word = fields[len(fields)-1]
			}
			res := sb.runChild(t, []string{"COMP_LINE=" + tc.line, fmt.Sprintf("COMP_POINT=%d", len(tc.line))}, "jfguard", word, fields[len(fields)-1])
			got := strings.Fields(res.stdout)
			if res.code != 0 {
				t.Fatalf("exit %d\n%s", res.code, res.stderr)
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("completing %q: %q missing from %q", tc.line, w, got)
				}
			}
			if strings.HasSuffix(tc.line, " ") && len(got) != len(tc.want) {
				t.Errorf("completing %q: got %q, want exactly %q", tc.line, got, tc.want)
			}
			sb.assertUntouched(t, before, "completing "+tc.line)
		})
	}
}

// TestCompletionInShells: the shells themselves load the scripts and complete
// jfguard's commands through them (fish completes for real; zsh registers the
// completer), when they are installed.
func TestCompletionInShells(t *testing.T) {
	t.Parallel()
	t.Run("fish", func(t *testing.T) {
		t.Parallel()
		fish := shellOrSkip(t, "fish")
		_, file := completionScript(t, "fish")
		sb := newSandbox(t)
		cmd := exec.Command(fish, "--no-config", "-c", fmt.Sprintf("source %s; complete --do-complete 'jfguard '; complete --do-complete 'jfguard audit v'", file))
		cmd.Dir = sb.work
		cmd.Env = []string{jfguardOnPath(t), "HOME=" + sb.home, "TMPDIR=" + sb.tmp, "JFGUARD_TEST_CHILD=cli", childGORACE()}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range append(topLevelCommands(t), "verify") {
			if !slices.Contains(got, w) {
				t.Errorf("fish completion lacks %q: %q", w, got)
			}
		}
	})
	t.Run("bash", func(t *testing.T) {
		t.Parallel()
		_, file := completionScript(t, "bash")
		out, err := exec.Command("bash", "--norc", "-c", fmt.Sprintf("source %s && complete -p jfguard", file)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-C jfguard") && !strings.Contains(string(out), "-C 'jfguard'") {
			t.Fatalf("bash did not register the jfguard completer: %v\n%s", err, out)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		t.Parallel()
		zsh := shellOrSkip(t, "zsh")
		_, file := completionScript(t, "zsh")
		sb := newSandbox(t)
		// -f: no user rc files, so the script must load what it needs itself.
		cmd := exec.Command(zsh, "-f", "-c", fmt.Sprintf("source %s && print -r -- $_comps[jfguard]", file))
		cmd.Dir = sb.work
		cmd.Env = []string{jfguardOnPath(t), "HOME=" + sb.home, "TMPDIR=" + sb.tmp}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-C jfguard") {
			t.Fatalf("zsh did not register the jfguard completer: %v\n%s", err, out)
		}
	})
}
