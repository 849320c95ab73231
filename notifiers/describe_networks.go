package notifiers

import (
	"strings"

	"github.com/jfguard/jfguard/events"
)

// describeSignInRefused is the alert of a sign-in refused with the right
// credential: someone who knows it tried from a network the account may not use.
func describeSignInRefused(p *events.SignInRefused, who string, v func(string) string) description {
	summary := "A sign-in of " + who + " with the right credential was refused."
	if p.Reason == "network" {
		list := "the networks " + who + " may sign in from"
		if p.Rule == "admins" {
			list = "the networks administrators may sign in from (security.admin_networks)"
		}
		summary = "A sign-in of " + who + " with the right credential came from " + v(p.Address) + ", outside " + list + ", and was refused. If it was not " + who + ", someone knows the credential."
	}
	return description{title: "Sign-in refused: " + who, summary: summary, priority: 4, tags: []string{"warning", "no_entry"},
		facts: []Fact{{"Reason", v(p.Reason)}, {"Method", v(p.Method)}, {"Address", v(p.Address)}}}
}

// describeNetworksSet is the alert of a change to where a user may sign in from.
func describeNetworksSet(p *events.UserNetworksSet, who string, v func(string) string) description {
	nets := "anywhere"
	if len(p.Networks) > 0 {
		nets = v(strings.Join(p.Networks, ", "))
	}
	return description{title: "Networks set: " + who, summary: who + " may now sign in from " + nets + ".", priority: 3, tags: []string{"globe_with_meridians"},
		facts: []Fact{{"Networks", nets}}}
}
