package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupAndRestoreRefuseBadRequests: the commands refuse, before touching
// anything, a backup that would hold the master key in clear or nothing to wrap,
// a short passphrase, a restore without a target, and a restore over a data
// directory with jfguard data in it.
func TestBackupAndRestoreRefuseBadRequests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b.tar")
	for _, c := range []struct {
		what string
		args []string
		want string
	}{
		{"no passphrase and no --exclude-master-key", []string{"backup", "--data-dir", dir, "--out", out}, "--passphrase-file"},
		{"both", []string{"backup", "--data-dir", dir, "--out", out, "--exclude-master-key", "--passphrase-file", short}, "nothing for --passphrase-file to wrap"},
		{"a short passphrase", []string{"backup", "--data-dir", dir, "--out", out, "--passphrase-file", short}, "shorter than 12"},
		{"a stopped directory without data", []string{"backup", "--data-dir", dir, "--out", out, "--exclude-master-key"}, "no jfguard data"},
		{"no target", []string{"restore", "--in", out}, "--data-dir"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, want an error saying %q:\n%s", c.what, code, c.want, errOut)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left %s", out)
	}

	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(filepath.Join(full, "nats"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "restore", "--in", out, "--data-dir", full)
	if code == 0 || !strings.Contains(errOut, "holds jfguard data") || !strings.Contains(errOut, "--force") {
		t.Fatalf("restore over data: exit %d %s", code, errOut)
	}
}
