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
// with a tone for its badge and the payload fields the timeline leaves out. Its
// label for people is the page's message js.admin.event.<type>, in the reader's
// language.
type eventTypeView struct {
	Type      events.Type `json:"type"`
	Aggregate string      `json:"aggregate"`
	Tone      string      `json:"tone,omitempty"`
	Summary   string      `json:"summary"`
	Hidden    []string    `json:"hidden"`
}

// The tones of the timeline's badges: what went wrong stands out, what an admin
// should look at twice is amber, what succeeded is green, the rest stays quiet.
const (
	toneGood = "good"
	toneWarn = "warn"
	toneBad  = "bad"
)

// eventTones gives every event type the tone of its badge on the timeline ("" for
// the quiet ones). The words for each type are the admin page's messages
// js.admin.event.<type> (http/locale/messages/admin.*.toml), so they are in the
// reader's language; a test checks that every catalog type has a tone here and a
// label there, so a new type cannot reach the timeline unnamed.
var eventTones = map[events.Type]string{
	events.TypeUserDiscovered:         "",
	events.TypeUserProfileChanged:     "",
	events.TypeUserForgotten:          toneWarn,
	events.TypeUserReset:              toneWarn,
	events.TypeChallengeIssued:        "",
	events.TypeFactorVerified:         toneGood,
	events.TypeFactorFailed:           toneBad,
	events.TypeChallengeBurned:        toneBad,
	events.TypeChallengeExpired:       "",
	events.TypeLockoutStarted:         toneBad,
	events.TypeSessionVerified:        toneGood,
	events.TypeSessionRevoked:         "",
	events.TypeStepUpRequired:         toneWarn,
	events.TypeSessionSteppedUp:       toneGood,
	events.TypeSignedOutEverywhere:    toneWarn,
	events.TypeJellyfinLogoutFailed:   toneBad,
	events.TypeTOTPEnrollmentStarted:  "",
	events.TypeTOTPEnrolled:           toneGood,
	events.TypeTOTPRemoved:            toneWarn,
	events.TypeRecoveryCodesGenerated: "",
	events.TypeRecoveryCodeUsed:       toneWarn,
	events.TypeTwoFactorDisabled:      toneWarn,
	events.TypePasskeyRegistered:      toneGood,
	events.TypePasskeyRenamed:         "",
	events.TypePasskeyRemoved:         toneWarn,
	events.TypePasskeyUsed:            "",
	events.TypePasskeyCloneSuspected:  toneBad,
	events.TypeEmailAddressAdded:      "",
	events.TypeEmailAddressConfirmed:  toneGood,
	events.TypeEmailAddressRemoved:    toneWarn,
	events.TypeEmailCodeSent:          "",
	events.TypeBrowserTrusted:         "",
	events.TypeTrustedBrowserUsed:     "",
	events.TypeTrustedBrowserReplayed: toneBad,
	events.TypeBrowserTrustRevoked:    "",
	events.TypePairingRequested:       toneWarn,
	events.TypePairingApproved:        toneGood,
	events.TypePairingDenied:          "",
	events.TypeDevicePaired:           toneGood,
	events.TypeDeviceRevoked:          "",
	events.TypeAppPasswordCreated:     "",
	events.TypeAppPasswordUsed:        "",
	events.TypeAppPasswordRevoked:     "",
	events.TypeQuickConnectAuthorized: "",
	events.TypeSignInFailed:           toneBad,
	events.TypeIPBanned:               toneBad,
	events.TypeIPUnbanned:             "",
	events.TypeSettingsChanged:        toneWarn,
	events.TypeSessionsAdopted:        toneWarn,
	events.TypeNotificationFailed:     toneBad,
	events.TypeNodeStarted:            "",
	events.TypeForgedEventDetected:    toneBad,
	events.TypeTrustKeyRotated:        toneWarn,
	events.TypeAuditKeyRotated:        toneWarn,
	events.TypeMasterKeyRotated:       toneWarn,

	events.TypePasswordRejected:           toneBad,
	events.TypePasswordAccepted:           "",
	events.TypePasswordStepHeld:           toneBad,
	events.TypePasswordHoldReleased:       toneWarn,
	events.TypeJellyfinLoginFailuresReset: toneWarn,
	events.TypeSubscriberAdded:            toneWarn,
	events.TypeSubscriberRemoved:          "",
	events.TypeNewLocation:                toneWarn,
	events.TypeImpossibleTravel:           toneBad,
	events.TypeUserNetworksSet:            toneWarn,
	events.TypeSignInRefused:              toneBad,
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
		out = append(out, eventTypeView{Type: e.Type, Aggregate: e.Aggregate, Tone: eventTones[e.Type], Summary: e.Summary, Hidden: hiddenFields(e)})
	}
	return out
}

// handleEventTypes answers GET /jfguard/api/admin/event-types: the admin page's
// type filter and the tones and hidden fields of its timeline. The list is the
// catalog the binary was built with, so the page never offers a type the server
// does not know.
func handleEventTypes(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"types": eventTypes()})
}
