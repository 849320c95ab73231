package cli

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http"
)

// OIDCProviderSettings is one provider of oidc.providers.
type OIDCProviderSettings struct {
	ID               string            `koanf:"id"`
	Name             string            `koanf:"name"`
	Issuer           string            `koanf:"issuer"`
	ClientID         string            `koanf:"client_id"`
	ClientSecretFile string            `koanf:"client_secret_file"`
	Scopes           []string          `koanf:"scopes"`
	UserClaim        string            `koanf:"user_claim"`
	Users            map[string]string `koanf:"users"`
	Groups           []string          `koanf:"groups"`
	GroupsClaim      string            `koanf:"groups_claim"`
	SecondFactorAMR  []string          `koanf:"second_factor_amr"`
	SecondFactorACR  []string          `koanf:"second_factor_acr"`
}

var oidcIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// resolveOIDC checks oidc.providers and reads each client secret from its file. The
// issuer is not asked anything here: discovery happens on first use, so a provider
// that is down does not keep jfguard from starting.
func resolveOIDC(list []OIDCProviderSettings, publicURL *url.URL) ([]gateway.OIDCProvider, ConfigErrors) {
	var errs ConfigErrors
	bad := func(key, value, problem, fix string) {
		errs = append(errs, &ConfigError{Key: key, Value: value, Problem: problem, Fix: fix})
	}
	if len(list) > 0 && publicURL == nil {
		bad("public_url", "", "empty while oidc.providers is set", `set the address users open, e.g. "https://jellyfin.example.com": the providers send users back to <public_url>/jfguard/oidc/<id>/callback`)
	}
	var out []gateway.OIDCProvider
	seen := map[string]bool{}
	for i, p := range list {
		key := fmt.Sprintf("oidc.providers[%d]", i)
		if !oidcIDPattern.MatchString(p.ID) || seen[p.ID] {
			bad(key+".id", p.ID, "not a unique id of lower-case letters, digits, - and _ (up to 32)", `use e.g. "authelia"; it is part of the redirect URI`)
		}
		seen[p.ID] = true
		if strings.TrimSpace(p.Name) == "" {
			bad(key+".name", p.Name, "empty", `name the provider for the button, e.g. "Authelia"`)
		}
		if u, err := url.Parse(p.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) {
			bad(key+".issuer", p.Issuer, "not an https URL", `use the issuer the provider announces, e.g. "https://auth.example.com" (http only on this computer)`)
		}
		if p.ClientID == "" {
			bad(key+".client_id", "", "empty", "use the client id you registered at the provider")
		}
		var clientSecret string
		if p.ClientSecretFile == "" {
			bad(key+".client_secret_file", "", "empty", "write the client secret into a file only jfguard can read and name it here")
		} else {
			var warnings []string
			clientSecret = secret(&errs, &warnings, key+".client_secret", "", p.ClientSecretFile)
		}
		scopes := p.Scopes
		if len(scopes) == 0 {
			scopes = []string{"openid", "profile", "email", "groups"}
		}
		hasOpenID := false
		for _, s := range scopes {
			hasOpenID = hasOpenID || s == "openid"
		}
		if !hasOpenID {
			bad(key+".scopes", strings.Join(scopes, ","), `lacks "openid"`, `add "openid": without it the provider sends no ID token`)
		}
		claim := p.UserClaim
		if claim == "" {
			claim = "preferred_username"
		}
		groupsClaim := p.GroupsClaim
		if groupsClaim == "" {
			groupsClaim = "groups"
		}
		out = append(out, gateway.OIDCProvider{
			ID: p.ID, Name: strings.TrimSpace(p.Name), Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: clientSecret, Scopes: scopes,
			Rule: domain.OIDCRule{UserClaim: claim, Users: p.Users, Groups: p.Groups, GroupsClaim: groupsClaim,
				SecondFactorAMR: p.SecondFactorAMR, SecondFactorACR: p.SecondFactorACR},
		})
	}
	return out, errs
}

func loopbackHost(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }
