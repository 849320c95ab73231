//go:build slow

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events/store"
)

// TestSlowBackupWithPassphrase: an online archive holding the master key wrapped
// with a passphrase restores with that passphrase alone, and jfguard starts on it
// with alice's TOTP secret readable; a wrong or missing passphrase is refused
// before anything is written. Each wrap or unwrap is a deliberately slow scrypt
// (about 1.5 s, 8 s under the race detector), hence the slow suite: about 10 s.
func TestSlowBackupWithPassphrase(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	tmp := t.TempDir()
	pass := writeFile(t, filepath.Join(tmp, "passphrase"), "correct horse battery staple\n")
	wrong := writeFile(t, filepath.Join(tmp, "wrong"), "not the passphrase at all\n")
	short := writeFile(t, filepath.Join(tmp, "short"), "hunter2\n")

	archive := filepath.Join(tmp, "backup.tar")
	if code, _, errOut := jfguard(t, append([]string{"backup", "--out", archive, "--passphrase-file", short}, g.online()...)...); code == 0 || !strings.Contains(errOut, "shorter than") {
		t.Fatalf("a short passphrase: exit %d %s", code, errOut)
	}
	code, out, errOut := jfguard(t, append([]string{"backup", "--out", archive, "--passphrase-file", pass}, g.online()...)...)
	if code != 0 || !strings.Contains(out, "included, wrapped with the passphrase") {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(readFile(t, archive), strings.TrimSpace(readFile(t, filepath.Join(g.dataDir(), "master.key")))) {
		t.Fatal("the master key is in the archive in clear")
	}
	man := manifestOf(t, archive)
	g.stop(t)

	dir := filepath.Join(tmp, "restored")
	refused := restoreRefused(t, dir)
	refused("a wrong passphrase", "passphrase does not open", "--in", archive, "--passphrase-file", wrong)
	refused("no passphrase", "--passphrase-file", "--in", archive)

	code, out, errOut = jfguard(t, "restore", "--in", archive, "--data-dir", dir, "--passphrase-file", pass)
	if code != 0 || !strings.Contains(out, "audit verify: OK") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	checkModes(t, dir)
	if s, _ := man.Stream(store.StreamName); verifiedEvents(t, dir) != s.Messages {
		t.Fatalf("the restored events differ from the manifest's %d", s.Messages)
	}
	g.settings["data_dir"] = dir
	g.run(t)
	g.signInWithTOTP(t, f, "phone-1")
}
