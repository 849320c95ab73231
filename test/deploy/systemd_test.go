package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/knadh/koanf/parsers/yaml"
)

const unitFile = "deploy/systemd/jfguard.service"

// unit is a systemd unit file: section → key → every value assigned, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s line %d: %q is not key=value in a section", unitFile, n, line)
			}
			u[section][strings.TrimSpace(key)] = append(u[section][strings.TrimSpace(key)], strings.TrimSpace(value))
		}
	}
	return u
}

// last is the value in force: the last assignment.
func (u unit) last(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// TestSystemdUnitHardening: the unit runs jfguard unprivileged in its own state
// directory, with the hardening directives the operations guide promises.
func TestSystemdUnitHardening(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, readRepoFile(t, unitFile))
	want := map[string]string{
		"ExecStart":               "/usr/bin/jfguard serve --config /etc/jfguard/jfguard.yaml",
		"User":                    "jfguard",
		"StateDirectory":          "jfguard",
		"StateDirectoryMode":      "0700",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Restart":                 "on-failure",
		"UMask":                   "0077",
	}
	for key, value := range want {
		if got, ok := u.last("Service", key); !ok || got != value {
			t.Errorf("[Service] %s = %q (set: %v); want %q", key, got, ok, value)
		}
	}
	if !slices.Contains(u["Service"]["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %v; want @system-service", u["Service"]["SystemCallFilter"])
	}
	if got, ok := u.last("Install", "WantedBy"); !ok || got != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q; want multi-user.target", got)
	}
	// The user the unit names is the one the package creates.
	sysusers := strings.Fields(strings.TrimSpace(lastLine(readRepoFile(t, "deploy/systemd/jfguard.sysusers"))))
	if len(sysusers) < 2 || sysusers[0] != "u" || sysusers[1] != want["User"] {
		t.Errorf("deploy/systemd/jfguard.sysusers declares %v; want the user %s", sysusers, want["User"])
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestSystemdUnitCredentials: the Jellyfin API key and the master key reach the
// service as credentials, from the files the example settings name (so admin
// commands run as root read the same keys), and the service's environment points
// jfguard at its private copies, winning over the settings file.
func TestSystemdUnitCredentials(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, readRepoFile(t, unitFile))
	creds := map[string]string{} // credential name → source file
	for _, v := range u["Service"]["LoadCredential"] {
		name, source, ok := strings.Cut(v, ":")
		if !ok {
			t.Fatalf("LoadCredential=%s names no source file", v)
		}
		creds[name] = source
	}
	env := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		k, val, _ := strings.Cut(strings.Trim(v, `"`), "=")
		env[k] = val
	}
	example, err := yaml.Parser().Unmarshal([]byte(readRepoFile(t, "deploy/jfguard.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	credDir := t.TempDir()
	var environ []string
	for _, key := range []string{"jellyfin.api_key_file", "master_key_file"} {
		name, ok := strings.CutPrefix(env[cli.EnvName(key)], "%d/")
		if !ok {
			t.Fatalf("Environment %s=%q; want %%d/<credential> so the service reads its credential", cli.EnvName(key), env[cli.EnvName(key)])
		}
		source, ok := creds[name]
		if !ok {
			t.Fatalf("%s points at the credential %q, which no LoadCredential= loads (loaded: %v)", cli.EnvName(key), name, creds)
		}
		if inFile := lookup(example, key); inFile != source {
			t.Errorf("deploy/jfguard.yaml sets %s = %q but the unit loads the credential %s from %q", key, inFile, name, source)
		}
		environ = append(environ, cli.EnvName(key)+"="+filepath.Join(credDir, name))
	}
	// What the service sees: the example settings, the unit's environment with %d
	// as a credentials directory holding both files. The settings file names paths
	// under /etc that do not exist here, so resolving proves the environment wins.
	writeFile(t, filepath.Join(credDir, "jellyfin_api_key"), "0123456789abcdef0123456789abcdef\n")
	writeFile(t, filepath.Join(credDir, "master.key"), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	s, err := cli.LoadSettings(repoFile(t, "deploy/jfguard.yaml"), true, environ, map[string]string{"data_dir": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatalf("the service's settings do not resolve: %v", err)
	}
	if r.JellyfinAPIKey != "0123456789abcdef0123456789abcdef" || r.MasterKeyFile != filepath.Join(credDir, "master.key") {
		t.Errorf("the service reads the API key %q and the master key from %q; want the credentials", r.JellyfinAPIKey, r.MasterKeyFile)
	}
}

// lookup reads a dotted key of a parsed YAML document.
func lookup(doc map[string]any, key string) string {
	var cur any = doc
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[part]
	}
	s, _ := cur.(string)
	return s
}

// TestSystemdAnalyze runs systemd's own checks on the unit: `systemd-analyze
// verify` must report nothing (it exits 0 on unknown or misspelt directives, so
// any output fails), and the offline security rating must stay at 2.0 or below
// ("OK"). ExecStart must name an existing program for verify, so the test's copy
// of the unit names this test binary instead of /usr/bin/jfguard.
func TestSystemdAnalyze(t *testing.T) {
	t.Parallel()
	analyze := needCommand(t, "systemd-analyze", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := replaceOnce(t, readRepoFile(t, unitFile), "ExecStart=/usr/bin/jfguard ", "ExecStart="+self+" ")
	path := filepath.Join(t.TempDir(), "jfguard.service")
	writeFile(t, path, text)

	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
	t.Logf("%s", lastLine(string(out)))
}

// The scheduled backup's units.
const (
	backupService = "deploy/systemd/jfguard-backup.service"
	backupTimer   = "deploy/systemd/jfguard-backup.timer"
)

// backupCommand is the command line jfguard-backup.service runs: its ExecStart,
// a shell command, with systemd's escapes ($$, %%) undone.
func backupCommand(t *testing.T) string {
	t.Helper()
	u := parseUnit(t, readRepoFile(t, backupService))
	exec, _ := u.last("Service", "ExecStart")
	script, ok := strings.CutPrefix(exec, "/bin/sh -c '")
	if !ok || !strings.HasSuffix(script, "'") {
		t.Fatalf("%s: ExecStart=%s; want /bin/sh -c '…'", backupService, exec)
	}
	return strings.NewReplacer("$$", "$", "%%", "%").Replace(strings.TrimSuffix(script, "'"))
}

// TestSystemdBackupUnits: the timer starts the backup service daily, catching up
// after the machine was off; the service runs the online backup the guide
// describes, with the package's settings, at the address jfguard listens on, with
// a passphrase among the root-only credentials, into the one directory it may
// write; and only once jfguard runs.
func TestSystemdBackupUnits(t *testing.T) {
	t.Parallel()
	timer := parseUnit(t, readRepoFile(t, backupTimer))
	for key, want := range map[string]string{"OnCalendar": "daily", "Persistent": "true"} {
		if got, _ := timer.last("Timer", key); got != want {
			t.Errorf("%s: [Timer] %s = %q; want %q", backupTimer, key, got, want)
		}
	}
	if got, _ := timer.last("Install", "WantedBy"); got != "timers.target" {
		t.Errorf("%s: [Install] WantedBy = %q; want timers.target", backupTimer, got)
	}

	svc := parseUnit(t, readRepoFile(t, backupService))
	for key, want := range map[string]string{"Type": "oneshot", "UMask": "0077", "ProtectSystem": "strict", "ReadWritePaths": "/var/backups", "Requisite": "jfguard.service"} {
		section := "Service"
		if key == "Requisite" {
			section = "Unit"
		}
		if got, _ := svc.last(section, key); got != want {
			t.Errorf("%s: [%s] %s = %q; want %q", backupService, section, key, got, want)
		}
	}
	example, err := yaml.Parser().Unmarshal([]byte(readRepoFile(t, "deploy/jfguard.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	command := backupCommand(t)
	args := strings.Fields(command)
	flags := map[string]string{}
	for i, a := range args {
		if strings.HasPrefix(a, "--") && i+1 < len(args) {
			flags[a] = args[i+1]
		}
	}
	if len(args) < 3 || args[0] != "exec" || args[1] != "/usr/bin/jfguard" || args[2] != "backup" {
		t.Errorf("%s runs %v; want exec /usr/bin/jfguard backup …", backupService, args)
	}
	for flag, want := range map[string]string{
		"--config": "/etc/jfguard/jfguard.yaml", "--server": "http://" + lookup(example, "listen"),
		"--passphrase-file": "/etc/jfguard/credentials/backup_passphrase",
	} {
		if flags[flag] != want {
			t.Errorf("%s: %s %q; want %q", backupService, flag, flags[flag], want)
		}
	}
	// The guide shows the units' lines as they are.
	guide := readRepoFile(t, "docs/operations.md")
	for _, f := range []string{backupService, backupTimer} {
		u := parseUnit(t, readRepoFile(t, f))
		for _, key := range []string{"ExecStart", "ExecStartPost", "OnCalendar", "RandomizedDelaySec", "Requisite", "ReadWritePaths"} {
			for _, section := range []string{"Unit", "Service", "Timer"} {
				if v, ok := u.last(section, key); ok && !strings.Contains(guide, "\n"+key+"="+v+"\n") {
					t.Errorf("docs/operations.md does not show %s's %s=%s", f, key, v)
				}
			}
		}
	}
	// --out comes last; its time has a space.
	if _, out, _ := strings.Cut(command, " --out "); !strings.HasPrefix(out, "/var/backups/jfguard-$(date ") || !strings.HasSuffix(out, ").tar") {
		t.Errorf("%s: --out %q; want /var/backups/jfguard-$(date …).tar", backupService, out)
	}
}

// TestSystemdAnalyzeBackupUnits runs systemd-analyze verify on the backup timer
// and service, beside the main unit they depend on.
func TestSystemdAnalyzeBackupUnits(t *testing.T) {
	t.Parallel()
	analyze := needCommand(t, "systemd-analyze", "systemd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "jfguard.service"), replaceOnce(t, readRepoFile(t, unitFile), "ExecStart=/usr/bin/jfguard ", "ExecStart="+self+" "))
	for _, f := range []string{backupService, backupTimer} {
		writeFile(t, filepath.Join(dir, filepath.Base(f)), readRepoFile(t, f))
	}
	out, err := exec.Command(analyze, "verify", filepath.Join(dir, "jfguard-backup.timer"), filepath.Join(dir, "jfguard-backup.service")).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
