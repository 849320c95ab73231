package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// resolveWith resolves settings given as --set flags on top of the defaults.
func resolveWith(t *testing.T, over map[string]string) (*Resolved, error) {
	t.Helper()
	over["data_dir"] = t.TempDir()
	s, err := LoadSettings("", false, nil, over)
	if err != nil {
		t.Fatal(err)
	}
	return s.Resolve()
}

// TestWebAuthnSettingsRefused: an RP ID or origin browsers would refuse stops startup
// with the key, the value and a fix, instead of a passkey prompt that fails for
// everyone.
func TestWebAuthnSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rpID, origins string
		key, value, problem string
	}{
		{"RP ID with a scheme", "https://jellyfin.example.com", "https://jellyfin.example.com", "webauthn.rp_id", "https://jellyfin.example.com", "has a scheme"},
		{"RP ID with a port", "jellyfin.example.com:8920", "https://jellyfin.example.com:8920", "webauthn.rp_id", "jellyfin.example.com:8920", "has a port"},
		{"RP ID with a path", "jellyfin.example.com/web", "https://jellyfin.example.com", "webauthn.rp_id", "jellyfin.example.com/web", "has a path"},
		{"RP ID that is an IPv4 address", "192.168.1.10", "https://192.168.1.10", "webauthn.rp_id", "192.168.1.10", "is an IP address"},
		{"RP ID that is an IPv6 address", "[::1]", "https://[::1]", "webauthn.rp_id", "[::1]", "is an IP address"},
		{"RP ID that is 127.0.0.1", "127.0.0.1", "http://127.0.0.1:8097", "webauthn.rp_id", "127.0.0.1", "is an IP address"},
		{"RP ID that is a top-level domain", "com", "https://jellyfin.com", "webauthn.rp_id", "com", "single label"},
		{"RP ID that is an intranet name", "jellyfin", "https://jellyfin", "webauthn.rp_id", "jellyfin", "single label"},
		{"RP ID with a trailing dot", "example.com.", "https://example.com", "webauthn.rp_id", "example.com.", "ends with a dot"},
		{"RP ID with a space", "jelly fin.example.com", "https://jellyfin.example.com", "webauthn.rp_id", "jelly fin.example.com", "not a domain name"},
		{"RP ID in Unicode", "jellyfin.bücher.de", "https://jellyfin.xn--bcher-kva.de", "webauthn.rp_id", "jellyfin.bücher.de", "xn--"},
		{"RP ID without origins", "jellyfin.example.com", "", "webauthn.origins", "", "empty while webauthn.rp_id is set"},
		{"origins without an RP ID", "", "https://jellyfin.example.com", "webauthn.rp_id", "", "empty while webauthn.origins is set"},
		{"plain http on a public name", "jellyfin.example.com", "http://jellyfin.example.com", "webauthn.origins", "http://jellyfin.example.com", "plain http"},
		{"plain http on 127.0.0.1", "localhost", "http://127.0.0.1:8097", "webauthn.origins", "http://127.0.0.1:8097", "IP address"},
		{"origin with a path", "jellyfin.example.com", "https://jellyfin.example.com/web/", "webauthn.origins", "https://jellyfin.example.com/web/", "more than scheme, host and port"},
		{"origin without a scheme", "jellyfin.example.com", "jellyfin.example.com", "webauthn.origins", "jellyfin.example.com", "not an origin"},
		{"origin of another scheme", "jellyfin.example.com", "ftp://jellyfin.example.com", "webauthn.origins", "ftp://jellyfin.example.com", "not an http(s) origin"},
		{"origin on another domain", "jellyfin.example.com", "https://media.example.org", "webauthn.origins", "https://media.example.org", "neither webauthn.rp_id"},
		{"origin on the parent of the RP ID", "jellyfin.example.com", "https://example.com", "webauthn.origins", "https://example.com", "neither webauthn.rp_id"},
		{"origin that only ends like the RP ID", "example.com", "https://notexample.com", "webauthn.origins", "https://notexample.com", "neither webauthn.rp_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := resolveWith(t, map[string]string{"webauthn.rp_id": tc.rpID, "webauthn.origins": tc.origins})
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("settings were accepted (error %v)", err)
			}
			for _, e := range ce {
				if e.Key == tc.key && e.Value == tc.value {
					if !strings.Contains(e.Problem, tc.problem) {
						t.Errorf("problem %q does not say %q", e.Problem, tc.problem)
					}
					if e.Fix == "" {
						t.Error("no fix")
					}
					return
				}
			}
			t.Fatalf("no error for %s = %q in %v", tc.key, tc.value, err)
		})
	}
}

// TestWebAuthnSettingsAccepted: what browsers accept resolves, with the origins
// written the way browsers write them in clientDataJSON.
func TestWebAuthnSettingsAccepted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rpID, origins string
		wantID              string
		wantOrigins         []string
	}{
		{"the host itself", "jellyfin.example.com", "https://jellyfin.example.com", "jellyfin.example.com", []string{"https://jellyfin.example.com"}},
		{"a parent domain of every origin", "example.com", "https://jellyfin.example.com, https://media.example.com:8920", "example.com", []string{"https://jellyfin.example.com", "https://media.example.com:8920"}},
		{"case and the default port are normalized", "Jellyfin.Example.COM", "HTTPS://Jellyfin.Example.com:443/", "jellyfin.example.com", []string{"https://jellyfin.example.com"}},
		{"localhost over plain http", "localhost", "http://localhost:8097", "localhost", []string{"http://localhost:8097"}},
		{"localhost without a port", "localhost", "http://localhost", "localhost", []string{"http://localhost"}},
		{"an internationalized name in its xn-- form", "xn--bcher-kva.example", "https://jellyfin.xn--bcher-kva.example", "xn--bcher-kva.example", []string{"https://jellyfin.xn--bcher-kva.example"}},
		{"an origin listed twice counts once", "example.com", "https://example.com,https://example.com/", "example.com", []string{"https://example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := resolveWith(t, map[string]string{"webauthn.rp_id": tc.rpID, "webauthn.origins": tc.origins})
			if err != nil {
				t.Fatal(err)
			}
			if r.WebAuthn.RPID != tc.wantID || !slices.Equal(r.WebAuthn.Origins, tc.wantOrigins) || !r.WebAuthn.Enabled() {
				t.Errorf("resolved %+v; want %s %v", r.WebAuthn, tc.wantID, tc.wantOrigins)
			}
		})
	}
}

// TestWebAuthnOffByDefault: without the settings passkeys are off, and a public URL
// the origins do not cover is a warning, not an error.
func TestWebAuthnOffByDefault(t *testing.T) {
	t.Parallel()
	r, err := resolveWith(t, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if r.WebAuthn.Enabled() {
		t.Errorf("passkeys are on without settings: %+v", r.WebAuthn)
	}

	r, err = resolveWith(t, map[string]string{
		"public_url": "https://media.example.com", "webauthn.rp_id": "jellyfin.example.com", "webauthn.origins": "https://jellyfin.example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(r.Warnings, func(w string) bool {
		return strings.Contains(w, "https://media.example.com is not one of webauthn.origins")
	}) {
		t.Errorf("no warning about the public URL: %v", r.Warnings)
	}
}

// TestDevConfiguresPasskeysForLocalhost: jfguard dev on a localhost URL gets passkeys
// for that URL; a URL on 127.0.0.1 (not a domain) or explicit settings are left
// alone.
func TestDevConfiguresPasskeysForLocalhost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, publicURL, rpID string
		wantID                string
		wantOrigins           []string
	}{
		{"localhost", "http://localhost:8097", "", "localhost", []string{"http://localhost:8097"}},
		{"an IP address", "http://127.0.0.1:8097", "", "", nil},
		{"explicit settings win", "http://localhost:8097", "example.com", "example.com", nil},
	} {
		s := &Settings{PublicURL: tc.publicURL}
		s.WebAuthn.RPID = tc.rpID
		devPasskeys(s)
		if s.WebAuthn.RPID != tc.wantID || !slices.Equal(s.WebAuthn.Origins, tc.wantOrigins) {
			t.Errorf("%s: dev settings %+v; want %s %v", tc.name, s.WebAuthn, tc.wantID, tc.wantOrigins)
		}
	}
}
