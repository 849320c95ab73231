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
	for _, path := range []string{"/usr/bin/jfguard", "/etc/jfguard"} {
		if _, err := os.Stat(path); err == nil {
			skipOrFail(t, "%s exists: this machine already has a jfguard, which this test would replace and remove", path)
		}
	}
	_, userExisted := user.Lookup("jfguard")
	t.Cleanup(func() {
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
		"/usr/lib/systemd/system/jfguard.service": "deploy/systemd/jfguard.service",
		"/usr/lib/sysusers.d/jfguard.conf":        "deploy/systemd/jfguard.sysusers",
		"/etc/jfguard/jfguard.yaml":               "deploy/jfguard.yaml",
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
	if _, err := os.Stat("/etc/jfguard/jfguard.yaml"); err == nil {
		t.Error("the settings file is still there after dpkg --purge")
	}
}

// runAsService starts the installed jfguard the way the unit does: as the
// jfguard user, with /etc/jfguard/jfguard.yaml, and the credentials' paths in the
// environment (a directory of the test standing for %d). Only the listen
// address, Jellyfin (the stand-in) and the data directory differ. The installed
// `jfguard healthcheck` must then find it healthy.
func runAsService(t *testing.T, svcUser *user.User) {
	t.Helper()
	uid, _ := strconv.Atoi(svcUser.Uid)
	gid, _ := strconv.Atoi(svcUser.Gid)
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	upstream := httptest.NewServer(jf)
	t.Cleanup(upstream.Close)

	// The service user must reach its files: a directory of its own under one
	// anyone may traverse.
	base, err := os.MkdirTemp("", "jfguard-deb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	creds, data := filepath.Join(base, "credentials"), filepath.Join(base, "data")
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{creds, data} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(creds, "jellyfin_api_key"), jf.CreateAPIKey("jfguard")+"\n")
	writeFile(t, filepath.Join(creds, "master.key"), base64.StdEncoding.EncodeToString(master)+"\n")
	for _, p := range []string{creds, data, filepath.Join(creds, "jellyfin_api_key"), filepath.Join(creds, "master.key")} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	serve := exec.Command("/usr/bin/jfguard", "serve", "--config", "/etc/jfguard/jfguard.yaml",
		"--listen", listen, "--upstream", upstream.URL, "--data-dir", data)
	serve.Env = []string{
		"JFGUARD_JELLYFIN_API_KEY_FILE=" + filepath.Join(creds, "jellyfin_api_key"),
		"JFGUARD_MASTER_KEY_FILE=" + filepath.Join(creds, "master.key"),
	}
	serve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
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
		if exec.Command("/usr/bin/jfguard", "healthcheck", "--config", "/etc/jfguard/jfguard.yaml", "--listen", listen, "--timeout", "2s").Run() == nil {
			healthy = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !healthy {
		t.Fatalf("jfguard healthcheck never passed against the installed jfguard on %s:\n%s", listen, logs.String())
	}
	if fi, err := os.Stat(filepath.Join(data, "nats")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("the event store in the data directory: %v; want it made by the jfguard user", err)
	}
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("the installed jfguard did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
	}
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
