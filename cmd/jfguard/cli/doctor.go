package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DoctorCmd diagnoses a setup: the settings, Jellyfin, the event store, the audit
// chain and the disk, one line per check.
type DoctorCmd struct {
	storeFlags
	JSON bool `help:"Print the checks as JSON."`
}

// The outcomes of a check, as JSON names them; the text output marks them ✓, ! and ✗.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

// doctorCheck is one line of the diagnosis. Every warning and failure says how to
// fix it.
type doctorCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// doctorReport is the whole diagnosis; OK is false when any check failed.
type doctorReport struct {
	OK     bool          `json:"ok"`
	Checks []doctorCheck `json:"checks"`
}

// Run diagnoses offline (the settings file and data directory, without starting the
// gateway) or, with --server, asks the running jfguard to run the checks itself. It
// exits 1 when any check fails.
func (c *DoctorCmd) Run(ctx context.Context, g *Globals) error {
	var rep doctorReport
	if c.Server != "" {
		rep = c.askServer(ctx, g)
	} else {
		rep = diagnoseOffline(ctx, g)
	}
	if c.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(g.stdout, string(b))
	} else {
		printDoctor(g.stdout, rep)
	}
	if !rep.OK {
		return exitError{code: 1}
	}
	return nil
}

// askServer runs system.doctor on a running jfguard. The local settings only say
// where the admin token is; a settings file that does not load is no reason not to
// ask when the token is given.
func (c *DoctorCmd) askServer(ctx context.Context, g *Globals) doctorReport {
	d := newDoctor(time.Now)
	r, err := g.settings()
	if err != nil {
		if c.Token == "" {
			d.settingsInvalid(err)
			return d.report()
		}
		r = &Resolved{Settings: &Settings{}}
	}
	cl, err := newRPCClient(g, r, c.storeFlags)
	if err == nil {
		var rep doctorReport
		if err = cl.call(ctx, "system.doctor", nil, &rep); err == nil {
			return rep
		}
	}
	d.fail("server", fmt.Sprintf("cannot run the checks on %s: %v", c.Server, err),
		"check --server and the admin token (--token or JFGUARD_ADMIN_TOKEN), or run jfguard doctor on the jfguard host with --config while jfguard is stopped")
	return d.report()
}

func printDoctor(w io.Writer, rep doctorReport) {
	marks := map[string]string{checkOK: "✓", checkWarn: "!", checkFail: "✗"}
	for _, c := range rep.Checks {
		line := marks[c.Status] + " " + c.Name + ": " + c.Message
		if c.Fix != "" {
			line += " — fix: " + c.Fix
		}
		fmt.Fprintln(w, line)
	}
	if rep.OK {
		fmt.Fprintln(w, "doctor: no failures")
	} else {
		fmt.Fprintln(w, "doctor: FAILED (the lines marked ✗)")
	}
}

// diagnoseOffline reads the settings as serve does and checks Jellyfin and the data
// directory's store without starting the gateway. It creates nothing: no data
// directory, key or stream that is missing comes into being.
func diagnoseOffline(ctx context.Context, g *Globals) doctorReport {
	d := newDoctor(time.Now)
	r, err := g.settings()
	if err != nil {
		d.settingsInvalid(err)
		return d.report()
	}
	d.settings(r)
	d.jellyfin(ctx, r)
	d.webAuthn(r)
	d.proxies(r, nil)
	if st, done := d.openStoreOffline(ctx, r); st != nil {
		d.auditChain(ctx, st, r.DataDir)
		done()
	}
	d.disk(r)
	return d.report()
}

// doctorHook is the control API's system.doctor: the checks, run inside the
// running node with its settings, its connection to NATS and the client
// addresses its gateway counted (in reg).
func (m *Main) doctorHook(reg prometheus.Gatherer) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		r := m.Settings
		d := newDoctor(m.now)
		d.settings(r)
		d.jellyfin(ctx, r)
		d.webAuthn(r)
		d.proxies(r, clientAddressCounts(reg))
		d.busOnline(ctx, r, m.store.JetStream())
		d.permissions(ctx, m.conn.NC, d.buckets(ctx, m.store.JetStream(), r.NATS.Replicas))
		if d.streams(ctx, m.store.JetStream()) {
			d.auditChain(ctx, m.store, r.DataDir)
		}
		d.disk(r)
		return d.report(), nil
	}
}

// doctor collects the checks of one diagnosis.
type doctor struct {
	now    func() time.Time
	hc     *http.Client
	checks []doctorCheck
	// The disk line's limits (diskFail, diskWarn, diskWarnPart); tests raise
	// them rather than fill a disk.
	diskFailBelow, diskWarnBelow, diskWarnPart uint64
}

func newDoctor(now func() time.Time) *doctor {
	return &doctor{now: now, hc: &http.Client{Timeout: 10 * time.Second},
		diskFailBelow: diskFail, diskWarnBelow: diskWarn, diskWarnPart: diskWarnPart}
}

func (d *doctor) add(name, status, msg, fix string) {
	d.checks = append(d.checks, doctorCheck{Name: name, Status: status, Message: msg, Fix: fix})
}
func (d *doctor) ok(name, msg string)        { d.add(name, checkOK, msg, "") }
func (d *doctor) warn(name, msg, fix string) { d.add(name, checkWarn, msg, fix) }
func (d *doctor) fail(name, msg, fix string) { d.add(name, checkFail, msg, fix) }
func (d *doctor) skipped(reason string, names ...string) {
	for _, n := range names {
		d.warn(n, "not checked: "+reason, "fix what the line above reports, then run jfguard doctor again")
	}
}

func (d *doctor) report() doctorReport {
	rep := doctorReport{OK: true, Checks: d.checks}
	for _, c := range d.checks {
		if c.Status == checkFail {
			rep.OK = false
		}
	}
	return rep
}

// settingsInvalid reports each problem serve would stop on.
func (d *doctor) settingsInvalid(err error) {
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		d.fail("settings", err.Error(), "correct the settings file (--config) and the JFGUARD_* variables")
		return
	}
	for _, e := range errs {
		d.fail("settings", fmt.Sprintf("%s = %q: %s", e.Key, e.Value, e.Problem), e.Fix)
	}
}

// settings reports that serve would start, and the warnings it would log that no
// later check repeats.
func (d *doctor) settings(r *Resolved) {
	elsewhere := map[string]bool{}
	for _, w := range clientaddr.BypassWarnings(r.Policy.LANBypass, r.Policy.LANCIDRs, r.Trust) {
		elsewhere[w] = true
	}
	_, _, webAuthnWarnings := resolveWebAuthn(r.Settings.WebAuthn.RPID, r.Settings.WebAuthn.Origins, r.PublicURL)
	for _, w := range webAuthnWarnings {
		elsewhere[w] = true
	}
	d.ok("settings", "valid (the checks serve runs at startup pass)")
	for _, w := range r.Warnings {
		if elsewhere[w] {
			continue
		}
		msg, fix, found := strings.Cut(w, "; fix: ")
		if !found {
			fix = "change the setting the warning names as it says, or keep it knowingly"
		}
		d.warn("settings", msg, fix)
	}
}

// publicInfo is the part of Jellyfin's PublicSystemInfo the doctor reads.
type publicInfo struct {
	ProductName string `json:"ProductName"`
	Version     string `json:"Version"`
	ServerName  string `json:"ServerName"`
}

// jellyfin checks that the upstream is a reachable Jellyfin, that its clock agrees
// with this one, that the admin API key is an administrator's and that Quick
// Connect is on.
func (d *doctor) jellyfin(ctx context.Context, r *Resolved) {
	info, date, err := d.publicSystemInfo(ctx, r.Upstream)
	if err != nil {
		d.fail("upstream", fmt.Sprintf("cannot reach Jellyfin at %s: %v", r.Upstream, err),
			"start Jellyfin, or set upstream to the address jfguard reaches it at (e.g. http://127.0.0.1:8096)")
		d.skipped("Jellyfin is unreachable", "clock", "api_key", "quick_connect")
		return
	}
	if !strings.Contains(info.ProductName, "Jellyfin") {
		d.fail("upstream", fmt.Sprintf("%s answers /System/Info/Public but is not Jellyfin (product %q)", r.Upstream, info.ProductName),
			"point upstream at Jellyfin itself, not at a proxy or another service")
		d.skipped("the upstream is not Jellyfin", "clock", "api_key", "quick_connect")
		return
	}
	d.ok("upstream", fmt.Sprintf("%s %s (%q) at %s", info.ProductName, info.Version, info.ServerName, r.Upstream))
	d.clock(date)

	jf := upstream.NewClient(r.Upstream, r.JellyfinAPIKey, Version)
	if !jf.HasAdminKey() {
		d.warn("api_key", "no Jellyfin admin API key: app passwords, passkey-only sign-in and resetting Jellyfin's lockout are unavailable",
			"create an API key in Jellyfin (Dashboard → API Keys) and point jellyfin.api_key_file at a file holding only that key")
	} else {
		var se *upstream.StatusError
		_, err := jf.APIKeys(ctx)
		switch {
		case err == nil:
			d.ok("api_key", "Jellyfin accepts the admin API key as an administrator")
		case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
			d.fail("api_key", "Jellyfin refuses the admin API key (401): it was revoked, mistyped or belongs to another server",
				"create an API key in Jellyfin (Dashboard → API Keys) and put it in the file jellyfin.api_key_file names")
		case errors.As(err, &se) && se.Status == http.StatusForbidden:
			d.fail("api_key", "the admin API key is valid but not an administrator's (403): jfguard cannot authorize Quick Connect sessions with it",
				"use an API key from Dashboard → API Keys (API keys act as administrators), not a user's access token")
		default:
			d.fail("api_key", fmt.Sprintf("cannot check the admin API key: %v", err), "check that Jellyfin answers GET /Auth/Keys, then run jfguard doctor again")
		}
	}
	switch on, err := jf.QuickConnectEnabled(ctx); {
	case err != nil:
		d.fail("quick_connect", fmt.Sprintf("cannot ask Jellyfin whether Quick Connect is on: %v", err), "check that Jellyfin answers GET /QuickConnect/Enabled")
	case !on:
		d.fail("quick_connect", "Quick Connect is off in Jellyfin: app passwords and passkey-only sign-in cannot get a Jellyfin session",
			"turn on Quick Connect in Jellyfin (Dashboard → General → Quick Connect)")
	default:
		d.ok("quick_connect", "on (app passwords and passkey-only sign-in can get sessions)")
	}
}

// publicSystemInfo asks GET /System/Info/Public, which Jellyfin answers to anyone,
// and returns the answer with its Date header.
func (d *doctor) publicSystemInfo(ctx context.Context, base *url.URL) (publicInfo, string, error) {
	var info publicInfo
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/System/Info/Public"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return info, "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return info, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, "", fmt.Errorf("GET /System/Info/Public answered %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return info, "", fmt.Errorf("GET /System/Info/Public: not Jellyfin's JSON: %w", err)
	}
	return info, resp.Header.Get("Date"), nil
}

// Clock skew limits: TOTP codes are valid for 30 seconds either side, and the audit
// checkpoints and trust cookies carry times, so a few seconds are harmless and a
// minute breaks second factors.
const (
	skewWarn = 5 * time.Second
	skewFail = 60 * time.Second
)

// clock compares this host's clock with Jellyfin's Date header.
func (d *doctor) clock(date string) {
	const fix = "synchronize both machines' clocks with NTP (e.g. timedatectl set-ntp true): TOTP codes and audit checkpoint times depend on them"
	if date == "" {
		d.warn("clock", "Jellyfin sent no Date header, so the clocks cannot be compared", "check the clocks by hand; "+fix)
		return
	}
	t, err := http.ParseTime(date)
	if err != nil {
		d.warn("clock", fmt.Sprintf("Jellyfin's Date header %q is not an HTTP date", date), "check the clocks by hand; "+fix)
		return
	}
	// Date has whole seconds: half a second is the reading's own uncertainty.
	skew := d.now().Sub(t.Add(500 * time.Millisecond)).Round(time.Second)
	dir := "ahead of"
	if skew < 0 {
		skew, dir = -skew, "behind"
	}
	msg := fmt.Sprintf("this clock is %s %s Jellyfin's", skew, dir)
	switch {
	case skew > skewFail:
		d.fail("clock", msg, fix)
	case skew > skewWarn:
		d.warn("clock", msg, fix)
	default:
		d.ok("clock", fmt.Sprintf("within %s of Jellyfin's", skewWarn))
	}
}

// webAuthn checks the passkey settings against the addresses users open.
func (d *doctor) webAuthn(r *Resolved) {
	if r.WebAuthn.RPID == "" {
		d.ok("webauthn", "passkeys are off (webauthn.rp_id and webauthn.origins are not set)")
		return
	}
	_, errs, warnings := resolveWebAuthn(r.Settings.WebAuthn.RPID, r.Settings.WebAuthn.Origins, r.PublicURL)
	for _, e := range errs {
		d.fail("webauthn", fmt.Sprintf("%s = %q: %s", e.Key, e.Value, e.Problem), e.Fix)
	}
	for _, w := range warnings {
		d.warn("webauthn", w, "add public_url's scheme and host to webauthn.origins, or correct public_url")
	}
	if r.PublicURL == nil {
		d.warn("webauthn", "public_url is not set, so the passkey settings cannot be compared with the address users open",
			"set public_url to the address users type, e.g. https://jellyfin.example.com")
		return
	}
	if len(errs) == 0 && len(warnings) == 0 {
		d.ok("webauthn", fmt.Sprintf("rp_id %s and origins %s match public_url %s", r.WebAuthn.RPID, strings.Join(r.WebAuthn.Origins, ", "), r.PublicURL))
	}
}

// proxies checks that the client addresses jfguard decides on can be believed: the
// settings as serve warns about them, and, on a running node, the requests it saw
// (counts by source, nil offline).
func (d *doctor) proxies(r *Resolved, counts map[string]float64) {
	warnings := clientaddr.BypassWarnings(r.Policy.LANBypass, r.Policy.LANCIDRs, r.Trust)
	if !r.Policy.LANBypass && r.Trust.TrustForwardedFor && len(r.Trust.TrustedProxies) == 0 {
		warnings = append(warnings, "security.trust_forwarded_for is on but security.trusted_proxies is empty: X-Forwarded-For is never believed, "+
			"so every client behind the proxy shares the proxy's address in rate limits and bans")
	}
	for _, w := range warnings {
		d.warn("proxies", w, proxyFix(w))
	}
	forwarding := r.Trust.TrustForwardedFor && len(r.Trust.TrustedProxies) > 0
	if counts != nil {
		if n := counts["direct"]; forwarding && n > 0 {
			warnings = append(warnings, "direct")
			d.warn("proxies", fmt.Sprintf("%s since start reached jfguard from addresses that are not trusted proxies, with no forwarding header, while forwarding is trusted: clients can go around the proxy", nounCount(uint64(n), "request")),
				"let only the reverse proxy reach jfguard's port (listen on 127.0.0.1, or a firewall rule), or add the missing proxy to security.trusted_proxies")
		}
		if n := counts["proxy_without_header"]; forwarding && n > 0 {
			warnings = append(warnings, "proxy_without_header")
			d.warn("proxies", fmt.Sprintf("%s since start came from a trusted proxy without X-Forwarded-For: their clients all look like the proxy", nounCount(uint64(n), "request")),
				"make the proxy set X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; Caddy and Traefik do by default)")
		}
		if n := counts["untrusted_header"]; n > 0 {
			warnings = append(warnings, "untrusted_header")
			d.warn("proxies", fmt.Sprintf("%s since start carried forwarding headers from addresses not in security.trusted_proxies, which were ignored", nounCount(uint64(n), "request")),
				"if your reverse proxy sent them, list its address in security.trusted_proxies and turn security.trust_forwarded_for on; if not, someone tried to pose as another address")
		}
	}
	if len(warnings) > 0 {
		return
	}
	msg := "no forwarding trusted: the client is the TCP peer"
	if forwarding {
		msg = fmt.Sprintf("X-Forwarded-For believed from %d trusted proxy range(s) only", len(r.Trust.TrustedProxies))
	}
	if counts != nil {
		msg += fmt.Sprintf("; requests since start: %.0f through a proxy, %.0f direct", counts["proxy"], counts["direct"])
	}
	d.ok("proxies", msg)
}

// proxyFix is the fix for a warning of clientaddr.BypassWarnings (which states
// problems for the startup log) or of proxies.
func proxyFix(w string) string {
	switch {
	case strings.Contains(w, "lan_cidrs is empty"):
		return "list your LAN's ranges in security.lan_cidrs, or turn security.lan_bypass off"
	case strings.Contains(w, "trust_forwarded_for is off"):
		return "turn security.trust_forwarded_for on"
	case strings.Contains(w, "trusted_proxies is empty"):
		return "list the reverse proxy's address in security.trusted_proxies (e.g. 127.0.0.1)"
	case strings.Contains(w, "trusts every address"), strings.Contains(w, "covers the whole LAN range"):
		return "list only the reverse proxies' own addresses in security.trusted_proxies"
	case strings.Contains(w, "includes loopback"):
		return "remove loopback from security.lan_cidrs, or list the local reverse proxy in security.trusted_proxies"
	case strings.Contains(w, "public internet addresses"):
		return "list only private ranges in security.lan_cidrs (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7)"
	}
	return "correct security.trusted_proxies, security.trust_forwarded_for or security.lan_cidrs as the warning says (docs/operations.md, Behind a reverse proxy)"
}

// clientAddressCounts reads jfguard_client_addresses_total by source.
func clientAddressCounts(reg prometheus.Gatherer) map[string]float64 {
	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		return counts
	}
	for _, mf := range mfs {
		if mf.GetName() != "jfguard_client_addresses_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" {
					counts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

// openStoreOffline opens the event store for the stream and audit checks without
// creating anything: the embedded store only when the data directory has one and no
// jfguard holds it, the external cluster as it is. It returns nil when the checks
// cannot go on (and has said why).
func (d *doctor) openStoreOffline(ctx context.Context, r *Resolved) (*store.Store, func()) {
	later := []string{"buckets", "permissions", "streams", "audit"}
	var lock *os.File
	if r.NATS.URL == "" {
		if _, err := os.Stat(filepath.Join(r.DataDir, "nats")); err != nil {
			d.warn("nats", fmt.Sprintf("no event store in %s yet", r.DataDir),
				"point --data-dir (or data_dir) at jfguard's data directory; a new one is created by the first jfguard serve")
			d.skipped("no event store", later...)
			return nil, nil
		}
		l, err := LockDataDir(r.DataDir)
		if err != nil {
			d.warn("nats", fmt.Sprintf("jfguard is running on %s: its embedded store is locked", r.DataDir),
				"run jfguard doctor --server URL (with the admin token) to check the running server's store, streams and audit chain")
			d.skipped("the store is in use", later...)
			return nil, nil
		}
		lock = l
	}
	unlock := func() {
		if lock != nil {
			_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
			lock.Close()
		}
	}
	conn, err := broker.Start(broker.Options{URL: r.NATS.URL, CredsFile: r.NATS.CredsFile, StoreDir: filepath.Join(r.DataDir, "nats"),
		Sync: r.NATS.Sync, SyncEvery: r.SyncInterval, NkeySeed: r.NATSNkeySeed, TLS: r.NATS.TLS.files()})
	if err != nil {
		unlock()
		d.busFailed(r, err)
		d.skipped("no connection to NATS", later...)
		return nil, nil
	}
	done := func() { conn.Close(); unlock() }
	js, err := jetstream.New(conn.NC)
	if err == nil {
		_, err = js.AccountInfo(ctx)
	}
	if err != nil {
		done()
		d.busFailed(r, fmt.Errorf("JetStream: %w", err))
		d.skipped("no JetStream", later...)
		return nil, nil
	}
	if conn.Server != nil {
		d.ok("nats", fmt.Sprintf("the embedded store in %s opens (jfguard is stopped)", filepath.Join(r.DataDir, "nats")))
	} else {
		d.ok("nats", fmt.Sprintf("connected to %s with JetStream", r.NATS.URL))
	}
	d.permissions(ctx, conn.NC, d.buckets(ctx, js, r.NATS.Replicas))
	if !d.streams(ctx, js) {
		done()
		d.skipped("the event stream is not intact", "audit")
		return nil, nil
	}
	opts := store.Options{Replicas: r.NATS.Replicas}
	if conn.Server != nil {
		opts.LocalDir = filepath.Join(r.DataDir, "nats")
	}
	if ring, ok, err := existingMasterKeyring(r); err != nil {
		done()
		d.fail("audit", fmt.Sprintf("the master key cannot be read: %v", err), "restore master.key (or master_key_file) from a backup of the data directory")
		return nil, nil
	} else if ok {
		if opts.Auth, err = ring.EventAuthenticator(); err != nil {
			done()
			d.fail("audit", fmt.Sprintf("the master key cannot check events: %v", err), "restore master.key (or master_key_file) from a backup of the data directory")
			return nil, nil
		}
	}
	// The stream exists (streams checked it), so Open only reads its settings.
	st, err := store.Open(ctx, conn.NC, opts)
	if err != nil {
		done()
		d.fail("audit", fmt.Sprintf("cannot open the event store: %v", err), "run jfguard audit verify for details")
		return nil, nil
	}
	return st, done
}

// busFailed reports a NATS connection that does not work.
func (d *doctor) busFailed(r *Resolved, err error) {
	if r.NATS.URL == "" {
		d.fail("nats", fmt.Sprintf("the embedded store in %s does not open: %v", filepath.Join(r.DataDir, "nats"), err),
			"check that the data directory belongs to the user jfguard runs as, or restore it from a backup")
		return
	}
	d.fail("nats", fmt.Sprintf("cannot use the NATS server at %s: %v", r.NATS.URL, err),
		"check nats.url, nats.creds_file or nats.nkey_file and nats.tls, and that jfguard's NATS account has JetStream and may use $JS.API.>")
}

// busOnline reports the running node's own NATS connection.
func (d *doctor) busOnline(ctx context.Context, r *Resolved, js jetstream.JetStream) {
	where := "the embedded NATS server"
	if r.NATS.URL != "" {
		where = r.NATS.URL
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		d.busFailed(r, fmt.Errorf("JetStream: %w", err))
		return
	}
	d.ok("nats", "connected to "+where+" with JetStream")
}

// streamCheck is a stream jfguard keeps and what its settings must be.
type streamCheck struct {
	name  string
	check func(jetstream.StreamConfig) error
}

// streams checks that jfguard's streams exist with settings that keep history, and
// reports whether the event stream is intact (the audit check needs it).
func (d *doctor) streams(ctx context.Context, js jetstream.JetStream) bool {
	eventsOK := false
	for _, sc := range []streamCheck{
		{store.StreamName, store.CheckEventStream},
		{audit.StreamName, store.CheckEventStream},
		{seal.KeysStream, checkKeysStream},
	} {
		s, err := js.Stream(ctx, sc.name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			d.fail("streams", sc.name+" does not exist",
				"if jfguard never ran with this store, start it once to create the stream; otherwise restore the data directory (or the NATS account) from a backup")
			continue
		case err != nil:
			d.fail("streams", fmt.Sprintf("cannot read %s's settings: %v", sc.name, err),
				"allow jfguard's NATS user $JS.API.STREAM.INFO.* (or $JS.API.>)")
			continue
		}
		info := s.CachedInfo()
		if err := sc.check(info.Config); err != nil {
			msg, fix, found := strings.Cut(err.Error(), ". Fix: ")
			if !found {
				fix = "restore the stream's settings with nats stream edit " + sc.name
			}
			d.fail("streams", msg, fix)
			continue
		}
		d.ok("streams", fmt.Sprintf("%s: settings intact, %s", sc.name, nounCount(info.State.Msgs, "message")))
		if sc.name == store.StreamName {
			eventsOK = true
		}
	}
	return eventsOK
}

// checkKeysStream refuses a data-key stream that could lose keys behind jfguard's
// back: losing a user's data key shreds their sealed values. Deleting a key is how
// jfguard forgets a user, so deletes are allowed there.
func checkKeysStream(c jetstream.StreamConfig) error {
	var weak []string
	if c.Storage != jetstream.FileStorage {
		weak = append(weak, "storage is not file (memory storage loses the keys on restart)")
	}
	if c.MaxAge > 0 {
		weak = append(weak, "max_age is set (data keys would expire)")
	}
	if c.AllowMsgTTL {
		weak = append(weak, "allow_msg_ttl is on (data keys can expire)")
	}
	if (c.MaxMsgs > 0 || c.MaxBytes > 0) && c.Discard == jetstream.DiscardOld {
		weak = append(weak, "limits with discard=old are set (old data keys would be removed)")
	}
	if c.MaxMsgsPerSubject != 1 {
		weak = append(weak, "max_msgs_per_subject is not 1 (a user's re-wrapped key must replace the old one)")
	}
	if c.Sealed {
		weak = append(weak, "the stream is sealed (no new data key can be written)")
	}
	if len(weak) > 0 {
		return fmt.Errorf("stream %s: %s. Fix: restore these settings with `nats stream edit %s` (file storage, no max_age, TTL or discard-old limits, max_msgs_per_subject 1)",
			c.Name, strings.Join(weak, "; "), c.Name)
	}
	return nil
}

// auditChain verifies every event against the signed checkpoints with the data
// directory's audit keys, as jfguard audit verify does.
func (d *doctor) auditChain(ctx context.Context, st *store.Store, dataDir string) {
	keyPath := filepath.Join(dataDir, "audit.key")
	if _, err := os.Stat(keyPath); err != nil {
		d.fail("audit", fmt.Sprintf("no audit key at %s: the checkpoints cannot be checked, and jfguard would sign new ones with a new key", keyPath),
			"restore audit.key (and audit.pub) from a backup of the data directory; without one, verify with the old public key: jfguard audit verify --pubkey ed25519:…")
		return
	}
	priv, previous, err := audit.LoadKeys(dataDir)
	if err != nil {
		d.fail("audit", fmt.Sprintf("the audit keys cannot be read: %v", err), "restore audit.key and audit.pub from a backup of the data directory")
		return
	}
	keys := append([]ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}, previous...)
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: keys})
	if err != nil {
		d.fail("audit", fmt.Sprintf("cannot verify the audit chain: %v", err), "run jfguard audit verify for details")
		return
	}
	if !rep.OK() {
		problem := ""
		if len(rep.Problems) > 0 {
			problem = ": " + rep.Problems[0]
		}
		d.fail("audit", fmt.Sprintf("the chain breaks at event %d%s", rep.FirstBad, problem),
			"run jfguard audit verify for the full report, and see docs/operations.md, The audit log")
		return
	}
	msg := fmt.Sprintf("chain verified: %s, %s sealing them through event %d, %d newer not yet sealed",
		nounCount(rep.Events, "event"), nounCount(uint64(rep.Checkpoints), "checkpoint"), rep.SealedThrough, rep.Unsealed)
	if rep.Checkpoints == 0 {
		msg = fmt.Sprintf("chain verified: %s, none sealed by a checkpoint yet (one comes within audit.checkpoint_interval)", nounCount(rep.Events, "event"))
	}
	if !rep.MACsChecked {
		d.warn("audit", msg+"; event MACs not checked (no master key)", "run the doctor where the master key (master.key or master_key_file) is readable")
		return
	}
	d.ok("audit", msg)
}

// Free space limits for the data directory's filesystem: JetStream refuses new
// events when its disk is full, and every sign-in writes events.
const (
	diskFail     = 100 << 20
	diskWarn     = 1 << 30
	diskWarnPart = 10 // per cent
)

// disk checks the free space of the data directory's filesystem (of its nearest
// existing parent when it does not exist yet).
func (d *doctor) disk(r *Resolved) {
	dir := r.DataDir
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		d.warn("disk", fmt.Sprintf("cannot read the free space of %s: %v", dir, err), "check the free space by hand (df -h "+dir+")")
		return
	}
	free, total := fs.Bavail*uint64(fs.Bsize), fs.Blocks*uint64(fs.Bsize)
	part := uint64(100)
	if total > 0 {
		part = free * 100 / total
	}
	msg := fmt.Sprintf("%s free of %s (%d %%) on the filesystem of %s", bytesText(free), bytesText(total), part, dir)
	if r.NATS.URL != "" {
		msg += " (the event store itself is on the NATS servers)"
	}
	const fix = "free space on that filesystem, or move data_dir to a larger one"
	switch {
	case free < d.diskFailBelow:
		d.fail("disk", msg+": JetStream stops accepting events, and so sign-ins, when the disk is full", fix)
	case free < d.diskWarnBelow || part < d.diskWarnPart:
		d.warn("disk", msg, fix)
	default:
		d.ok("disk", msg)
	}
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// nounCount writes n and a noun, plural unless n is 1.
func nounCount(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
