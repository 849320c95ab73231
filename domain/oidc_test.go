package domain

import (
	"testing"

	"github.com/jfguard/jfguard/events"
)

func TestDecideOIDCIdentity(t *testing.T) {
	t.Parallel()
	plain := OIDCRule{UserClaim: "preferred_username", GroupsClaim: "groups", SecondFactorAMR: []string{"mfa", "otp"}, SecondFactorACR: []string{"urn:example:mfa"}}
	mapped := plain
	mapped.UserClaim, mapped.Users = "email", map[string]string{"alice@example.com": "alice"}
	grouped := plain
	grouped.Groups = []string{"jellyfin", "family"}
	cases := []struct {
		name   string
		rule   OIDCRule
		claims map[string]any
		want   OIDCIdentity
		err    error
	}{
		{"the claim names the user", plain, map[string]any{"preferred_username": "alice"}, OIDCIdentity{UserName: "alice"}, nil},
		{"a missing claim names nobody", plain, map[string]any{"email": "alice@example.com"}, OIDCIdentity{}, ErrOIDCUnmapped},
		{"a claim that is not a string names nobody", plain, map[string]any{"preferred_username": 7.0}, OIDCIdentity{}, ErrOIDCUnmapped},
		{"the table maps a value", mapped, map[string]any{"email": "alice@example.com"}, OIDCIdentity{UserName: "alice"}, nil},
		{"with a table an unmapped value is refused", mapped, map[string]any{"email": "mallory@example.com"}, OIDCIdentity{}, ErrOIDCUnmapped},
		{"a member of an allowed group", grouped, map[string]any{"preferred_username": "alice", "groups": []any{"staff", "family"}}, OIDCIdentity{UserName: "alice"}, nil},
		{"outside the allowed groups", grouped, map[string]any{"preferred_username": "alice", "groups": []any{"staff"}}, OIDCIdentity{}, ErrOIDCGroup},
		{"no groups claim at all", grouped, map[string]any{"preferred_username": "alice"}, OIDCIdentity{}, ErrOIDCGroup},
		{"amr shows a second factor", plain, map[string]any{"preferred_username": "alice", "amr": []any{"pwd", "otp"}}, OIDCIdentity{UserName: "alice", SecondFactor: true}, nil},
		{"amr shows the password only", plain, map[string]any{"preferred_username": "alice", "amr": []any{"pwd"}}, OIDCIdentity{UserName: "alice"}, nil},
		{"acr shows a second factor", plain, map[string]any{"preferred_username": "alice", "acr": "urn:example:mfa"}, OIDCIdentity{UserName: "alice", SecondFactor: true}, nil},
		{"another acr does not", plain, map[string]any{"preferred_username": "alice", "acr": "0"}, OIDCIdentity{UserName: "alice"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecideOIDCIdentity(tc.rule, tc.claims)
			thenErr(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("identity %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestDecideOIDCSignIn(t *testing.T) {
	t.Parallel()
	const hash, token = "tokenhash", events.Sealed("sealed")
	verified := func(level Assurance) *events.SessionVerified {
		sv := NewSessionVerified(hash, ReasonOIDC, token)
		sv.Assurance = string(level)
		return sv
	}
	factor := &events.FactorVerified{Method: MethodOIDC, Purpose: PurposePasswordless}
	requireAll := DefaultPolicy()
	requireAll.RequireAll = true
	cases := []struct {
		name   string
		given  []events.Payload
		pol    Policy
		second bool
		then   []events.Payload
		err    error
	}{
		{"no second factor needed: signed in at aal1", discovered(), DefaultPolicy(), false, []events.Payload{verified(AssuranceAAL1)}, nil},
		{"the provider's second factor counts: aal2", story(discovered(), withTOTP()), DefaultPolicy(), true, []events.Payload{factor, verified(AssuranceAAL2)}, nil},
		{"a user with a factor, the provider checked none: refused", story(discovered(), withTOTP()), DefaultPolicy(), false, nil, ErrOIDCSecondFactor},
		{"everyone needs one, the provider checked none: refused", discovered(), requireAll, false, nil, ErrOIDCSecondFactor},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := given(t, testUserID, tc.given...)
			evs, err := DecideOIDCSignIn(u, tc.pol, tc.second, hash, token)
			thenErr(t, err, tc.err)
			thenEvents(t, evs, tc.then...)
		})
	}
}
