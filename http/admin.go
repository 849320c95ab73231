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
	s.renderPage(c, http.StatusOK, pageData{Page: "admin", Title: "admin.title"})
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
	events.TypeUserDiscovered:         {"New user", ""},
	events.TypeUserProfileChanged:     {"Profile changed", ""},
	events.TypeUserForgotten:          {"User forgotten", toneWarn},
	events.TypeUserReset:              {"Account reset", toneWarn},
	events.TypeChallengeIssued:        {"Second step asked", ""},
	events.TypeFactorVerified:         {"Second step passed", toneGood},
	events.TypeFactorFailed:           {"Second step failed", toneBad},
	events.TypeChallengeBurned:        {"Too many wrong codes", toneBad},
	events.TypeChallengeExpired:       {"Sign-in expired", ""},
	events.TypeLockoutStarted:         {"Locked out", toneBad},
	events.TypeSessionVerified:        {"Signed in", toneGood},
	events.TypeSessionRevoked:         {"Session ended", ""},
	events.TypeStepUpRequired:         {"Change refused: needs a fresh second step", toneWarn},
	events.TypeSessionSteppedUp:       {"Second step proven again", toneGood},
	events.TypeSignedOutEverywhere:    {"Signed out everywhere", toneWarn},
	events.TypeTOTPEnrollmentStarted:  {"Authenticator setup began", ""},
	events.TypeTOTPEnrolled:           {"Authenticator added", toneGood},
	events.TypeTOTPRemoved:            {"Authenticator removed", toneWarn},
	events.TypeRecoveryCodesGenerated: {"New recovery codes", ""},
	events.TypeRecoveryCodeUsed:       {"Recovery code used", toneWarn},
	events.TypeTwoFactorDisabled:      {"Two-factor turned off", toneWarn},
	events.TypePasskeyRegistered:      {"Passkey added", toneGood},
	events.TypePasskeyRenamed:         {"Passkey renamed", ""},
	events.TypePasskeyRemoved:         {"Passkey removed", toneWarn},
	events.TypePasskeyUsed:            {"Passkey used", ""},
	events.TypePasskeyCloneSuspected:  {"Passkey clone suspected", toneBad},
	events.TypeEmailAddressAdded:      {"Email added", ""},
	events.TypeEmailAddressConfirmed:  {"Email confirmed", toneGood},
	events.TypeEmailAddressRemoved:    {"Email removed", toneWarn},
	events.TypeEmailCodeSent:          {"Email code sent", ""},
	events.TypeBrowserTrusted:         {"Browser trusted", ""},
	events.TypeTrustedBrowserUsed:     {"Trusted browser used", ""},
	events.TypeTrustedBrowserReplayed: {"Trust cookie replayed", toneBad},
	events.TypeBrowserTrustRevoked:    {"Browser trust revoked", ""},
	events.TypePairingRequested:       {"Device asks to pair", toneWarn},
	events.TypePairingApproved:        {"Pairing approved", toneGood},
	events.TypePairingDenied:          {"Pairing denied", ""},
	events.TypeDevicePaired:           {"Device paired", toneGood},
	events.TypeDeviceRevoked:          {"Device revoked", ""},
	events.TypeAppPasswordCreated:     {"App password created", ""},
	events.TypeAppPasswordUsed:        {"App password used", ""},
	events.TypeAppPasswordRevoked:     {"App password revoked", ""},
	events.TypeQuickConnectAuthorized: {"Quick Connect code approved", ""},
	events.TypeSignInFailed:           {"Sign-in failed", toneBad},
	events.TypeIPBanned:               {"Address banned", toneBad},
	events.TypeIPUnbanned:             {"Address unbanned", ""},
	events.TypeSettingsChanged:        {"Setting changed", toneWarn},
	events.TypeSessionsAdopted:        {"Sessions adopted", toneWarn},
	events.TypeNotificationFailed:     {"Alert not delivered", toneBad},
	events.TypeNodeStarted:            {"Node started", ""},
	events.TypeForgedEventDetected:    {"Forged event refused", toneBad},
	events.TypeTrustKeyRotated:        {"Trust-cookie key rotated", toneWarn},
	events.TypeAuditKeyRotated:        {"Audit key rotated", toneWarn},
	events.TypeMasterKeyRotated:       {"Master key rotated", toneWarn},

	events.TypePasswordRejected:           {"Wrong password", toneBad},
	events.TypePasswordAccepted:           {"Password right after wrong ones", ""},
	events.TypePasswordStepHeld:           {"Password sign-in paused", toneBad},
	events.TypePasswordHoldReleased:       {"Password sign-in released", toneWarn},
	events.TypeJellyfinLoginFailuresReset: {"Jellyfin's failure count reset", toneWarn},
	events.TypeSubscriberAdded:            {"Subscriber added", toneWarn},
	events.TypeSubscriberRemoved:          {"Subscriber removed", ""},
	events.TypeNewLocation:                {"Sign-in from a new network", toneWarn},
	events.TypeImpossibleTravel:           {"Impossible travel", toneBad},
	events.TypeUserNetworksSet:            {"Networks set", toneWarn},
	events.TypeSignInRefused:              {"Sign-in refused", toneBad},
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
