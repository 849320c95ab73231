package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resolveOIDCFile resolves a settings file holding oidc.providers, with a client
// secret file next to it.
func resolveOIDCFile(t *testing.T, yaml string) (*Resolved, error) {
	t.Helper()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jfguard.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(yaml, "SECRET", secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSettings(path, true, nil, map[string]string{"data_dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	return s.Resolve()
}

// TestOIDCSettings: a provider is read with its defaults and its secret from its
// file, without asking the issuer anything (it need not be up at start).
func TestOIDCSettings(t *testing.T) {
	t.Parallel()
	r, err := resolveOIDCFile(t, `public_url: https://jellyfin.example.com
oidc:
  providers:
    - id: authelia
      name: Authelia
      issuer: https://auth.invalid
      client_id: jellyfin
      client_secret_file: SECRET
      users: {"alice@example.com": alice}
      user_claim: email
      second_factor_amr: [mfa]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.OIDC) != 1 {
		t.Fatalf("providers %+v", r.OIDC)
	}
	p := r.OIDC[0]
	if p.ClientSecret != "s3cret" || strings.Join(p.Scopes, " ") != "openid profile email groups" || p.Rule.UserClaim != "email" ||
		p.Rule.GroupsClaim != "groups" || p.Rule.Users["alice@example.com"] != "alice" || p.Rule.SecondFactorAMR[0] != "mfa" {
		t.Fatalf("provider %+v", p)
	}
}

// TestOIDCSettingsRefused: each mistake stops startup with the key and a fix.
func TestOIDCSettingsRefused(t *testing.T) {
	t.Parallel()
	good := "    - id: sso\n      name: SSO\n      issuer: https://auth.example.com\n      client_id: jellyfin\n      client_secret_file: SECRET\n"
	for _, tc := range []struct{ name, yaml, key string }{
		{"no public_url", "oidc:\n  providers:\n" + good, "public_url"},
		{"a bad id", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "id: sso", "id: Bad/Id", 1), "oidc.providers[0].id"},
		{"the same id twice", "public_url: https://j.example.com\noidc:\n  providers:\n" + good + good, "oidc.providers[1].id"},
		{"no name", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "name: SSO", "name: ' '", 1), "oidc.providers[0].name"},
		{"an http issuer", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "https://auth", "http://auth", 1), "oidc.providers[0].issuer"},
		{"no client id", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "client_id: jellyfin", "client_id: ''", 1), "oidc.providers[0].client_id"},
		{"no secret file", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "SECRET", "''", 1), "oidc.providers[0].client_secret_file"},
		{"a secret file that is not there", "public_url: https://j.example.com\noidc:\n  providers:\n" + strings.Replace(good, "SECRET", "/nonexistent/secret", 1), "oidc.providers[0].client_secret_file"},
		{"scopes without openid", "public_url: https://j.example.com\noidc:\n  providers:\n" + good + "      scopes: [profile]\n", "oidc.providers[0].scopes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := resolveOIDCFile(t, tc.yaml)
			var ce ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("settings were accepted (error %v)", err)
			}
			for _, e := range ce {
				if e.Key == tc.key && e.Fix != "" {
					return
				}
			}
			t.Fatalf("no error on %s: %v", tc.key, err)
		})
	}
}
