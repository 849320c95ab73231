package cli

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"github.com/jfguard/jfguard/embed"
	"github.com/nats-io/nkeys"
)

// TLSSettings are the nats.tls.* keys: PEM files for the connection to an external
// NATS server (its CA, this client's certificate) or for the embedded server's
// client port (its certificate, and the CA client certificates must be signed by).
type TLSSettings struct {
	CAFile   string `koanf:"ca_file"`
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

func (t TLSSettings) files() broker.TLSFiles {
	return broker.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
}

// Set reports whether any TLS file is given: then the client insists on TLS.
func (t TLSSettings) Set() bool { return t.files().Set() }

// resolveBus checks the settings of the event bus: credentials and TLS for an
// external server, TLS for the embedded server's client port, the auditor token;
// and warns when events would cross the network in clear: the embedded server
// reachable from other machines, or an external one on another machine.
func resolveBus(s *Settings, r *Resolved, errs *ConfigErrors) {
	bad := func(key, value, problem, fix string) {
		*errs = append(*errs, &ConfigError{Key: key, Value: value, Problem: problem, Fix: fix})
	}
	n := s.NATS
	external := n.URL != ""

	r.NATSNkeySeed = secret(errs, &r.Warnings, "nats.nkey", n.Nkey, n.NkeyFile)
	nkeyKey, nkeyValue := "nats.nkey_file", n.NkeyFile
	if n.NkeyFile == "" {
		nkeyKey, nkeyValue = "nats.nkey", "(hidden)"
	}
	if r.NATSNkeySeed != "" {
		if kp, err := nkeys.FromSeed([]byte(r.NATSNkeySeed)); err != nil || !strings.HasPrefix(r.NATSNkeySeed, "SU") {
			bad(nkeyKey, nkeyValue, "not a NATS user nkey seed", "put the user's seed (one line starting with SU) there, as `nsc` or `nk -gen user` print it")
		} else {
			kp.Wipe()
		}
		if !external {
			r.Warnings = append(r.Warnings, nkeyKey+" is set but nats.url is empty: it is only used to connect to an external NATS server")
		}
		if n.CredsFile != "" {
			bad(nkeyKey, nkeyValue, "nats.creds_file is set too", "authenticate with one of them")
		}
	}
	if n.CredsFile != "" {
		if _, err := os.ReadFile(n.CredsFile); err != nil {
			bad("nats.creds_file", n.CredsFile, "cannot be read", "point it at the .creds file of jfguard's NATS user")
		} else if !external {
			r.Warnings = append(r.Warnings, "nats.creds_file is set but nats.url is empty: it is only used to connect to an external NATS server")
		}
	}

	t := n.TLS
	for key, path := range map[string]string{"nats.tls.ca_file": t.CAFile, "nats.tls.cert_file": t.CertFile, "nats.tls.key_file": t.KeyFile} {
		if path == "" {
			continue
		}
		if _, err := os.ReadFile(path); err != nil {
			bad(key, path, "cannot be read", "point it at a readable PEM file")
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("nats.tls.cert_file", t.CertFile, "nats.tls.cert_file and nats.tls.key_file go together", "set both (a certificate and its private key), or neither")
	} else if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			bad("nats.tls.cert_file", t.CertFile, "not a certificate matching nats.tls.key_file: "+err.Error(), "give the PEM certificate and its own PEM private key")
		}
	}
	if t.CAFile != "" {
		if b, err := os.ReadFile(t.CAFile); err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
			bad("nats.tls.ca_file", t.CAFile, "holds no PEM certificate", "give the CA certificate in PEM form")
		}
	}
	if !external && t.CAFile != "" && t.CertFile == "" {
		bad("nats.tls.ca_file", t.CAFile, "the embedded server uses it to check client certificates, and needs its own certificate for that", "set nats.tls.cert_file and nats.tls.key_file too")
	}
	if !external && t.CertFile != "" && n.Listen == "" {
		r.Warnings = append(r.Warnings, "nats.tls.* is set but nats.listen is empty: the embedded server opens no port, so TLS has nothing to protect")
	}
	if !external && n.Listen != "" && t.CertFile == "" && !loopbackListen(n.Listen) {
		w := "nats.listen " + n.Listen + " accepts connections from other machines without TLS: subscribers' events (who signed in, from where) cross the network in clear; set nats.tls.cert_file and nats.tls.key_file, or listen on 127.0.0.1"
		r.Warnings = append(r.Warnings, w)
		r.BusWarnings = append(r.BusWarnings, w)
	}

	if external && !t.Set() {
		for _, u := range clearTextServers(n.URL) {
			w := "nats.url " + u + " reaches a NATS server on another machine without TLS: events (who signed in, from where) and jfguard's requests cross the network in clear, and anyone on the path can read them; write tls:// (with nats.tls.ca_file for a private CA), or reach the server over loopback"
			r.Warnings = append(r.Warnings, w)
			r.BusWarnings = append(r.BusWarnings, w)
		}
	}

	r.AuditorToken = secret(errs, &r.Warnings, "auditor_token", s.AuditorToken, s.AuditorTokenFile)
	if r.AuditorToken != "" && r.AuditorToken == r.AdminToken {
		bad("auditor_token", "(hidden)", "the same as admin_token", "give the auditor its own token: it must not be able to change anything")
	}
}

// loopbackListen reports whether a listen address accepts connections from this
// machine only. An empty host, 0.0.0.0 or :: listens everywhere; a name other than
// localhost may resolve to anything.
func loopbackListen(addr string) bool {
	host, _, err := splitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// clearTextServers lists the servers of nats.url (comma-separated) on another
// machine that jfguard would connect to without insisting on TLS: nats:// and ws://
// (and a bare host:port, which the client reads as nats://). Such a connection may
// still be upgraded if the server asks for TLS, but only a client that insists
// (tls://, wss://, or nats.tls.* set) cannot be talked out of it by someone on the
// path.
func clearTextServers(urls string) []string {
	var out []string
	for _, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		withScheme := raw
		if !strings.Contains(raw, "://") {
			withScheme = "nats://" + raw
		}
		u, err := url.Parse(withScheme)
		if err != nil {
			continue // the connection refuses it with its own error
		}
		if s := strings.ToLower(u.Scheme); s == "tls" || s == "wss" {
			continue
		}
		if host := u.Hostname(); host == "localhost" || isLoopbackIP(host) {
			continue
		}
		out = append(out, u.Redacted())
	}
	return out
}

// isLoopbackIP reports whether host is a loopback IP literal.
func isLoopbackIP(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
