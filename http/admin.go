package gateway

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/events"
)

// handleAdminPage serves the admin page. Like the setup page it holds no data: its
// script reads the web app's session from the browser and calls the control API,
// which lets in only an administrator's verified session. Anyone may load the
// shell; only an administrator gets anything out of it.
func (s *Server) handleAdminPage(c *gin.Context) {
	s.renderPage(c, http.StatusOK, pageData{Page: "admin", Title: "Security admin"})
}

// eventTypeView is one event type as the admin page shows it: the catalog's entry
// with a short label for the timeline's column and filter, a tone for its badge, and
// the payload fields the timeline leaves out.
type eventTypeView struct {
	Type      string   `json:"type"`
	Aggregate string   `json:"aggregate"`
	Label     string   `json:"label"`
	Tone      string   `json:"tone,omitempty"`
	Summary   string   `json:"summary"`
	Hidden    []string `json:"hidden"`
}

// The tones of the timeline's badges: what went wrong stands out, what an admin
// should look at twice is amber, what succeeded is green, the rest stays quiet.
const (
	toneGood = "good"
	toneWarn = "warn"
	toneBad  = "bad"
)

// eventLabel is the timeline's word for an event type.
type eventLabel struct {
	label string
	tone  string
}

// eventLabels names every event type for people. The catalog's summaries are
// sentences for subscribers; a table column needs two or three words. A test checks
// that every catalog type has one, so a new type cannot reach the timeline unnamed.
var eventLabels = map[string]eventLabel{
	"user_discovered":          {"New user", ""},
	"user_profile_changed":     {"Profile changed", ""},
	"user_forgotten":           {"User forgotten", toneWarn},
	"user_reset":               {"Account reset", toneWarn},
	"challenge_issued":         {"Second step asked", ""},
	"factor_verified":          {"Second step passed", toneGood},
	"factor_failed":            {"Second step failed", toneBad},
	"challenge_burned":         {"Too many wrong codes", toneBad},
	"challenge_expired":        {"Sign-in expired", ""},
	"lockout_started":          {"Locked out", toneBad},
	"session_verified":         {"Signed in", toneGood},
	"session_revoked":          {"Session ended", ""},
	"step_up_required":         {"Change refused: needs a fresh second step", toneWarn},
	"session_stepped_up":       {"Second step proven again", toneGood},
	"signed_out_everywhere":    {"Signed out everywhere", toneWarn},
	"totp_enrollment_started":  {"Authenticator setup began", ""},
	"totp_enrolled":            {"Authenticator added", toneGood},
	"totp_removed":             {"Authenticator removed", toneWarn},
	"recovery_codes_generated": {"New recovery codes", ""},
	"recovery_code_used":       {"Recovery code used", toneWarn},
	"two_factor_disabled":      {"Two-factor turned off", toneWarn},
	"passkey_registered":       {"Passkey added", toneGood},
	"passkey_renamed":          {"Passkey renamed", ""},
	"passkey_removed":          {"Passkey removed", toneWarn},
	"passkey_used":             {"Passkey used", ""},
	"passkey_clone_suspected":  {"Passkey clone suspected", toneBad},
	"email_address_added":      {"Email added", ""},
	"email_address_confirmed":  {"Email confirmed", toneGood},
	"email_address_removed":    {"Email removed", toneWarn},
	"email_code_sent":          {"Email code sent", ""},
	"browser_trusted":          {"Browser trusted", ""},
	"trusted_browser_used":     {"Trusted browser used", ""},
	"trusted_browser_replayed": {"Trust cookie replayed", toneBad},
	"browser_trust_revoked":    {"Browser trust revoked", ""},
	"pairing_requested":        {"Device asks to pair", toneWarn},
	"pairing_approved":         {"Pairing approved", toneGood},
	"pairing_denied":           {"Pairing denied", ""},
	"device_paired":            {"Device paired", toneGood},
	"device_revoked":           {"Device revoked", ""},
	"app_password_created":     {"App password created", ""},
	"app_password_used":        {"App password used", ""},
	"app_password_revoked":     {"App password revoked", ""},
	"quick_connect_authorized": {"Quick Connect code approved", ""},
	"sign_in_failed":           {"Sign-in failed", toneBad},
	"ip_banned":                {"Address banned", toneBad},
	"ip_unbanned":              {"Address unbanned", ""},
	"settings_changed":         {"Setting changed", toneWarn},
	"sessions_adopted":         {"Sessions adopted", toneWarn},
	"notification_failed":      {"Alert not delivered", toneBad},
	"node_started":             {"Node started", ""},
	"forged_event_detected":    {"Forged event refused", toneBad},
	"trust_key_rotated":        {"Trust-cookie key rotated", toneWarn},
	"audit_key_rotated":        {"Audit key rotated", toneWarn},
	"master_key_rotated":       {"Master key rotated", toneWarn},

	"password_rejected":             {"Wrong password", toneBad},
	"password_accepted":             {"Password right after wrong ones", ""},
	"password_step_held":            {"Password sign-in paused", toneBad},
	"password_hold_released":        {"Password sign-in released", toneWarn},
	"jellyfin_login_failures_reset": {"Jellyfin's failure count reset", toneWarn},
	"subscriber_added":              {"Subscriber added", toneWarn},
	"subscriber_removed":            {"Subscriber removed", ""},
}

// hiddenFields are the payload fields the timeline leaves out: sealed values and
// slow hashes, which are unreadable by design and must not look like data, and key
// material, which means nothing to a reader and crowds out what does.
func hiddenFields(e events.Entry) []string {
	out := []string{}
	for _, f := range e.Fields() {
		name, typ := f[0], f[1]
		switch {
		case typ == "sealed string", name == "hash", strings.HasSuffix(name, "_hash"),
			// The recovery codes' tags and hashes.
			typ == "list of object",
			name == "public_key", name == "attestation",
			// The signatures of a key rotation.
			name == "signature", strings.HasSuffix(name, "_signature"):
			out = append(out, name)
		}
	}
	return out
}

// eventTypes lists the catalog for the admin page's timeline.
func eventTypes() []eventTypeView {
	cat := events.Catalog()
	out := make([]eventTypeView, 0, len(cat))
	for _, e := range cat {
		l, ok := eventLabels[e.Type]
		if !ok {
			l.label = strings.ReplaceAll(e.Type, "_", " ")
		}
		out = append(out, eventTypeView{Type: e.Type, Aggregate: e.Aggregate, Label: l.label, Tone: l.tone, Summary: e.Summary, Hidden: hiddenFields(e)})
	}
	return out
}

// handleEventTypes answers GET /jfguard/api/admin/event-types: the admin page's
// type filter and the labels and hidden fields of its timeline. The list is the
// catalog the binary was built with, so the page never offers a type the server
// does not know.
func handleEventTypes(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"types": eventTypes()})
}
