package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestManPage: `jfguard man` prints a roff page for section 1 that names every
// command and every flag of the CLI definition, and groff and man render it without
// a warning (when groff-base and man-db are installed).
func TestManPage(t *testing.T) {
	t.Parallel()
	code, page, errOut := runCLI(t, "man")
	if code != 0 {
		t.Fatalf("man: exit %d\n%s", code, errOut)
	}
	if !strings.HasPrefix(page, ".TH JFGUARD 1 ") {
		t.Fatalf("not a roff page for section 1:\n%.300s", page)
	}
	for _, section := range []string{".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH COMMANDS", ".SH FILES", ".SH ENVIRONMENT", ".SH EXIT STATUS"} {
		if !strings.Contains(page, section+"\n") {
			t.Errorf("the page lacks %q", section)
		}
	}
	// roff escapes "." and "-" in places; compare with the escapes taken out.
	plain := strings.NewReplacer(`\&`, "", `\-`, "-").Replace(page)
	var c CLI
	parser, err := newParser(&c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range commandPaths(t) {
		if !regexp.MustCompile(`\\fB` + regexp.QuoteMeta(strings.Join(path, " ")) + `( |\\fP)`).MatchString(plain) {
			t.Errorf("the page does not list the command %q", strings.Join(path, " "))
		}
	}
	var checkFlags func(n *kong.Node)
	checkFlags = func(n *kong.Node) {
		for _, f := range n.Flags {
			if !strings.Contains(plain, "--"+f.Name) {
				t.Errorf("the page does not list the flag --%s of %q", f.Name, n.FullPath())
			}
		}
		for _, child := range n.Children {
			checkFlags(child)
		}
	}
	checkFlags(parser.Model.Node)

	file := filepath.Join(t.TempDir(), "jfguard.1")
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("groff", func(t *testing.T) {
		if _, err := exec.LookPath("groff"); err != nil {
			skipOrFail(t, "groff is not installed (Debian package groff-base): the page was not rendered")
		}
		out, err := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z", file).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Fatalf("groff warns about the page: %v\n%s", err, out)
		}
	})
	t.Run("man", func(t *testing.T) {
		if _, err := exec.LookPath("man"); err != nil {
			skipOrFail(t, "man is not installed (Debian package man-db): the page was not rendered")
		}
		cmd := exec.Command("man", "--warnings", "-l", file)
		cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=80")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("man -l: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(string(out), "jfguard - security gateway for Jellyfin") || !strings.Contains(string(out), "audit verify") {
			t.Fatalf("man -l rendered something else:\n%.500s", out)
		}
	})
}
