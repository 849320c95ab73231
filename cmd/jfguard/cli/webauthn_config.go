package cli

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/jfguard/jfguard/http"
)

// resolveWebAuthn checks webauthn.rp_id and webauthn.origins against the rules
// browsers apply, so a mistake stops startup with the fix instead of surfacing as a
// passkey prompt that fails for every user:
//
//   - the RP ID is a domain name only: no scheme, port or path, not an IP address
//     (WebAuthn scopes credentials to a registrable domain), and not a single label
//     such as "com" or "lan" (browsers refuse top-level and intranet names), except
//     localhost;
//   - every origin is https, except http://localhost with or without a port, the one
//     plain-http address browsers treat as a secure context that can also match a
//     domain RP ID (http://127.0.0.1 is a secure context too, but an IP address can
//     never match a domain RP ID);
//   - the RP ID is every origin's host or a parent domain of it.
//
// With neither key set passkeys are off; setting one without the other is a mistake.
// The origins come back normalized the way browsers write them in clientDataJSON:
// lower case, no default port, no trailing slash.
func resolveWebAuthn(rpID string, origins []string, publicURL *url.URL) (gateway.WebAuthnSettings, ConfigErrors, []string) {
	var errs ConfigErrors
	bad := func(key, value, problem, fix string) {
		errs = append(errs, &ConfigError{Key: key, Value: value, Problem: problem, Fix: fix})
	}
	rpID = strings.TrimSpace(rpID)
	if rpID == "" && len(origins) == 0 {
		return gateway.WebAuthnSettings{}, nil, nil
	}
	if rpID == "" {
		bad("webauthn.rp_id", rpID, "empty while webauthn.origins is set",
			`set the domain users open, e.g. "jellyfin.example.com" (no scheme, port or path), or remove webauthn.origins to turn passkeys off`)
		return gateway.WebAuthnSettings{}, errs, nil
	}
	if len(origins) == 0 {
		bad("webauthn.origins", "", "empty while webauthn.rp_id is set",
			`list the full addresses users open, e.g. ["https://`+strings.ToLower(rpID)+`"], or remove webauthn.rp_id to turn passkeys off`)
		return gateway.WebAuthnSettings{}, errs, nil
	}
	id, problem := checkRPID(rpID)
	if problem != "" {
		bad("webauthn.rp_id", rpID, problem,
			`use the domain name alone, e.g. "jellyfin.example.com" for https://jellyfin.example.com, or "localhost" on this computer`)
		return gateway.WebAuthnSettings{}, errs, nil
	}
	out := gateway.WebAuthnSettings{RPID: id}
	seen := map[string]bool{}
	for _, o := range origins {
		origin, host, problem, fix := checkOrigin(o)
		if problem == "" && host != id && !strings.HasSuffix(host, "."+id) {
			problem = "its host " + host + " is neither webauthn.rp_id (" + id + ") nor a subdomain of it"
			fix = "list only addresses on " + id + ", or set webauthn.rp_id to a domain that " + host + " ends with"
		}
		if problem != "" {
			bad("webauthn.origins", o, problem, fix)
			continue
		}
		if !seen[origin] {
			seen[origin] = true
			out.Origins = append(out.Origins, origin)
		}
	}
	if len(errs) > 0 {
		return gateway.WebAuthnSettings{}, errs, nil
	}
	var warnings []string
	if publicURL != nil {
		if origin, _, problem, _ := checkOrigin(publicURL.Scheme + "://" + publicURL.Host); problem != "" || !seen[origin] {
			warnings = append(warnings, "public_url "+publicURL.String()+" is not one of webauthn.origins: passkeys do not work at that address")
		}
	}
	return out, nil, warnings
}

// checkRPID returns the RP ID in lower case, or what is wrong with it.
func checkRPID(v string) (string, string) {
	switch {
	case strings.Contains(v, "://"):
		return "", "has a scheme: an RP ID is a domain name, not a URL"
	case strings.ContainsAny(v, "/?#"):
		return "", "has a path: an RP ID is a domain name, not a URL"
	}
	if _, err := netip.ParseAddr(strings.Trim(v, "[]")); err == nil {
		return "", "is an IP address: passkeys belong to a domain name"
	}
	if strings.Contains(v, ":") {
		return "", "has a port: an RP ID is the domain name alone, whatever the port"
	}
	id := strings.ToLower(v)
	if strings.HasSuffix(id, ".") {
		return "", "ends with a dot"
	}
	if len(id) > 253 {
		return "", "is longer than a domain name can be (253 characters)"
	}
	labels := strings.Split(id, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return "", "is not a domain name (letters, digits and hyphens between dots; write an internationalized name in its xn-- form)"
		}
	}
	if len(labels) == 1 && id != "localhost" {
		return "", "is a single label (a top-level domain or an intranet name), which browsers refuse as an RP ID"
	}
	return id, ""
}

// dnsLabel reports whether l is a host name label: 1 to 63 letters, digits and
// hyphens, not starting or ending with a hyphen.
func dnsLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkOrigin returns an origin as browsers serialize it and its host, or what is
// wrong with it and how to fix it.
func checkOrigin(v string) (origin, host, problem, fix string) {
	const example = `write scheme, host and port only, e.g. "https://jellyfin.example.com"`
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", "", "not an origin", example
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", "has more than scheme, host and port", example
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if _, err := netip.ParseAddr(host); err == nil {
		return "", "", "its host is an IP address, which can never match a domain RP ID",
			"open jfguard by a domain name (on this computer, http://localhost" + portSuffix(port) + ") and list that address"
	}
	switch {
	case scheme == "https":
		if port == "443" {
			port = ""
		}
	case scheme == "http" && host == "localhost":
		if port == "80" {
			port = ""
		}
	case scheme == "http":
		return "", "", "is plain http: browsers offer passkeys only over https (or on http://localhost)",
			"put jfguard behind TLS and list https://" + host + portSuffix(port)
	default:
		return "", "", "is not an http(s) origin", example
	}
	return scheme + "://" + host + portSuffix(port), host, "", ""
}

func portSuffix(port string) string {
	if port == "" {
		return ""
	}
	return ":" + port
}
