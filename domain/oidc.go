package domain

import (
	"errors"
	"slices"
	"strings"

	"github.com/jfguard/jfguard/events"
)

// Sign-in with an OIDC provider. The gateway checks the provider's ID token (its
// signature, issuer, audience, expiry and nonce); the rules here decide what the
// verified claims mean: which Jellyfin user they name, whether the person may sign in
// here at all (the allowed groups), and whether the provider's own authentication
// counts as jfguard's second factor.

// MethodOIDC is the factor an OIDC provider proved when its amr/acr showed a second
// factor; ReasonOIDC the reason its sessions are verified for.
const (
	MethodOIDC = "oidc"
	ReasonOIDC = "oidc_sign_in"
)

// Refusals of an OIDC sign-in.
var (
	// ErrOIDCUnmapped: the ID token names nobody this server maps to a Jellyfin user.
	ErrOIDCUnmapped = errors.New("the provider's account is not mapped to a Jellyfin user")
	// ErrOIDCGroup: the account is in none of the groups allowed to sign in.
	ErrOIDCGroup = errors.New("the provider's account is not in a group allowed to sign in")
	// ErrOIDCSecondFactor: the user must prove a second factor and the provider did
	// not say it checked one.
	ErrOIDCSecondFactor = errors.New("the provider did not check a second factor this user needs")
)

// OIDCRule is what a provider's settings say about its claims.
type OIDCRule struct {
	// UserClaim names the claim whose value names the Jellyfin user.
	UserClaim string
	// Users maps a claim value to a Jellyfin user name; when set, only mapped values
	// sign in. When empty the claim's value is the user name itself.
	Users map[string]string
	// Groups, when set, are the only groups (claim GroupsClaim) whose members may sign in.
	Groups      []string
	GroupsClaim string
	// SecondFactorAMR and SecondFactorACR are the amr and acr values that count as
	// a second factor.
	SecondFactorAMR []string
	SecondFactorACR []string
}

// OIDCIdentity is what a verified ID token means here.
type OIDCIdentity struct {
	UserName     string
	SecondFactor bool
}

// DecideOIDCIdentity reads verified claims under the provider's rule: the user they
// name, refused when unmapped or outside the allowed groups, and whether the
// provider's amr or acr counts as a second factor.
func DecideOIDCIdentity(rule OIDCRule, claims map[string]any) (OIDCIdentity, error) {
	value, _ := claims[rule.UserClaim].(string)
	value = strings.TrimSpace(value)
	name := value
	if len(rule.Users) > 0 {
		name = rule.Users[value]
	}
	if name == "" {
		return OIDCIdentity{}, ErrOIDCUnmapped
	}
	if len(rule.Groups) > 0 && !slices.ContainsFunc(claimStrings(claims[rule.GroupsClaim]), func(g string) bool { return slices.Contains(rule.Groups, g) }) {
		return OIDCIdentity{}, ErrOIDCGroup
	}
	acr, _ := claims["acr"].(string)
	second := slices.ContainsFunc(claimStrings(claims["amr"]), func(m string) bool { return slices.Contains(rule.SecondFactorAMR, m) }) ||
		(acr != "" && slices.Contains(rule.SecondFactorACR, acr))
	return OIDCIdentity{UserName: name, SecondFactor: second}, nil
}

// claimStrings reads a claim that is a list of strings, or a single string.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// DecideOIDCSignIn decides a sign-in whose identity a provider vouched for, for the
// session Jellyfin minted (tokenHash, token). A provider that checked a second
// factor proves the user's (factor_verified with method oidc, an aal2 session); one
// that did not signs in only users who need none, at aal1: jfguard's own second
// factor cannot be skipped by signing in elsewhere. Neither session counts as a
// recent factor for account changes: those ask for one of jfguard's own.
func DecideOIDCSignIn(u *User, pol Policy, secondFactor bool, tokenHash string, token events.Sealed) ([]events.Payload, error) {
	needs := pol.Enabled && (u.HasSecondFactor() || pol.RequireAll)
	if needs && !secondFactor {
		return nil, ErrOIDCSecondFactor
	}
	var evs []events.Payload
	level := AssuranceAAL1
	if secondFactor {
		evs = append(evs, &events.FactorVerified{Method: MethodOIDC, Purpose: PurposePasswordless})
		level = AssuranceAAL2
	}
	sv := NewSessionVerified(tokenHash, ReasonOIDC, token)
	sv.Assurance = string(level)
	return append(evs, sv), nil
}
