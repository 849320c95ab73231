package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/backup"
	"github.com/jfguard/jfguard/events/store"
)

// TestBackupAndRestore: an archive taken while jfguard runs and one taken from its
// stopped data directory, both without the master key (given apart on restore),
// restore into a new data directory whose audit log verifies with the manifest's
// events, and on which jfguard starts and alice signs in with her authenticator
// (her TOTP secret, sealed in the stream, opens). Restores that would lose data or
// trust a changed archive are refused before anything is written. The master key
// wrapped with a passphrase is TestSlowBackupWithPassphrase's (scrypt is slow
// under the race detector).
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	g.signInWithTOTP(t, f, "phone-1")
	tmp := t.TempDir()
	key := writeFile(t, filepath.Join(tmp, "master.key.copy"), readFile(t, filepath.Join(g.dataDir(), "master.key")))

	// Online, while jfguard serves.
	online := filepath.Join(tmp, "online.tar")
	code, out, errOut := jfguard(t, append([]string{"backup", "--out", online, "--exclude-master-key"}, g.online()...)...)
	if code != 0 || !strings.Contains(out, "JFGUARD_EVENTS: ") || !strings.Contains(out, "NOT included") {
		t.Fatalf("online backup: exit %d\n%s\n%s", code, out, errOut)
	}
	if info, err := os.Stat(online); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode: %v %v", info, err)
	}
	if code, _, errOut := jfguard(t, append([]string{"backup", "--out", online, "--exclude-master-key"}, g.online()...)...); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("a backup over an existing file: exit %d %s", code, errOut)
	}
	if code, _, errOut := jfguard(t, append([]string{"backup", "--out", online + ".2"}, g.online()...)...); code == 0 || !strings.Contains(errOut, "--passphrase-file") {
		t.Fatalf("a backup with neither a passphrase nor --exclude-master-key: exit %d %s", code, errOut)
	}
	onlineMan := manifestOf(t, online)
	g.signInWithTOTP(t, f, "phone-2") // jfguard kept serving

	g.stop(t)
	events := verifiedEvents(t, g.dataDir())
	offline := filepath.Join(tmp, "offline.tar")
	code, out, errOut = jfguard(t, "backup", "--data-dir", g.dataDir(), "--out", offline, "--exclude-master-key")
	if code != 0 || !strings.Contains(out, "NOT included") {
		t.Fatalf("offline backup: exit %d\n%s\n%s", code, out, errOut)
	}
	offlineMan := manifestOf(t, offline)
	if s, _ := offlineMan.Stream(store.StreamName); s.Messages != events || s.LastSeq != events {
		t.Fatalf("offline manifest: %+v; the stopped store holds %d events", s, events)
	}
	if s, _ := onlineMan.Stream(store.StreamName); s.Messages == 0 || s.Messages >= events {
		t.Fatalf("online manifest: %+v; the store later held %d events", s, events)
	}

	// Refusals, each before anything is written.
	refused := restoreRefused(t, filepath.Join(tmp, "refused"))
	refused("no master key", "made without the master key", "--in", offline)
	otherKey := writeFile(t, filepath.Join(tmp, "other.key"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	refused("another master key", "not the one this archive was made with", "--in", offline, "--master-key-file", otherKey)
	flip := func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b }
	data := "streams/" + store.StreamName + "/stream.arc.s2"
	tampered := rewriteArchive(t, online, filepath.Join(tmp, "tampered.tar"), data, flip, false)
	refused("a changed byte", "damaged or was changed", "--in", tampered, "--master-key-file", key)
	forged := rewriteArchive(t, online, filepath.Join(tmp, "forged.tar"), data, flip, true)
	refused("a change with its checksum rewritten", "manifest's MAC does not match", "--in", forged, "--master-key-file", key)
	whole := readFile(t, online)
	cut := writeFile(t, filepath.Join(tmp, "cut.tar"), whole[:len(whole)/2])
	refused("a cut archive", "damaged or was changed", "--in", cut, "--master-key-file", key)

	// The online archive.
	dir := filepath.Join(tmp, "restored")
	code, out, errOut = jfguard(t, "restore", "--in", online, "--data-dir", dir, "--master-key-file", key)
	if s, _ := onlineMan.Stream(store.StreamName); code != 0 || !strings.Contains(out, "audit verify: OK") || !strings.Contains(out, fmt.Sprintf("events: %d,", s.Messages)) {
		t.Fatalf("restore: exit %d (want %d events)\n%s\n%s", code, s.Messages, out, errOut)
	}
	checkModes(t, dir)
	if code, _, errOut := jfguard(t, "restore", "--in", offline, "--data-dir", dir, "--master-key-file", key); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("a restore over a restored directory: exit %d %s", code, errOut)
	}

	// The offline archive, over the first restore.
	code, out, errOut = jfguard(t, "restore", "--in", offline, "--data-dir", dir, "--master-key-file", key, "--force")
	if code != 0 || !strings.Contains(out, "audit verify: OK") {
		t.Fatalf("restore --force: exit %d\n%s\n%s", code, out, errOut)
	}
	checkModes(t, dir)
	if got := verifiedEvents(t, dir); got != events {
		t.Fatalf("restored %d events; the stopped store held %d", got, events)
	}
	g.settings["data_dir"] = dir
	g.run(t)
	g.signInWithTOTP(t, f, "phone-3")
	if res := g.do(t, http.MethodGet, "/jfguard/healthz", nil); res.status != http.StatusOK {
		t.Fatalf("healthz on the restored instance: %d", res.status)
	}
}

// TestBackupRouteIsForTheAdminTokenOnly: the archive holds every sealed value and
// the wrapped data keys, so the route answers the admin token only: not an
// anonymous caller, not the auditor token, not a user's session, not even an
// administrator's session. A passphrase too short is refused before the archive
// starts.
func TestBackupRouteIsForTheAdminTokenOnly(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	alice := g.signedIn(t, "alice", alicePassword, "alice-1")
	admin := g.signedIn(t, "admin", adminPassword, "admin-1")
	body := map[string]any{"passphrase": "correct horse battery staple"}
	for _, c := range []struct {
		who    string
		header []string
	}{
		{"no credential", nil},
		{"the auditor token", []string{"Authorization", "Bearer " + g.main.AuditorToken()}},
		{"a wrong token", []string{"Authorization", "Bearer " + strings.Repeat("0", 64)}},
		{"a user's session", []string{"Authorization", clientHeader("alice-1", alice)}},
		{"an administrator's session", []string{"Authorization", clientHeader("admin-1", admin)}},
	} {
		res := g.do(t, http.MethodPost, "/jfguard/api/admin/backup", body, c.header...)
		if res.status != http.StatusForbidden || len(res.body) > 1024 {
			t.Errorf("%s: status %d, %d bytes", c.who, res.status, len(res.body))
		}
	}
	res := g.do(t, http.MethodPost, "/jfguard/api/admin/backup", map[string]any{"passphrase": "short"}, "Authorization", "Bearer "+g.main.AdminToken())
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "shorter than") {
		t.Fatalf("a short passphrase: status %d %s", res.status, res.body)
	}
	res = g.do(t, http.MethodPost, "/jfguard/api/admin/backup", map[string]any{"exclude_master_key": true}, "Authorization", "Bearer "+g.main.AdminToken())
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("the admin token: status %d", res.status)
	}
	if _, err := backup.Check(strings.NewReader(string(res.body))); err != nil {
		t.Fatalf("the archive served: %v", err)
	}
}

// rewriteArchive copies an archive with the entry name changed by change and, when
// fixSum, the manifest's checksum of it rewritten to match.
func rewriteArchive(t *testing.T, in, out, name string, change func([]byte) []byte, fixSum bool) string {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(src), tar.NewWriter(&buf)
	var sum string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Name == name:
			b = change(b)
			s := sha256.Sum256(b)
			sum = hex.EncodeToString(s[:])
		case h.Name == "manifest.json" && fixSum:
			var m backup.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for i := range m.Files {
				if m.Files[i].Name == name {
					m.Files[i].SHA256 = sum
				}
			}
			b, _ = json.MarshalIndent(m, "", "  ")
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, out, buf.String())
}

// restoreRefused returns a check that a restore into dir fails saying want, and
// leaves dir uncreated.
func restoreRefused(t *testing.T, dir string) func(what, want string, args ...string) {
	return func(what, want string, args ...string) {
		t.Helper()
		code, _, errOut := jfguard(t, append([]string{"restore", "--data-dir", dir}, args...)...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("%s: exit %d, want an error saying %q:\n%s", what, code, want, errOut)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%s: the data directory was created", what)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func manifestOf(t *testing.T, path string) *backup.Manifest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := backup.Check(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// verifiedEvents runs `audit verify` on a stopped data directory and returns the
// number of events it checked.
func verifiedEvents(t *testing.T, dir string) uint64 {
	t.Helper()
	code, out, errOut := jfguard(t, "audit", "verify", "--data-dir", dir, "--json")
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); code != 0 || err != nil || !rep.OK() || rep.Events == 0 {
		t.Fatalf("audit verify %s: exit %d %v\n%s\n%s", dir, code, err, out, errOut)
	}
	return rep.Events
}

// checkModes fails unless the data directory and the secrets restored in it are
// its owner's only.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	for name, want := range map[string]os.FileMode{"": 0o700, "master.key": 0o600, "admin.token": 0o600, "auditor.token": 0o600, "audit.key": 0o600} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode().Perm() != want {
			t.Errorf("%s/%s: %v %v, want mode %o", dir, name, info, err, want)
		}
	}
}
