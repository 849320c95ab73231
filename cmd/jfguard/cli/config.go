package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/http"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Settings is the settings file's shape (DESIGN "Settings"); every key can also be
// set by env (JFGUARD_<KEY with dots as underscores>) and flag (--set key=value).
type Settings struct {
	Listen         string `koanf:"listen"`
	Upstream       string `koanf:"upstream"`
	PublicURL      string `koanf:"public_url"`
	DataDir        string `koanf:"data_dir"`
	AdminToken     string `koanf:"admin_token"`
	AdminTokenFile string `koanf:"admin_token_file"`
	MasterKey      string `koanf:"master_key"`
	MasterKeyFile  string `koanf:"master_key_file"`

	AuditorToken     string `koanf:"auditor_token"`
	AuditorTokenFile string `koanf:"auditor_token_file"`

	Jellyfin struct {
		APIKey     string `koanf:"api_key"`
		APIKeyFile string `koanf:"api_key_file"`
	} `koanf:"jellyfin"`

	NATS struct {
		URL          string `koanf:"url"`
		Listen       string `koanf:"listen"`
		Sync         string `koanf:"sync"`
		SyncInterval string `koanf:"sync_interval"`
		Replicas     int    `koanf:"replicas"`
		CredsFile    string `koanf:"creds_file"`

		Nkey     string      `koanf:"nkey"`
		NkeyFile string      `koanf:"nkey_file"`
		TLS      TLSSettings `koanf:"tls"`
	} `koanf:"nats"`

	Security struct {
		Enabled              bool     `koanf:"enabled"`
		RequireAll           bool     `koanf:"require_all"`
		LANBypass            bool     `koanf:"lan_bypass"`
		LoopbackBypass       bool     `koanf:"loopback_bypass"`
		LANCIDRs             []string `koanf:"lan_cidrs"`
		TrustForwardedFor    bool     `koanf:"trust_forwarded_for"`
		TrustedProxies       []string `koanf:"trusted_proxies"`
		IPv6Prefix           int      `koanf:"ipv6_prefix"`
		TrustCookieDays      int      `koanf:"trust_cookie_days"`
		LockoutThreshold     int      `koanf:"lockout_threshold"`
		LockoutDuration      string   `koanf:"lockout_duration"`
		ChallengeMaxFailures int      `koanf:"challenge_max_failures"`
		BanThreshold         int      `koanf:"ban_threshold"`
		BanDuration          string   `koanf:"ban_duration"`
		StepUpWindow         string   `koanf:"step_up_window"`
		TOTPIssuer           string   `koanf:"totp_issuer"`

		PasswordFailuresPerIPPerMinute int    `koanf:"password_failures_per_ip_per_minute"`
		PasswordHoldAfter              int    `koanf:"password_hold_after"`
		PasswordHoldWindow             string `koanf:"password_hold_window"`
		PasswordHoldDuration           string `koanf:"password_hold_duration"`
		JellyfinLockoutAttempts        int    `koanf:"jellyfin_lockout_attempts"`
		NewLocationSecondFactor        bool   `koanf:"new_location_second_factor"`

		AdminNetworks []string `koanf:"admin_networks"`
	} `koanf:"security"`

	WebAuthn struct {
		RPID    string   `koanf:"rp_id"`
		Origins []string `koanf:"origins"`
	} `koanf:"webauthn"`

	SMTP struct {
		Host         string   `koanf:"host"`
		Port         int      `koanf:"port"`
		TLS          string   `koanf:"tls"`
		Username     string   `koanf:"username"`
		Password     string   `koanf:"password"`
		PasswordFile string   `koanf:"password_file"`
		From         string   `koanf:"from"`
		Admins       []string `koanf:"admins"`
	} `koanf:"smtp"`

	Notify struct {
		AllowPrivateHosts []string `koanf:"allow_private_hosts"`
		Events            []string `koanf:"events"`
		Ntfy              struct {
			URL       string `koanf:"url"`
			Topic     string `koanf:"topic"`
			Token     string `koanf:"token"`
			TokenFile string `koanf:"token_file"`
		} `koanf:"ntfy"`
		Gotify struct {
			URL       string `koanf:"url"`
			Token     string `koanf:"token"`
			TokenFile string `koanf:"token_file"`
		} `koanf:"gotify"`
		Webhooks []WebhookSettings `koanf:"webhooks"`
	} `koanf:"notify"`

	Audit struct {
		CheckpointEvery    int    `koanf:"checkpoint_every"`
		CheckpointInterval string `koanf:"checkpoint_interval"`
	} `koanf:"audit"`

	Log struct {
		Level  string `koanf:"level"`
		Format string `koanf:"format"`
	} `koanf:"log"`

	Geo struct {
		DatabaseFile string `koanf:"database_file"`
	} `koanf:"geo"`
	OIDC struct {
		Providers []OIDCProviderSettings `koanf:"providers"`
	} `koanf:"oidc"`
}

// WebhookSettings is one webhook receiver.
type WebhookSettings struct {
	URL        string   `koanf:"url"`
	Secret     string   `koanf:"secret"`
	SecretFile string   `koanf:"secret_file"`
	Events     []string `koanf:"events"`
}

// defaults are the settings of a fresh install.
func defaults() map[string]any {
	return map[string]any{
		"listen":                          ":8097",
		"upstream":                        "http://127.0.0.1:8096",
		"public_url":                      "",
		"data_dir":                        "/var/lib/jfguard",
		"admin_token":                     "",
		"admin_token_file":                "",
		"master_key":                      "",
		"master_key_file":                 "",
		"jellyfin.api_key":                "",
		"jellyfin.api_key_file":           "",
		"nats.url":                        "",
		"nats.listen":                     "",
		"nats.sync":                       broker.SyncInterval,
		"nats.sync_interval":              broker.DefaultSyncInterval.String(),
		"nats.replicas":                   1,
		"nats.creds_file":                 "",
		"nats.nkey":                       "",
		"nats.nkey_file":                  "",
		"nats.tls.ca_file":                "",
		"nats.tls.cert_file":              "",
		"nats.tls.key_file":               "",
		"auditor_token":                   "",
		"auditor_token_file":              "",
		"security.enabled":                true,
		"security.require_all":            false,
		"security.lan_bypass":             true,
		"security.loopback_bypass":        false,
		"security.lan_cidrs":              []string{"192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12"},
		"security.trust_forwarded_for":    false,
		"security.trusted_proxies":        []string{},
		"security.ipv6_prefix":            domain.DefaultIPv6PrefixBits,
		"security.trust_cookie_days":      30,
		"security.lockout_threshold":      5,
		"security.lockout_duration":       "15m",
		"security.challenge_max_failures": 5,
		"security.ban_threshold":          20,
		"security.ban_duration":           "1h",
		"security.step_up_window":         "5m",
		"security.totp_issuer":            "Jellyfin",
		"webauthn.rp_id":                  "",
		"webauthn.origins":                []string{},
		"smtp.host":                       "",
		"smtp.port":                       587,
		"smtp.tls":                        "starttls",
		"smtp.username":                   "",
		"smtp.password":                   "",
		"smtp.password_file":              "",
		"smtp.from":                       "",
		"smtp.admins":                     []string{},
		"notify.allow_private_hosts":      []string{},
		"notify.events":                   []string{},
		"notify.ntfy.url":                 "https://ntfy.sh",
		"notify.ntfy.topic":               "",
		"notify.ntfy.token":               "",
		"notify.ntfy.token_file":          "",
		"notify.gotify.url":               "",
		"notify.gotify.token":             "",
		"notify.gotify.token_file":        "",
		"notify.webhooks":                 []any{},
		"oidc.providers":                  []any{},
		"audit.checkpoint_every":          1000,
		"audit.checkpoint_interval":       "60s",
		"log.level":                       "info",
		"log.format":                      "text",

		"security.password_failures_per_ip_per_minute": 10,
		"security.password_hold_after":                 5,
		"security.password_hold_window":                "15m",
		"security.password_hold_duration":              "15m",
		"security.jellyfin_lockout_attempts":           3,
		"security.new_location_second_factor":          false,
		"geo.database_file":                            "",

		"security.admin_networks": []string{},
	}
}

// listKeys are keys whose env and --set values are comma-separated lists.
var listKeys = map[string]bool{
	"security.lan_cidrs": true, "security.trusted_proxies": true, "webauthn.origins": true,
	"smtp.admins": true, "notify.allow_private_hosts": true, "notify.events": true,
	"security.admin_networks": true,
}

// EnvName is the environment variable of a settings key.
func EnvName(key string) string {
	return "JFGUARD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// ConfigError is a setting that stops startup: it names the key, the value and the fix.
type ConfigError struct {
	Key, Value, Problem, Fix string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("setting %s = %q: %s; fix: %s", e.Key, e.Value, e.Problem, e.Fix)
}

// ConfigErrors are all the problems of a settings file at once.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return "invalid settings:\n  " + strings.Join(s, "\n  ")
}

// LoadSettings reads defaults, then the settings file (if present, or if named
// explicitly), then JFGUARD_* environment variables, then overrides (flags).
func LoadSettings(path string, explicit bool, environ []string, overrides map[string]string) (*Settings, error) {
	k := koanf.New(".")
	def := defaults()
	if err := k.Load(confmap.Provider(def, "."), nil); err != nil {
		return nil, err
	}
	if path != "" {
		if _, err := os.Stat(path); err == nil || explicit {
			if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
				return nil, fmt.Errorf("settings file %s: %w", path, err)
			}
		}
	}
	var errs ConfigErrors
	known := map[string]bool{}
	for key := range def {
		known[key] = true
	}
	for _, key := range k.Keys() {
		if !known[key] && !strings.HasPrefix(key, "notify.webhooks") && !strings.HasPrefix(key, "oidc.providers") {
			errs = append(errs, &ConfigError{Key: key, Value: fmt.Sprint(k.Get(key)), Problem: "unknown setting",
				Fix: "remove it, or correct its name" + suggest(key, known)})
		}
	}
	// Environment variables are matched against the known keys (rather than split on
	// underscores), so keys that contain underscores stay unambiguous.
	envMap := map[string]any{}
	envValues := map[string]string{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		envValues[name] = val
	}
	for key := range def {
		if v, ok := envValues[EnvName(key)]; ok {
			envMap[key] = typedValue(key, v, def[key])
		}
	}
	if len(envMap) > 0 {
		if err := k.Load(confmap.Provider(envMap, "."), nil); err != nil {
			return nil, err
		}
	}
	setMap := map[string]any{}
	for key, v := range overrides {
		if !known[key] {
			errs = append(errs, &ConfigError{Key: key, Value: v, Problem: "unknown setting", Fix: "check the name" + suggest(key, known)})
			continue
		}
		setMap[key] = typedValue(key, v, def[key])
	}
	if len(setMap) > 0 {
		if err := k.Load(confmap.Provider(setMap, "."), nil); err != nil {
			return nil, err
		}
	}
	var s Settings
	if err := k.UnmarshalWithConf("", &s, koanf.UnmarshalConf{Tag: "koanf", FlatPaths: false}); err != nil {
		errs = append(errs, &ConfigError{Key: "(file)", Value: path, Problem: err.Error(), Fix: "check the types of the values (numbers, true/false, lists)"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &s, nil
}

// typedValue converts a string from env or a flag to the type of the key's default.
func typedValue(key, v string, def any) any {
	switch def.(type) {
	case bool:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	case int:
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	case []string:
		if listKeys[key] {
			var out []string
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return v
}

func suggest(key string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// distance is the Levenshtein distance, for "did you mean".
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Resolved are settings checked and turned into the values the program uses.
type Resolved struct {
	*Settings
	Upstream           *url.URL
	PublicURL          *url.URL
	Policy             domain.Policy
	Trust              clientaddr.ProxyTrust
	IPv6Prefix         int
	SyncInterval       time.Duration
	CheckpointInterval time.Duration
	JellyfinAPIKey     string
	AdminToken         string
	MasterKey          string
	// MasterKeyFile is where the master keyring is kept and rewritten by a
	// rotation: master_key_file, else data_dir/master.key; empty when the key is
	// given in clear (master_key or JFGUARD_MASTER_KEY), which jfguard cannot
	// rewrite.
	MasterKeyFile  string
	SMTPPassword   string
	NtfyToken      string
	GotifyToken    string
	WebhookSecrets []string
	WebAuthn       gateway.WebAuthnSettings
	OIDC           []gateway.OIDCProvider
	Warnings       []string

	// The event bus: the nkey seed for an external server, the auditor token, and
	// the warnings /jfguard/readyz keeps repeating (also in Warnings).
	NATSNkeySeed string
	AuditorToken string
	BusWarnings  []string
}

// Resolve validates settings and reads secrets from their files. Every problem is
// reported at once, each with key, value and fix.
func (s *Settings) Resolve() (*Resolved, error) {
	r := &Resolved{Settings: s}
	var errs ConfigErrors
	bad := func(key, value, problem, fix string) {
		errs = append(errs, &ConfigError{Key: key, Value: value, Problem: problem, Fix: fix})
	}
	if _, _, err := splitHostPort(s.Listen); err != nil {
		bad("listen", s.Listen, "not an address to listen on", `use host:port, e.g. ":8097" or "127.0.0.1:8097"`)
	}
	if u, err := url.Parse(s.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("upstream", s.Upstream, "not an http(s) URL of Jellyfin", `use e.g. "http://127.0.0.1:8096"`)
	} else {
		r.Upstream = u
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url", s.PublicURL, "not an http(s) URL", `use the address users type, e.g. "https://jellyfin.example.com"`)
		} else {
			r.PublicURL = u
		}
	}
	if s.DataDir == "" {
		bad("data_dir", s.DataDir, "empty", "set a directory jfguard may write, e.g. /var/lib/jfguard")
	} else if abs, err := filepath.Abs(s.DataDir); err == nil {
		s.DataDir = abs
	}
	switch s.NATS.Sync {
	case broker.SyncAlways, broker.SyncInterval:
	default:
		bad("nats.sync", s.NATS.Sync, "not a sync mode", `use "always" (fsync every event) or "interval"`)
	}
	r.SyncInterval = parseDuration(&errs, "nats.sync_interval", s.NATS.SyncInterval, 10*time.Millisecond, time.Hour)
	if s.NATS.Replicas < 1 || s.NATS.Replicas > 5 {
		bad("nats.replicas", strconv.Itoa(s.NATS.Replicas), "not from 1 to 5", "use 1 for one server, 3 for a cluster")
	}
	if s.NATS.Listen != "" {
		if _, _, err := splitHostPort(s.NATS.Listen); err != nil {
			bad("nats.listen", s.NATS.Listen, "not host:port", `use e.g. "127.0.0.1:4222", or leave empty to open no port`)
		}
	}
	r.CheckpointInterval = parseDuration(&errs, "audit.checkpoint_interval", s.Audit.CheckpointInterval, time.Second, time.Hour)
	if s.Audit.CheckpointEvery < 1 || s.Audit.CheckpointEvery > 1000 {
		bad("audit.checkpoint_every", strconv.Itoa(s.Audit.CheckpointEvery), "not from 1 to 1000", "checkpoints must come at least every 1000 events")
	}

	// The policy.
	p := domain.DefaultPolicy()
	p.Enabled, p.RequireAll, p.LANBypass, p.LoopbackBypass = s.Security.Enabled, s.Security.RequireAll, s.Security.LANBypass, s.Security.LoopbackBypass
	if cidrs, err := gateway.ParseCIDRs(s.Security.LANCIDRs); err != nil {
		bad("security.lan_cidrs", strings.Join(s.Security.LANCIDRs, ","), err.Error(), "list CIDRs like 192.168.0.0/16")
	} else {
		p.LANCIDRs = cidrs
	}
	proxies, err := gateway.ParseCIDRs(s.Security.TrustedProxies)
	if err != nil {
		bad("security.trusted_proxies", strings.Join(s.Security.TrustedProxies, ","), err.Error(), "list the addresses of your reverse proxies, e.g. 127.0.0.1 or 10.0.0.2/32")
	}
	r.Trust = clientaddr.ProxyTrust{TrustForwardedFor: s.Security.TrustForwardedFor, TrustedProxies: proxies}
	if n := s.Security.IPv6Prefix; n < domain.MinIPv6PrefixBits || n > domain.MaxIPv6PrefixBits {
		bad("security.ipv6_prefix", strconv.Itoa(n), fmt.Sprintf("not a prefix length from %d to %d", domain.MinIPv6PrefixBits, domain.MaxIPv6PrefixBits),
			"use 64 (the network one subscriber holds, the default), 56 or 48 to count a whole site as one client, or 128 to count IPv6 addresses one by one")
	} else {
		r.IPv6Prefix = n
	}
	for key, v := range map[string]string{
		"security.trust_cookie_days":      strconv.Itoa(s.Security.TrustCookieDays),
		"security.lockout_threshold":      strconv.Itoa(s.Security.LockoutThreshold),
		"security.lockout_duration":       s.Security.LockoutDuration,
		"security.challenge_max_failures": strconv.Itoa(s.Security.ChallengeMaxFailures),
		"security.ban_threshold":          strconv.Itoa(s.Security.BanThreshold),
		"security.ban_duration":           s.Security.BanDuration,
		"security.step_up_window":         s.Security.StepUpWindow,

		"security.password_failures_per_ip_per_minute": strconv.Itoa(s.Security.PasswordFailuresPerIPPerMinute),
		"security.password_hold_after":                 strconv.Itoa(s.Security.PasswordHoldAfter),
		"security.password_hold_window":                s.Security.PasswordHoldWindow,
		"security.password_hold_duration":              s.Security.PasswordHoldDuration,
		"security.jellyfin_lockout_attempts":           strconv.Itoa(s.Security.JellyfinLockoutAttempts),
		"security.new_location_second_factor":          strconv.FormatBool(s.Security.NewLocationSecondFactor),

		"security.admin_networks": strings.Join(s.Security.AdminNetworks, ","),
	} {
		if err := gateway.ApplySetting(&p, key, v); err != nil {
			bad(key, v, strings.TrimPrefix(err.Error(), key+": "), "see docs/operations.md for the allowed range")
		}
	}
	r.Policy = p
	if strings.Contains(s.Security.TOTPIssuer, ":") || s.Security.TOTPIssuer == "" {
		bad("security.totp_issuer", s.Security.TOTPIssuer, "empty or contains a colon", `authenticator apps split labels on ":"; use e.g. "Jellyfin"`)
	}
	webAuthn, webAuthnErrs, webAuthnWarnings := resolveWebAuthn(s.WebAuthn.RPID, s.WebAuthn.Origins, r.PublicURL)
	r.WebAuthn = webAuthn
	errs = append(errs, webAuthnErrs...)
	r.Warnings = append(r.Warnings, webAuthnWarnings...)
	switch s.SMTP.TLS {
	case "starttls", "tls", "none":
	default:
		bad("smtp.tls", s.SMTP.TLS, "not a TLS mode", `use "starttls" (port 587), "tls" (port 465) or "none" (local relay only)`)
	}
	if s.SMTP.Port < 1 || s.SMTP.Port > 65535 {
		bad("smtp.port", strconv.Itoa(s.SMTP.Port), "not a port", "use 587 for STARTTLS or 465 for TLS")
	}
	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", s.Log.Level, "not a level", "use debug, info, warn or error")
	}
	switch s.Log.Format {
	case "text", "json":
	default:
		bad("log.format", s.Log.Format, "not a format", "use text or json")
	}

	// Secrets: the file form wins; the plain form is accepted with a warning.
	r.JellyfinAPIKey = secret(&errs, &r.Warnings, "jellyfin.api_key", s.Jellyfin.APIKey, s.Jellyfin.APIKeyFile)
	r.AdminToken = secret(&errs, &r.Warnings, "admin_token", s.AdminToken, s.AdminTokenFile)
	r.MasterKey = secret(&errs, &r.Warnings, "master_key", s.MasterKey, s.MasterKeyFile)
	switch {
	case s.MasterKeyFile != "":
		r.MasterKeyFile = s.MasterKeyFile
	case s.MasterKey == "":
		r.MasterKeyFile = filepath.Join(s.DataDir, "master.key")
	}
	r.SMTPPassword = secret(&errs, &r.Warnings, "smtp.password", s.SMTP.Password, s.SMTP.PasswordFile)
	r.NtfyToken = secret(&errs, &r.Warnings, "notify.ntfy.token", s.Notify.Ntfy.Token, s.Notify.Ntfy.TokenFile)
	r.GotifyToken = secret(&errs, &r.Warnings, "notify.gotify.token", s.Notify.Gotify.Token, s.Notify.Gotify.TokenFile)
	for i, w := range s.Notify.Webhooks {
		key := fmt.Sprintf("notify.webhooks[%d]", i)
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", w.URL, "not an http(s) URL", "use the receiver's full URL")
		}
		r.WebhookSecrets = append(r.WebhookSecrets, secret(&errs, &r.Warnings, key+".secret", w.Secret, w.SecretFile))
	}
	r.Warnings = append(r.Warnings, clientaddr.BypassWarnings(p.LANBypass, p.LANCIDRs, r.Trust)...)
	if r.JellyfinAPIKey == "" && p.JellyfinLockout > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("jellyfin.api_key_file is not set: jfguard cannot read or reset a user's count of failed sign-ins at Jellyfin, "+
			"where reaching the lockout disables the account, so after %d wrong passwords in a row for a user name it stops forwarding passwords for that name "+
			"until an administrator releases it (jfguard rpc passwords.release), and it cannot protect users hidden from Jellyfin's public user list; "+
			"fix: set jellyfin.api_key_file, or turn Jellyfin's lockout off for every user (Dashboard, Users, \"Failed login tries before user is locked out\": -1) "+
			"and set security.jellyfin_lockout_attempts to 0", p.JellyfinLockout-1))
	}
	oidcProviders, oidcErrs := resolveOIDC(s.OIDC.Providers, r.PublicURL)
	r.OIDC = oidcProviders
	errs = append(errs, oidcErrs...)
	resolveBus(s, r, &errs)
	if err := checkGeoDatabase(s.Geo.DatabaseFile); err != nil {
		bad("geo.database_file", s.Geo.DatabaseFile, err.Error(), "point it at a GeoLite2-City.mmdb (or GeoIP2/GeoLite2 Country) downloaded with your MaxMind account, or leave it empty")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

func parseDuration(errs *ConfigErrors, key, v string, min, max time.Duration) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		*errs = append(*errs, &ConfigError{Key: key, Value: v, Problem: fmt.Sprintf("not a duration from %s to %s", min, max), Fix: `write it like "1s", "15m" or "1h"`})
		return min
	}
	return d
}

// secret reads a secret from its file (preferred) or plain value.
func secret(errs *ConfigErrors, warnings *[]string, key, plain, path string) string {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			*errs = append(*errs, &ConfigError{Key: key + "_file", Value: path, Problem: "cannot be read: " + errors.Unwrap(err).Error(),
				Fix: "point it at a readable file holding only the secret"})
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if plain != "" {
		*warnings = append(*warnings, fmt.Sprintf("%s is set in clear; prefer %s_file (a file only jfguard can read) or %s", key, key, EnvName(key)))
	}
	return plain
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	host := strings.Trim(addr[:i], "[]")
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			if strings.ContainsAny(host, " /") {
				return "", 0, errors.New("bad host")
			}
		}
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	return host, port, nil
}

// KeysList lists every settings key, for documentation.
func KeysList() []string {
	var out []string
	for k := range defaults() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
