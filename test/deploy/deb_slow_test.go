//go:build slow

package deploy

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jfguard/jfguard/test/jellyfin"
)

// debVersion is the version the test stamps on its package.
const debVersion = "9.9.9-deploytest"

// TestSlowDebPackage builds the .deb with deploy/build-deb.sh, installs it with
// dpkg on this machine, runs the installed jfguard as the service would (its
// user, its settings file, its credentials as files) and asks it for its health
// with the installed binary, then removes and purges the package.
//
// It needs root and dpkg (CI runs as root on a machine of its own). About 10 s
// with a warm Go build cache; the first build of the static binary and of nfpm
// takes several minutes on two cores.
func TestSlowDebPackage(t *testing.T) {
	needCommand(t, "dpkg", "dpkg")
	if os.Geteuid() != 0 {
		skipOrFail(t, "installing the .deb needs root: run as root on a machine you can change (CI does)")
	}
	for _, path := range []string{"/usr/bin/jfguard", "/etc/jfguard", "/var/lib/jfguard"} {
		if _, err := os.Stat(path); err == nil {
			skipOrFail(t, "%s exists: this machine already has a jfguard, which this test would replace and remove", path)
		}
	}
	_, userExisted := user.Lookup("jfguard")
	t.Cleanup(func() {
		for _, name := range []string{"jellyfin_api_key", "master.key", "backup_passphrase"} {
			os.Remove(filepath.Join(credentialDir, name)) // left by a failed runAsService
		}
		if out, err := exec.Command("dpkg", "--purge", "jfguard").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge jfguard: %v\n%s", err, out)
		}
		if userExisted != nil {
			_ = exec.Command("userdel", "jfguard").Run()
		}
	})

	out := t.TempDir()
	start := time.Now()
	build := exec.Command("bash", repoFile(t, "deploy/build-deb.sh"), debVersion)
	build.Env = append(os.Environ(), "OUT_DIR="+out)
	stdout, err := build.Output()
	if err != nil {
		t.Fatalf("deploy/build-deb.sh: %v\n%s", err, stderrOf(err))
	}
	deb := lastLine(string(stdout))
	if filepath.Dir(deb) != out || !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh printed %q last; want the package's path in %s", deb, out)
	}
	t.Logf("built %s in %s", filepath.Base(deb), time.Since(start).Round(time.Second))

	run(t, "dpkg", "-i", deb)

	// The binary, stamped with the version and the commit.
	version := run(t, "/usr/bin/jfguard", "version")
	if first := strings.SplitN(version, "\n", 2)[0]; first != "jfguard "+debVersion {
		t.Errorf("jfguard version says %q first; want %q", first, "jfguard "+debVersion)
	}
	if commit, err := exec.Command("git", "-C", repoFile(t, "."), "rev-parse", "HEAD").Output(); err == nil {
		if want := "commit: " + strings.TrimSpace(string(commit)); !strings.Contains(version, want) {
			t.Errorf("jfguard version:\n%s\nwant a line starting %q", version, want)
		}
	}
	for _, want := range []string{"\ngo: go1.", "\nnats-server: v2."} {
		if !strings.Contains(version, want) {
			t.Errorf("jfguard version:\n%s\nlacks %q", version, strings.TrimSpace(want))
		}
	}

	// The files, as shipped; the settings a conffile dpkg keeps on upgrade.
	for installed, shipped := range map[string]string{
		"/usr/lib/systemd/system/jfguard.service":        "deploy/systemd/jfguard.service",
		"/usr/lib/systemd/system/jfguard-backup.service": "deploy/systemd/jfguard-backup.service",
		"/usr/lib/systemd/system/jfguard-backup.timer":   "deploy/systemd/jfguard-backup.timer",
		"/usr/lib/sysusers.d/jfguard.conf":               "deploy/systemd/jfguard.sysusers",
		"/etc/jfguard/jfguard.yaml":                      "deploy/jfguard.yaml",
	} {
		b, err := os.ReadFile(installed)
		if err != nil || string(b) != readRepoFile(t, shipped) {
			t.Errorf("%s is not %s as shipped (%v)", installed, shipped, err)
		}
	}
	if conffiles := run(t, "dpkg-query", "-W", "-f=${Conffiles}", "jfguard"); !strings.Contains(conffiles, "/etc/jfguard/jfguard.yaml") {
		t.Errorf("dpkg conffiles of jfguard: %q; want /etc/jfguard/jfguard.yaml", conffiles)
	}
	if fi, err := os.Stat("/etc/jfguard/credentials"); err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("/etc/jfguard/credentials: %v, %v; want a directory of root's, mode 0700", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir("/etc/jfguard/credentials"); len(entries) != 0 {
		t.Errorf("the package put %d files in /etc/jfguard/credentials; secrets are the administrator's to add", len(entries))
	}
	if _, err := os.Stat("/var/lib/jfguard/master.key"); err == nil {
		t.Error("installing made a master key: the package must create no secret")
	}
	svcUser, err := user.Lookup("jfguard")
	if err != nil {
		t.Fatalf("the package created no jfguard user: %v", err)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command("systemd-analyze", "verify", "/usr/lib/systemd/system/jfguard.service").CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify of the installed unit: %v\n%s", err, out)
		}
	}

	runAsService(t, svcUser)

	run(t, "dpkg", "-r", "jfguard")
	for _, gone := range []string{"/usr/bin/jfguard", "/usr/lib/systemd/system/jfguard.service"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is still there after dpkg -r", gone)
		}
	}
	if _, err := os.Stat("/etc/jfguard/jfguard.yaml"); err != nil {
		t.Errorf("dpkg -r removed the settings file (only a purge should): %v", err)
	}
	run(t, "dpkg", "--purge", "jfguard")
	if _, err := os.Stat("/etc/jfguard"); err == nil {
		t.Error("/etc/jfguard is still there after dpkg --purge")
	}
}

// Where the guide's commands find what the package set up.
const (
	settingsFile  = "/etc/jfguard/jfguard.yaml"
	credentialDir = "/etc/jfguard/credentials"
	stateDir      = "/var/lib/jfguard"
)

// installed is the installed jfguard run the way the unit runs it.
type installed struct {
	uid, gid int
	listen   string
	upstream string
	creds    string // stands for the unit's %d: the credentials' private copies
}

// runAsService runs the installed jfguard as the unit does, and the guide's
// admin commands on it as root with the package's settings file: the online and
// offline doctor, the offline audit verify (which the jfguard user cannot run:
// the credentials are root's), the scheduled backup's command line, and the
// packaged restore (service stopped, the old directory moved aside, the archive
// restored into /var/lib/jfguard, given to the jfguard user, the service started
// and verified).
func runAsService(t *testing.T, svcUser *user.User) {
	t.Helper()
	uid, _ := strconv.Atoi(svcUser.Uid)
	gid, _ := strconv.Atoi(svcUser.Gid)
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	upstream := httptest.NewServer(jf)
	t.Cleanup(upstream.Close)
	svc := installed{uid: uid, gid: gid, listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), upstream: upstream.URL}

	// The credentials as step 2 of the guide makes them (root's, mode 0600), and
	// the service's private copies, which systemd would make.
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"jellyfin_api_key":  jf.CreateAPIKey("jfguard") + "\n",
		"master.key":        base64.StdEncoding.EncodeToString(master) + "\n",
		"backup_passphrase": "six random words for the backup test\n",
	}
	base, err := os.MkdirTemp("", "jfguard-deb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	svc.creds = filepath.Join(base, "credentials")
	if err := os.Mkdir(svc.creds, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, value := range secrets {
		writeFile(t, filepath.Join(credentialDir, name), value)
		writeFile(t, filepath.Join(svc.creds, name), value)
		if err := os.Chown(filepath.Join(svc.creds, name), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(svc.creds, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	// The state directory, as StateDirectory=jfguard with mode 0700 makes it.
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir); os.RemoveAll(stateDir + ".old") })
	if err := os.Chown(stateDir, uid, gid); err != nil {
		t.Fatal(err)
	}

	stop := svc.start(t)
	if fi, err := os.Stat(filepath.Join(stateDir, "nats")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("the event store in the data directory: %v; want it made by the jfguard user", err)
	}
	// "Diagnosing a setup", against the running server: root reads the token.
	svc.admin(t, "doctor", "--config", settingsFile, "--listen", svc.listen, "--server", "http://"+svc.listen)

	// "Scheduling backups": the backup unit's command, at this test's address.
	backupCmd := strings.Replace(backupCommand(t), "http://127.0.0.1:8097", "http://"+svc.listen, 1)
	before, _ := filepath.Glob("/var/backups/jfguard-*.tar")
	if out, err := exec.Command("/bin/sh", "-c", backupCmd).CombinedOutput(); err != nil {
		t.Fatalf("the backup unit's command: %v\n%s", err, out)
	}
	after, _ := filepath.Glob("/var/backups/jfguard-*.tar")
	archive := ""
	for _, a := range after {
		if !slices.Contains(before, a) {
			archive = a
			t.Cleanup(func() { os.Remove(a) })
		}
	}
	if archive == "" {
		t.Fatalf("the backup unit's command wrote no /var/backups/jfguard-*.tar (there were %v, now %v)", before, after)
	}
	stop()

	// "The command line": offline commands as root with the settings file.
	if out := svc.admin(t, "audit", "verify", "--config", settingsFile); !strings.Contains(out, "audit verify: OK") {
		t.Errorf("audit verify as root:\n%s", out)
	}
	svc.admin(t, "doctor", "--config", settingsFile, "--upstream", svc.upstream)
	// As the service user, the settings' credentials cannot be read.
	asService := exec.Command("/usr/bin/jfguard", "audit", "verify", "--config", settingsFile)
	asService.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if out, err := asService.CombinedOutput(); err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("audit verify as the jfguard user: %v\n%s\nwant permission denied (the credentials are root's)", err, out)
	}

	// "Restoring on a packaged install".
	if err := os.Rename(stateDir, stateDir+".old"); err != nil {
		t.Fatal(err)
	}
	restored := svc.admin(t, "restore", "--in", archive, "--data-dir", stateDir, "--passphrase-file", filepath.Join(credentialDir, "backup_passphrase"))
	if !strings.Contains(restored, "audit verify: OK") {
		t.Errorf("restore:\n%s", restored)
	}
	run(t, "chown", "-R", "jfguard:jfguard", stateDir)
	svc.start(t)()
	if out := svc.admin(t, "audit", "verify", "--config", settingsFile); !strings.Contains(out, "audit verify: OK") {
		t.Errorf("audit verify of the restored directory after a start:\n%s", out)
	}
	// dpkg --purge removes /etc/jfguard only when nothing is left in it.
	for name := range secrets {
		if err := os.Remove(filepath.Join(credentialDir, name)); err != nil {
			t.Error(err)
		}
	}
}

// start starts the installed jfguard as the unit does — the jfguard user, the
// package's settings, the credentials' paths in the environment — with only the
// listen address and Jellyfin (the stand-in) changed, waits until the installed
// `jfguard healthcheck` finds it healthy, and returns a function that stops it
// with SIGTERM and checks that it stopped cleanly.
func (s installed) start(t *testing.T) (stop func()) {
	t.Helper()
	serve := exec.Command("/usr/bin/jfguard", "serve", "--config", settingsFile, "--listen", s.listen, "--upstream", s.upstream)
	serve.Env = []string{
		"JFGUARD_JELLYFIN_API_KEY_FILE=" + filepath.Join(s.creds, "jellyfin_api_key"),
		"JFGUARD_MASTER_KEY_FILE=" + filepath.Join(s.creds, "master.key"),
	}
	serve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}}
	logs := &lockedBuffer{}
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	// A no-op once it has stopped: ends it when the test fails first.
	t.Cleanup(func() { _ = serve.Process.Kill() })

	healthy := false
	for range 200 {
		select {
		case err := <-exited:
			t.Fatalf("the installed jfguard exited before it was healthy: %v\n%s", err, logs.String())
		default:
		}
		if exec.Command("/usr/bin/jfguard", "healthcheck", "--config", settingsFile, "--listen", s.listen, "--timeout", "2s").Run() == nil {
			healthy = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !healthy {
		t.Fatalf("jfguard healthcheck never passed against the installed jfguard on %s:\n%s", s.listen, logs.String())
	}
	return func() {
		t.Helper()
		if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err != nil {
			t.Errorf("the installed jfguard did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
		}
	}
}

// admin runs an admin command of the guide with the installed jfguard as root,
// failing the test unless it succeeds; it returns the output.
func (s installed) admin(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("/usr/bin/jfguard", args...).CombinedOutput()
	if err != nil {
		t.Errorf("jfguard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// run runs a command and returns its standard output, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderrOf(err))
	}
	return string(out)
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
