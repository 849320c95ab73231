package notifiers

import (
	"strconv"
	"strings"

	"github.com/jfguard/jfguard/events"
)

// PairingsPath is where a user approves or denies a waiting device.
const PairingsPath = "/jfguard/setup#pairings"

// description is what one event type says, before the envelope's facts are added.
type description struct {
	title    string
	summary  string
	priority int
	tags     []string
	facts    []Fact
	linkPath string
}

// describe writes each event type in plain words. Only fields that are safe to leave
// jfguard are read here: sealed values, hashes and recovery code tags never are.
func (d Describer) describe(ev events.Event, p events.Payload, who string) description {
	v := func(s string) string { return cleanTo(s, maxPart) }
	switch p := p.(type) {
	case *events.UserDiscovered:
		return description{title: "New user: " + v(p.Name), summary: "jfguard saw the Jellyfin user " + v(p.Name) + " for the first time.", priority: 2, tags: []string{"bust_in_silhouette"}, facts: []Fact{{"Administrator", yesNo(p.Admin)}}}
	case *events.UserProfileChanged:
		role := " and is not an administrator."
		if p.Admin {
			role = " and is an administrator."
		}
		return description{title: "User changed: " + v(p.Name), summary: "The Jellyfin user " + who + " is now named " + v(p.Name) + role, priority: 3, tags: []string{"bust_in_silhouette"}}
	case *events.UserForgotten:
		return description{title: "User data forgotten: " + who, summary: "The secrets jfguard kept for " + who + " were destroyed; the audit facts stay.", priority: 3, tags: []string{"wastebasket"}, facts: reason(p.Reason)}
	case *events.UserReset:
		return description{title: "Two-factor reset: " + who, summary: "An administrator removed every factor, trusted browser and lockout of " + who + ".", priority: 4, tags: []string{"warning", "wrench"}, facts: reason(p.Reason)}

	case *events.ChallengeIssued:
		return description{title: "Second factor asked: " + who, summary: who + " entered the right password and was asked for a second factor. If it was not them, someone knows their password.", priority: 3, tags: []string{"key"}, facts: []Fact{{"Methods", strings.Join(p.Methods, ", ")}}}
	case *events.FactorVerified:
		return description{title: "Second factor passed: " + who, summary: who + " completed the second factor with " + methodName(p.Method) + ".", priority: 2, tags: []string{"white_check_mark"}}
	case *events.FactorFailed:
		return description{title: "Wrong second factor: " + who, summary: "A wrong second factor was entered for " + who + ".", priority: 4, tags: []string{"warning"}, facts: []Fact{{"Method", methodName(p.Method)}, {"Reason", p.Reason}}}
	case *events.ChallengeBurned:
		return description{title: "Sign-in stopped: " + who, summary: "A sign-in of " + who + " was stopped after " + count(p.Failures, "wrong code", "wrong codes") + "; its session was logged out.", priority: 4, tags: []string{"warning", "no_entry"}}
	case *events.ChallengeExpired:
		return description{title: "Sign-in not completed: " + who, summary: who + " did not complete the second factor in time; the session was logged out.", priority: 2, tags: []string{"hourglass"}}
	case *events.PasswordStepHeld:
		return description{title: "Password sign-in paused: " + who, summary: "After " + count(p.Failures, "wrong password", "wrong passwords") + ", jfguard answers password sign-ins for " + who + " itself, without asking Jellyfin, until " + d.when(p.Until) + ".", priority: 5, tags: []string{"warning", "lock"}}
	case *events.PasswordHoldReleased:
		return description{title: "Password sign-in released: " + who, summary: "An administrator released password sign-in for " + who + ".", priority: 3, tags: []string{"unlock"}, facts: reason(p.Reason)}
	case *events.JellyfinLoginFailuresReset:
		return description{title: "Jellyfin's failure count reset: " + who, summary: "jfguard set the count of failed sign-ins of " + who + " at Jellyfin back to zero (it was " + strconv.Itoa(p.Failures) + ", and Jellyfin disables the account at " + strconv.Itoa(p.Limit) + ").", priority: 3, tags: []string{"warning"}}
	case *events.LockoutStarted:
		return description{title: "Locked out: " + who, summary: "After " + count(p.Failures, "failed second factor", "failed second factors") + ", the second-factor step of " + who + " is locked until " + d.when(p.Until) + ".", priority: 5, tags: []string{"warning", "lock"}}
	case *events.SessionVerified:
		return description{title: "Session allowed: " + who, summary: "A session of " + who + " may be used through jfguard.", priority: 2, tags: []string{"unlock"}, facts: []Fact{{"Reason", p.Reason}}}
	case *events.SessionRevoked:
		return description{title: "Session revoked: " + who, summary: "A session of " + who + " was revoked and logged out at Jellyfin.", priority: 3, tags: []string{"door"}, facts: []Fact{{"Reason", p.Reason}}}

	case *events.TOTPEnrollmentStarted:
		return description{title: "Authenticator setup started: " + who, summary: who + " began adding an authenticator app.", priority: 2, tags: []string{"iphone"}}
	case *events.TOTPEnrolled:
		return description{title: "Authenticator added: " + who, summary: who + " added an authenticator app. If it was not them, reset their account: whoever added it can sign in as them.", priority: 3, tags: []string{"key"}}
	case *events.TOTPRemoved:
		return description{title: "Authenticator removed: " + who, summary: "The authenticator app of " + who + " was removed.", priority: 4, tags: []string{"warning"}}
	case *events.RecoveryCodesGenerated:
		return description{title: "Recovery codes replaced: " + who, summary: who + " generated " + count(len(p.Codes), "new recovery code", "new recovery codes") + "; the old ones no longer work.", priority: 3, tags: []string{"key"}}
	case *events.RecoveryCodeUsed:
		return description{title: "Recovery code used: " + who, summary: who + " signed in with a recovery code. If it was not them, reset their account.", priority: 4, tags: []string{"warning", "key"}}
	case *events.TwoFactorDisabled:
		return description{title: "Two-factor turned off: " + who, summary: who + " turned two-factor sign-in off and removed every factor.", priority: 4, tags: []string{"warning", "unlock"}}
	case *events.PasskeyRegistered:
		return description{title: "Passkey added: " + who, summary: who + " added a passkey.", priority: 3, tags: []string{"key"}, facts: []Fact{{"Passkey", p.Label}}}
	case *events.PasskeyRenamed:
		return description{title: "Passkey renamed: " + who, summary: who + " renamed a passkey.", priority: 2, tags: []string{"key"}, facts: []Fact{{"Passkey", p.Label}}}
	case *events.PasskeyRemoved:
		return description{title: "Passkey removed: " + who, summary: "A passkey of " + who + " was removed.", priority: 3, tags: []string{"key"}}
	case *events.PasskeyUsed:
		return description{title: "Passkey used: " + who, summary: who + " signed in with a passkey.", priority: 2, tags: []string{"key"}}
	case *events.PasskeyCloneSuspected:
		return description{title: "Passkey may be cloned: " + who, summary: "A passkey of " + who + " presented a signature counter lower than the last one seen: the credential may have been copied. The sign-in was refused.", priority: 5, tags: []string{"rotating_light"}, facts: []Fact{{"Counter seen before", strconv.FormatUint(uint64(p.Stored), 10)}, {"Counter presented", strconv.FormatUint(uint64(p.Presented), 10)}}}
	case *events.EmailAddressAdded:
		return description{title: "Email address added: " + who, summary: who + " added an email address for sign-in codes; it waits for confirmation.", priority: 2, tags: []string{"email"}}
	case *events.EmailAddressConfirmed:
		return description{title: "Email address confirmed: " + who, summary: who + " confirmed an email address for sign-in codes.", priority: 3, tags: []string{"email"}}
	case *events.EmailAddressRemoved:
		return description{title: "Email address removed: " + who, summary: "The email address of " + who + " was removed.", priority: 3, tags: []string{"email"}}
	case *events.EmailCodeSent:
		return description{title: "Sign-in code emailed: " + who, summary: "A sign-in code was emailed to " + who + ".", priority: 2, tags: []string{"email"}}

	case *events.BrowserTrusted:
		return description{title: "Browser trusted: " + who, summary: who + " chose to trust a browser: it skips the second factor until " + d.when(p.ExpiresAt) + ".", priority: 3, tags: []string{"computer"}, facts: []Fact{{"Browser", v(p.Name)}}}
	case *events.TrustedBrowserUsed:
		return description{title: "Trusted browser used: " + who, summary: "A trusted browser of " + who + " skipped the second factor.", priority: 2, tags: []string{"computer"}}
	case *events.TrustedBrowserReplayed:
		if p.Concurrent {
			return description{title: "Old trust cookie presented: " + who, summary: "A trusted browser of " + who + " presented a cookie value replaced moments before, most likely from a second tab signing in at the same time. It was refused; the browser stays trusted.", priority: 3, tags: []string{"computer", "warning"}}
		}
		return description{title: "Trust cookie replayed: " + who, summary: "A trust cookie value of " + who + " that had already been replaced was presented again: someone may have copied the cookie. It was refused and the browser's trust revoked; the browser is asked for a second factor at its next sign-in.", priority: 5, tags: []string{"rotating_light"}}
	case *events.BrowserTrustRevoked:
		return description{title: "Browser trust revoked: " + who, summary: "A trusted browser of " + who + " was revoked; it will be asked for a second factor again.", priority: 3, tags: []string{"computer"}, facts: reason(p.Reason)}
	case *events.PairingRequested:
		device := v(p.DeviceName)
		if device == "" {
			device = "A device"
		}
		return description{title: "Device waiting for approval: " + who, summary: device + " signed in as " + who + " with the right password and waits for approval. Approve it on the setup page if it is yours; otherwise change the password.", priority: 4, tags: []string{"tv", "warning"}, linkPath: PairingsPath,
			facts: []Fact{{"Waiting device", strings.TrimSpace(p.DeviceName)}, {"Waiting app", strings.TrimSpace(p.Client + " " + p.Version)}, {"Expires", d.when(p.ExpiresAt)}}}
	case *events.PairingApproved:
		return description{title: "Device approved: " + who, summary: who + " approved a device; its next sign-in before " + d.when(p.Until) + " succeeds.", priority: 3, tags: []string{"tv"}}
	case *events.PairingDenied:
		return description{title: "Device denied: " + who, summary: who + " denied a device.", priority: 3, tags: []string{"tv"}}
	case *events.DevicePaired:
		return description{title: "Device paired: " + who, summary: "An approved device of " + who + " signed in and stays signed in until revoked.", priority: 3, tags: []string{"tv"}}
	case *events.DeviceRevoked:
		return description{title: "Device revoked: " + who, summary: "A paired device of " + who + " was revoked and logged out.", priority: 3, tags: []string{"tv"}}
	case *events.AppPasswordCreated:
		return description{title: "App password created: " + who, summary: who + " created an app password.", priority: 3, tags: []string{"key"}, facts: []Fact{{"Label", p.Label}}}
	case *events.AppPasswordUsed:
		return description{title: "App password used: " + who, summary: "An app of " + who + " signed in with an app password.", priority: 2, tags: []string{"key"}}
	case *events.AppPasswordRevoked:
		return description{title: "App password revoked: " + who, summary: "An app password of " + who + " was revoked.", priority: 3, tags: []string{"key"}}

	case *events.SignInFailed:
		return description{title: "Sign-in failed from " + ev.IP, summary: "A sign-in from " + ev.IP + " failed.", priority: 3, tags: []string{"warning"}, facts: []Fact{{"User name tried", p.Username}, {"Reason", p.Reason}}}
	case *events.IPBanned:
		// A ban holds for the address's block (an IPv6 prefix), named by the aggregate.
		block := events.IPFromAggregateID(ev.AggregateID)
		return description{title: "Address banned: " + block, summary: block + " is banned until " + d.when(p.Until) + " after " + count(p.Failures, "failure", "failures") + ".", priority: 4, tags: []string{"no_entry"}, facts: reason(p.Reason)}
	case *events.IPUnbanned:
		block := events.IPFromAggregateID(ev.AggregateID)
		return description{title: "Address unbanned: " + block, summary: "The ban on " + block + " was lifted.", priority: 3, tags: []string{"white_check_mark"}, facts: reason(p.Reason)}

	case *events.SettingsChanged:
		old, now := p.Old, p.New
		if secretSetting(p.Key) {
			old, now = "(hidden)", "(hidden)"
		}
		return description{title: "Setting changed: " + v(p.Key), summary: "The setting " + v(p.Key) + " changed.", priority: 3, tags: []string{"gear"}, facts: []Fact{{"Before", old}, {"After", now}, {"Changed in", p.Where}}}
	case *events.SessionsAdopted:
		return description{title: "Existing sessions adopted", summary: "An administrator adopted " + count(p.Count, "Jellyfin session", "Jellyfin sessions") + " that existed before jfguard; they keep working without a second factor.", priority: 4, tags: []string{"warning"}}
	case *events.NotificationFailed:
		return description{title: "Alert not delivered: " + v(p.Sink), summary: "An alert could not be delivered to " + v(p.Sink) + " after " + count(p.Attempts, "attempt", "attempts") + ".", priority: 4, tags: []string{"warning", "mailbox_with_no_mail"}, facts: []Fact{{"Event", p.EventID}, {"Error", p.Error}}}
	case *events.ForgedEventDetected:
		return description{title: "Forged event in the audit log", summary: "An event at sequence " + strconv.FormatUint(p.Seq, 10) + " was written to the NATS server by something other than jfguard (or altered): it was ignored. Check who can write to the event stream and rotate its credentials.", priority: 5, tags: []string{"rotating_light"},
			facts: []Fact{{"Sequence", strconv.FormatUint(p.Seq, 10)}, {"Type", v(p.Type)}, {"MAC", p.Reason}}}
	case *events.StepUpRequired:
		return description{title: "Change refused: " + who, summary: "A session of " + who + " tried to change the account without a recent second factor and was refused.", priority: 3, tags: []string{"lock"}, facts: []Fact{{"Action", v(p.Action)}, {"Session", v(p.Level)}}}
	case *events.SignedOutEverywhere:
		return description{title: "Signed out everywhere: " + who, summary: "Every session, app password, device and trusted browser of " + who + " was revoked.", priority: 4, tags: []string{"warning", "door"},
			facts: []Fact{{"Reason", v(p.Reason)}, {"Sessions", strconv.Itoa(p.Sessions)}, {"App passwords", strconv.Itoa(p.AppPasswords)}, {"Devices", strconv.Itoa(p.Devices)}}}
	case *events.JellyfinLogoutFailed:
		return describeLogoutFailed(p, who, v)
	case *events.TrustKeyRotated:
		return description{title: "Trust-cookie key rotated", summary: "A new trust-cookie key signs cookies from now on. Trusted browsers that sign in before " + d.when(p.PreviousValidUntil) + " move to it; the others are asked for a second factor once.", priority: 4, tags: []string{"key", "arrows_counterclockwise"}}
	case *events.AuditKeyRotated:
		return description{title: "Audit key rotated: " + v(p.Node), summary: "The node " + v(p.Node) + " signs audit checkpoints with a new key from now on.", priority: 4, tags: []string{"key", "arrows_counterclockwise"}, facts: []Fact{{"New key", p.Key}, {"Previous key", p.PreviousKey}}}
	case *events.MasterKeyRotated:
		return description{title: "Master key rotated", summary: "A new master key wraps " + count(p.DataKeys, "data key", "data keys") + "; the previous one is dropped after " + d.when(p.PreviousValidUntil) + ". Every node needs the new key file before then.", priority: 4, tags: []string{"key", "arrows_counterclockwise"}, facts: []Fact{{"New key id", p.KeyID}, {"Previous key id", p.PreviousKeyID}}}
	case *events.SignInRefused:
		return describeSignInRefused(p, who, v)
	case *events.UserNetworksSet:
		return describeNetworksSet(p, who, v)
	case *events.NodeStarted:
		return description{title: "jfguard started", summary: "The jfguard node " + v(p.Node) + " started.", priority: 2, tags: []string{"rocket"}, facts: []Fact{{"Version", p.Version}}}
	case *events.NewLocation, *events.ImpossibleTravel:
		return describeLocation(p, who, v)
	}
	entry, _ := events.Lookup(ev.Type)
	return description{title: strings.ReplaceAll(string(ev.Type), "_", " "), summary: entry.Summary, priority: 3}
}

// describeLogoutFailed is the alert of sessions a revocation could not end at
// Jellyfin: the administrator finishes the job there.
func describeLogoutFailed(p *events.JellyfinLogoutFailed, who string, v func(string) string) description {
	summary := count(p.Sessions, "Jellyfin session", "Jellyfin sessions") + " of " + who + " could not be logged out at Jellyfin after " + count(p.Attempts, "attempt", "attempts") + "."
	if p.DevicesUnlisted {
		summary += " Jellyfin's device list could not be read, so sessions jfguard never saw were not reached."
	}
	summary += " jfguard refuses them; sign the user's devices out in Jellyfin's dashboard, or revoke again."
	return description{title: "Jellyfin logout failed: " + who, summary: summary, priority: 4, tags: []string{"warning", "door"},
		facts: []Fact{{"Reason", v(p.Reason)}, {"Error", p.Error}}}
}

// secretSetting reports whether a setting's values must not be shown: anything that
// looks like a credential is hidden even though settings events should not carry one.
func secretSetting(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "secret", "token", "key", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func reason(r string) []Fact {
	if r == "" {
		return nil
	}
	return []Fact{{"Reason", r}}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// methodName spells a factor method for people.
func methodName(m string) string {
	switch m {
	case "totp":
		return "an authenticator code"
	case "passkey", "webauthn":
		return "a passkey"
	case "recovery":
		return "a recovery code"
	case "email":
		return "an email code"
	case "":
		return "an unknown method"
	}
	return m
}
