package cli

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadSettingsStopStartupNamingKeyValueAndFix: every invalid setting is reported
// at once with its key, its value and how to fix it.
func TestBadSettingsStopStartupNamingKeyValueAndFix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, yaml string
		env        []string
		want       []string // substrings: key, value, fix
	}{
		{"unknown key with a suggestion", "securty:\n  enabled: true\n", nil, []string{"securty.enabled", "unknown setting", "did you mean security.enabled"}},
		{"bad upstream", "upstream: \"jellyfin:8096\"\n", nil, []string{"upstream", `"jellyfin:8096"`, "http://127.0.0.1:8096"}},
		{"bad sync mode", "nats:\n  sync: sometimes\n", nil, []string{"nats.sync", `"sometimes"`, `use "always"`}},
		{"bad CIDR", "security:\n  lan_cidrs: [\"192.168.0.0/33\"]\n", nil, []string{"security.lan_cidrs", "192.168.0.0/33", "192.168.0.0/16"}},
		{"bad trusted proxy", "security:\n  trusted_proxies: [\"my-proxy\"]\n", nil, []string{"security.trusted_proxies", "my-proxy", "fix:"}},
		{"bad lockout duration", "security:\n  lockout_duration: soon\n", nil, []string{"security.lockout_duration", `"soon"`, "fix:"}},
		{"missing secret file", "jellyfin:\n  api_key_file: /nonexistent/key\n", nil, []string{"jellyfin.api_key_file", "/nonexistent/key", "readable file"}},
		{"checkpoints too rare", "audit:\n  checkpoint_every: 5000\n", nil, []string{"audit.checkpoint_every", "5000", "at least every 1000"}},
		{"bad value from the environment", "", []string{"JFGUARD_SMTP_TLS=ssl"}, []string{"smtp.tls", `"ssl"`, "starttls"}},
		{"bad listen", "listen: \"8097\"\n", nil, []string{"listen", `"8097"`, `":8097"`}},
		{"colon in issuer", "security:\n  totp_issuer: \"My:Jellyfin\"\n", nil, []string{"security.totp_issuer", "My:Jellyfin", "fix:"}},
		{"IPv6 prefix too short", "security:\n  ipv6_prefix: 32\n", nil, []string{"security.ipv6_prefix", `"32"`, "from 48 to 128", "use 64"}},
		{"IPv6 prefix from the environment", "", []string{"JFGUARD_SECURITY_IPV6_PREFIX=129"}, []string{"security.ipv6_prefix", `"129"`, "use 64"}},
		{"password hold too long", "security:\n  password_hold_duration: 30d\n", nil, []string{"security.password_hold_duration", `"30d"`, "fix:"}},
		{"negative throttle", "", []string{"JFGUARD_SECURITY_PASSWORD_FAILURES_PER_IP_PER_MINUTE=-1"}, []string{"security.password_failures_per_ip_per_minute", `"-1"`, "from 0 to 1000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, t.TempDir(), "jfguard.yaml", "data_dir: "+dir+"\n"+tc.yaml)
			s, err := LoadSettings(path, true, tc.env, nil)
			if err == nil {
				_, err = s.Resolve()
			}
			if err == nil {
				t.Fatal("invalid settings were accepted")
			}
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConfigErrors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestSettingsLayers: defaults, then the file, then the environment, then flags.
func TestSettingsLayers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := writeFile(t, dir, "api_key", "secret-from-file\n")
	path := writeFile(t, dir, "jfguard.yaml", `
listen: "127.0.0.1:9000"
data_dir: `+dir+`
jellyfin: { api_key_file: `+key+` }
security:
  require_all: true
  trusted_proxies: ["10.0.0.2"]
  trust_forwarded_for: true
`)
	s, err := LoadSettings(path, true, []string{"JFGUARD_SECURITY_LAN_BYPASS=false", "JFGUARD_SECURITY_LAN_CIDRS=10.1.0.0/16, 10.2.0.0/16"},
		map[string]string{"listen": "127.0.0.1:9001"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.Listen != "127.0.0.1:9001" {
		t.Errorf("flag did not win: listen %s", r.Listen)
	}
	if !r.Policy.RequireAll || r.Policy.LANBypass {
		t.Errorf("file/env not applied: require_all %v lan_bypass %v", r.Policy.RequireAll, r.Policy.LANBypass)
	}
	if len(r.Policy.LANCIDRs) != 2 || r.Policy.LANCIDRs[1].String() != "10.2.0.0/16" {
		t.Errorf("env list not applied: %v", r.Policy.LANCIDRs)
	}
	if r.JellyfinAPIKey != "secret-from-file" {
		t.Errorf("api key from file = %q", r.JellyfinAPIKey)
	}
	if !r.Trust.TrustForwardedFor || len(r.Trust.TrustedProxies) != 1 {
		t.Errorf("proxy trust = %+v", r.Trust)
	}
	if r.Upstream.String() != "http://127.0.0.1:8096" {
		t.Errorf("default upstream = %s", r.Upstream)
	}
}

// TestMissingDefaultFileIsFine: without --config, a missing jfguard.yaml means
// defaults; with --config it is an error.
func TestMissingDefaultFileIsFine(t *testing.T) {
	t.Parallel()
	if _, err := LoadSettings(filepath.Join(t.TempDir(), "jfguard.yaml"), false, nil, nil); err != nil {
		t.Fatalf("missing default file: %v", err)
	}
	if _, err := LoadSettings(filepath.Join(t.TempDir(), "jfguard.yaml"), true, nil, nil); err == nil {
		t.Fatal("a missing explicit settings file was accepted")
	}
}

func TestPlainSecretsWarn(t *testing.T) {
	t.Parallel()
	s, err := LoadSettings("", false, []string{"JFGUARD_JELLYFIN_API_KEY=abc"}, map[string]string{"data_dir": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range r.Warnings {
		found = found || strings.Contains(w, "jellyfin.api_key is set in clear")
	}
	if !found || r.JellyfinAPIKey != "abc" {
		t.Fatalf("warnings %v, key %q", r.Warnings, r.JellyfinAPIKey)
	}
}

// TestNoAdminKeyWarnsAboutJellyfinsLockout: without the Jellyfin admin API key,
// jfguard cannot keep Jellyfin's lockout from disabling accounts except by pausing
// password sign-in for a name; the start says so, with both fixes. With Jellyfin's
// lockout declared off there is nothing to warn about.
func TestNoAdminKeyWarnsAboutJellyfinsLockout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		warn bool
	}{
		{"no admin key", nil, true},
		{"an admin key", map[string]string{"jellyfin.api_key": "abc"}, false},
		{"no admin key, Jellyfin's lockout off", map[string]string{"security.jellyfin_lockout_attempts": "0"}, false},
	} {
		set := map[string]string{"data_dir": t.TempDir()}
		maps.Copy(set, tc.set)
		s, err := LoadSettings("", false, nil, set)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		var warning string
		for _, w := range r.Warnings {
			if strings.Contains(w, "count of failed sign-ins at Jellyfin") {
				warning = w
			}
		}
		switch {
		case tc.warn && warning == "":
			t.Errorf("%s: no warning about Jellyfin's lockout in %q", tc.name, r.Warnings)
		case tc.warn:
			for _, want := range []string{"after 2 wrong passwords in a row", "passwords.release", "fix: set jellyfin.api_key_file", "security.jellyfin_lockout_attempts to 0"} {
				if !strings.Contains(warning, want) {
					t.Errorf("%s: the warning %q does not say %q", tc.name, warning, want)
				}
			}
		case warning != "":
			t.Errorf("%s: warning %q", tc.name, warning)
		}
	}
}
