package events

import "time"

// Type names an event type. It is a type of its own, not a string, so the compiler
// refuses a comparison of an event's type with a stray string literal.
type Type string

// Event types: each payload's name in the catalog, in the envelope's type field and
// as the last token of its subject. Code that tells events apart by type compares
// with these, never with a string of its own.
const (
	// Users as jfguard learns them from Jellyfin.
	TypeUserDiscovered     Type = "user_discovered"
	TypeUserProfileChanged Type = "user_profile_changed"
	TypeUserForgotten      Type = "user_forgotten"
	TypeUserReset          Type = "user_reset"

	// Sign-in.
	TypeChallengeIssued     Type = "challenge_issued"
	TypeFactorVerified      Type = "factor_verified"
	TypeFactorFailed        Type = "factor_failed"
	TypeChallengeBurned     Type = "challenge_burned"
	TypeChallengeExpired    Type = "challenge_expired"
	TypeLockoutStarted      Type = "lockout_started"
	TypeSessionVerified     Type = "session_verified"
	TypeSessionRevoked      Type = "session_revoked"
	TypeStepUpRequired      Type = "step_up_required"
	TypeSessionSteppedUp    Type = "session_stepped_up"
	TypeSignedOutEverywhere Type = "signed_out_everywhere"

	// The password step (Jellyfin's own lockout).
	TypePasswordRejected           Type = "password_rejected"
	TypePasswordAccepted           Type = "password_accepted"
	TypePasswordStepHeld           Type = "password_step_held"
	TypePasswordHoldReleased       Type = "password_hold_released"
	TypeJellyfinLoginFailuresReset Type = "jellyfin_login_failures_reset"

	// Factors.
	TypeTOTPEnrollmentStarted  Type = "totp_enrollment_started"
	TypeTOTPEnrolled           Type = "totp_enrolled"
	TypeTOTPRemoved            Type = "totp_removed"
	TypeRecoveryCodesGenerated Type = "recovery_codes_generated"
	TypeRecoveryCodeUsed       Type = "recovery_code_used"
	TypeTwoFactorDisabled      Type = "two_factor_disabled"
	TypePasskeyRegistered      Type = "passkey_registered"
	TypePasskeyRenamed         Type = "passkey_renamed"
	TypePasskeyRemoved         Type = "passkey_removed"
	TypePasskeyUsed            Type = "passkey_used"
	TypePasskeyCloneSuspected  Type = "passkey_clone_suspected"
	TypeEmailAddressAdded      Type = "email_address_added"
	TypeEmailAddressConfirmed  Type = "email_address_confirmed"
	TypeEmailAddressRemoved    Type = "email_address_removed"
	TypeEmailCodeSent          Type = "email_code_sent"

	// Browsers, devices, app passwords.
	TypeBrowserTrusted         Type = "browser_trusted"
	TypeTrustedBrowserUsed     Type = "trusted_browser_used"
	TypeTrustedBrowserReplayed Type = "trusted_browser_replayed"
	TypeBrowserTrustRevoked    Type = "browser_trust_revoked"
	TypePairingRequested       Type = "pairing_requested"
	TypePairingApproved        Type = "pairing_approved"
	TypePairingDenied          Type = "pairing_denied"
	TypeDevicePaired           Type = "device_paired"
	TypeDeviceRevoked          Type = "device_revoked"
	TypeAppPasswordCreated     Type = "app_password_created"
	TypeAppPasswordUsed        Type = "app_password_used"
	TypeQuickConnectAuthorized Type = "quick_connect_authorized"
	TypeAppPasswordRevoked     Type = "app_password_revoked"

	// Addresses.
	TypeSignInFailed Type = "sign_in_failed"
	TypeIPBanned     Type = "ip_banned"
	TypeIPUnbanned   Type = "ip_unbanned"

	// The system.
	TypeSettingsChanged     Type = "settings_changed"
	TypeSessionsAdopted     Type = "sessions_adopted"
	TypeNotificationFailed  Type = "notification_failed"
	TypeForgedEventDetected Type = "forged_event_detected"
	TypeNodeStarted         Type = "node_started"
	TypeTrustKeyRotated     Type = "trust_key_rotated"
	TypeAuditKeyRotated     Type = "audit_key_rotated"
	TypeMasterKeyRotated    Type = "master_key_rotated"
	TypeSubscriberAdded     Type = "subscriber_added"
	TypeSubscriberRemoved   Type = "subscriber_removed"

	// Network allowlists.
	TypeUserNetworksSet Type = "user_networks_set"
	TypeSignInRefused   Type = "sign_in_refused"
)

// What a revocation could not end at Jellyfin.
const TypeJellyfinLogoutFailed Type = "jellyfin_logout_failed"

// Where users sign in from.
const (
	TypeNewLocation      Type = "new_location"
	TypeImpossibleTravel Type = "impossible_travel"
)

// The catalog: every event type jfguard publishes, the aggregate it belongs to and a
// sentence for subscribers. Types are named in the past tense for what happened.
var catalog = []Entry{
	// Users as jfguard learns them from Jellyfin.
	{Type: TypeUserDiscovered, Aggregate: AggUser, Summary: "jfguard saw a Jellyfin user for the first time (at sign-in, when a password was tried for its name, or by admin action).", proto: &UserDiscovered{}},
	{Type: TypeUserProfileChanged, Aggregate: AggUser, Summary: "The user's name or administrator role changed in Jellyfin.", proto: &UserProfileChanged{}},
	{Type: TypeUserForgotten, Aggregate: AggUser, Summary: "The user's data key was destroyed: every sealed value of the user is unreadable from now on.", proto: &UserForgotten{}},
	{Type: TypeUserReset, Aggregate: AggUser, Summary: "An administrator removed every factor, trusted browser, lockout and password hold of the user (account recovery).", proto: &UserReset{}},

	// Sign-in.
	{Type: TypeChallengeIssued, Aggregate: AggUser, Summary: "The password was right and a second factor is needed: the Jellyfin token is held until the challenge completes.", proto: &ChallengeIssued{}},
	{Type: TypeFactorVerified, Aggregate: AggUser, Summary: "A second factor was verified.", proto: &FactorVerified{}},
	{Type: TypeFactorFailed, Aggregate: AggUser, Summary: "A second factor was wrong, reused or malformed.", proto: &FactorFailed{}},
	{Type: TypeChallengeBurned, Aggregate: AggUser, Summary: "A challenge took too many wrong codes and can no longer be completed; its token is logged out.", proto: &ChallengeBurned{}},
	{Type: TypeChallengeExpired, Aggregate: AggUser, Summary: "A challenge was not completed in time; its token is logged out at Jellyfin.", proto: &ChallengeExpired{}},
	{Type: TypeLockoutStarted, Aggregate: AggUser, Summary: "Too many failed second factors: the user's second-factor step is locked until the given time.", proto: &LockoutStarted{}},
	{Type: TypeSessionVerified, Aggregate: AggUser, Summary: "A Jellyfin token may be used through jfguard, for the given reason.", proto: &SessionVerified{}},
	{Type: TypeSessionRevoked, Aggregate: AggUser, Summary: "A verified token was revoked (signed out, device revoked, admin action) and is logged out at Jellyfin.", proto: &SessionRevoked{}},
	{Type: TypeStepUpRequired, Aggregate: AggUser, Summary: "A session asked for an account-changing action without a recently proven second factor (or from a device's session, which never may) and was refused.", proto: &StepUpRequired{}},
	{Type: TypeSessionSteppedUp, Aggregate: AggUser, Summary: "A session proved a second factor again: account changes are allowed from it for the step-up window.", proto: &SessionSteppedUp{}},
	{Type: TypeSignedOutEverywhere, Aggregate: AggUser, Summary: "Every session, held sign-in, app password, paired device, pairing and trusted browser of the user was revoked (lost phone, offboarding, reset); the tokens are logged out at Jellyfin.", proto: &SignedOutEverywhere{}},
	{Type: TypeJellyfinLogoutFailed, Aggregate: AggUser, Summary: "A revocation could not end some of the user's sessions at Jellyfin after every try: jfguard refuses them, but they may still work for whoever reaches Jellyfin directly. Revoke again, or sign the devices out in Jellyfin's dashboard.", proto: &JellyfinLogoutFailed{}},

	// The password step (Jellyfin's own lockout).
	{Type: TypePasswordRejected, Aggregate: AggUser, Summary: "Jellyfin refused a password jfguard forwarded for the user's name: Jellyfin's count of failed sign-ins for the user went up by one.", proto: &PasswordRejected{}},
	{Type: TypePasswordAccepted, Aggregate: AggUser, Summary: "Jellyfin accepted the user's password after wrong ones: its count of failed sign-ins is back to zero, and so is jfguard's.", proto: &PasswordAccepted{}},
	{Type: TypePasswordStepHeld, Aggregate: AggUser, Summary: "Too many wrong passwords for the user's name: jfguard answers the password step itself, without asking Jellyfin, until the given time.", proto: &PasswordStepHeld{}},
	{Type: TypePasswordHoldReleased, Aggregate: AggUser, Summary: "An administrator released the user's password step: jfguard's hold and its count of wrong passwords are cleared.", proto: &PasswordHoldReleased{}},
	{Type: TypeJellyfinLoginFailuresReset, Aggregate: AggUser, Summary: "jfguard set the user's count of failed sign-ins at Jellyfin back to zero before forwarding a password, so one more wrong password cannot disable the account.", proto: &JellyfinLoginFailuresReset{}},

	// Factors.
	{Type: TypeTOTPEnrollmentStarted, Aggregate: AggUser, Summary: "The user began adding an authenticator app; the secret is sealed.", proto: &TOTPEnrollmentStarted{}},
	{Type: TypeTOTPEnrolled, Aggregate: AggUser, Summary: "The user confirmed an authenticator app with a code.", proto: &TOTPEnrolled{}},
	{Type: TypeTOTPRemoved, Aggregate: AggUser, Summary: "The authenticator app was removed.", proto: &TOTPRemoved{}},
	{Type: TypeRecoveryCodesGenerated, Aggregate: AggUser, Summary: "A new set of recovery codes replaced the old one; only slow hashes are stored.", proto: &RecoveryCodesGenerated{}},
	{Type: TypeRecoveryCodeUsed, Aggregate: AggUser, Summary: "A recovery code was spent.", proto: &RecoveryCodeUsed{}},
	{Type: TypeTwoFactorDisabled, Aggregate: AggUser, Summary: "The user turned two-factor sign-in off, removing every factor.", proto: &TwoFactorDisabled{}},
	{Type: TypePasskeyRegistered, Aggregate: AggUser, Summary: "A passkey was added.", proto: &PasskeyRegistered{}},
	{Type: TypePasskeyRenamed, Aggregate: AggUser, Summary: "A passkey's label changed.", proto: &PasskeyRenamed{}},
	{Type: TypePasskeyRemoved, Aggregate: AggUser, Summary: "A passkey was removed.", proto: &PasskeyRemoved{}},
	{Type: TypePasskeyUsed, Aggregate: AggUser, Summary: "A passkey assertion verified; its signature counter advanced.", proto: &PasskeyUsed{}},
	{Type: TypePasskeyCloneSuspected, Aggregate: AggUser, Summary: "A passkey's signature counter went backwards: the credential may be cloned; the assertion was refused.", proto: &PasskeyCloneSuspected{}},
	{Type: TypeEmailAddressAdded, Aggregate: AggUser, Summary: "The user added an email address for codes; it is unusable until confirmed.", proto: &EmailAddressAdded{}},
	{Type: TypeEmailAddressConfirmed, Aggregate: AggUser, Summary: "The user confirmed the email address with a code.", proto: &EmailAddressConfirmed{}},
	{Type: TypeEmailAddressRemoved, Aggregate: AggUser, Summary: "The email address was removed.", proto: &EmailAddressRemoved{}},
	{Type: TypeEmailCodeSent, Aggregate: AggUser, Summary: "A sign-in code was emailed; only its slow hash is stored.", proto: &EmailCodeSent{}},

	// Browsers, devices, app passwords.
	{Type: TypeBrowserTrusted, Aggregate: AggUser, Summary: "The user chose to trust this browser: it skips the challenge until the trust expires or is revoked.", proto: &BrowserTrusted{}},
	{Type: TypeTrustedBrowserUsed, Aggregate: AggUser, Summary: "A trusted browser skipped the challenge; its cookie was replaced by a new one, and the old value no longer works.", proto: &TrustedBrowserUsed{}},
	{Type: TypeTrustedBrowserReplayed, Aggregate: AggUser, Summary: "A trust cookie value that had already been replaced was presented again and refused: someone may have copied the cookie. Unless it was replaced moments before (two tabs signing in at once), the browser's trust is revoked too.", proto: &TrustedBrowserReplayed{}},
	{Type: TypeBrowserTrustRevoked, Aggregate: AggUser, Summary: "A trusted browser was revoked: it will be challenged again.", proto: &BrowserTrustRevoked{}},
	{Type: TypePairingRequested, Aggregate: AggUser, Summary: "A native app or TV signed in with the right password and waits for the user's approval.", proto: &PairingRequested{}},
	{Type: TypePairingApproved, Aggregate: AggUser, Summary: "The user approved a device; its next sign-in within the window succeeds.", proto: &PairingApproved{}},
	{Type: TypePairingDenied, Aggregate: AggUser, Summary: "The user denied a device.", proto: &PairingDenied{}},
	{Type: TypeDevicePaired, Aggregate: AggUser, Summary: "An approved device signed in; its token is verified until revoked.", proto: &DevicePaired{}},
	{Type: TypeDeviceRevoked, Aggregate: AggUser, Summary: "A paired device was revoked and its session logged out.", proto: &DeviceRevoked{}},
	{Type: TypeAppPasswordCreated, Aggregate: AggUser, Summary: "An app password was created; only its slow hash is stored.", proto: &AppPasswordCreated{}},
	{Type: TypeAppPasswordUsed, Aggregate: AggUser, Summary: "An app password signed an app in.", proto: &AppPasswordUsed{}},
	{Type: TypeQuickConnectAuthorized, Aggregate: AggUser, Summary: "A session of the user authorized a Quick Connect code: the device that shows it signs in as the user.", proto: &QuickConnectAuthorized{}},
	{Type: TypeAppPasswordRevoked, Aggregate: AggUser, Summary: "An app password was revoked.", proto: &AppPasswordRevoked{}},

	// Addresses.
	{Type: TypeSignInFailed, Aggregate: AggIP, Summary: "A sign-in from this address failed (wrong password, unknown user or wrong app password).", proto: &SignInFailed{}},
	{Type: TypeIPBanned, Aggregate: AggIP, Summary: "The address is banned until the given time.", proto: &IPBanned{}},
	{Type: TypeIPUnbanned, Aggregate: AggIP, Summary: "An administrator lifted the ban on the address.", proto: &IPUnbanned{}},

	// The system.
	{Type: TypeSettingsChanged, Aggregate: AggSystem, Summary: "A policy setting changed (admin page, control API or the settings file at start).", proto: &SettingsChanged{}},
	{Type: TypeSessionsAdopted, Aggregate: AggSystem, Summary: "An administrator adopted the Jellyfin sessions that existed when jfguard was installed.", proto: &SessionsAdopted{}},
	{Type: TypeNotificationFailed, Aggregate: AggSystem, Summary: "An alert could not be delivered after every retry.", proto: &NotificationFailed{}},
	{Type: TypeForgedEventDetected, Aggregate: AggSystem, Summary: "An event in the stream has no valid MAC: something other than a jfguard node wrote it (or altered it). It was never applied; check who can write to the NATS server.", proto: &ForgedEventDetected{}},
	{Type: TypeNodeStarted, Aggregate: AggSystem, Summary: "A jfguard node started.", proto: &NodeStarted{}},
	{Type: TypeTrustKeyRotated, Aggregate: AggSystem, Summary: "A new generation of the trust-cookie key signs cookies from now on; cookies of the previous generation are accepted (and replaced on use) until the given time, then refused.", proto: &TrustKeyRotated{}},
	{Type: TypeAuditKeyRotated, Aggregate: AggSystem, Summary: "A node's checkpoint signing key was replaced; both keys signed the change. Checkpoints that begin after this event must be signed by the new key.", proto: &AuditKeyRotated{}},
	{Type: TypeMasterKeyRotated, Aggregate: AggSystem, Summary: "A new master key wraps every data key; the previous one still opens them until the given time, then is dropped.", proto: &MasterKeyRotated{}},
	{Type: TypeSubscriberAdded, Aggregate: AggSystem, Summary: "An external system got a NATS credential to read the event stream (its nkey's public key; the seed is never stored).", proto: &SubscriberAdded{}},
	{Type: TypeSubscriberRemoved, Aggregate: AggSystem, Summary: "An external system's NATS credential was taken away; its connections are cut.", proto: &SubscriberRemoved{}},

	// Where users sign in from.
	{Type: TypeNewLocation, Aggregate: AggUser, Summary: "The user signed in from a network (IPv4 /24, IPv6 /48) not among the last 64 they used; country and city when a geolocation database is set up.", proto: &NewLocation{}},
	{Type: TypeImpossibleTravel, Aggregate: AggUser, Summary: "Two successive sign-ins of the user are farther apart (great-circle distance between their geolocated places) than anyone travels in the time between them (over 1,000 km/h).", proto: &ImpossibleTravel{}},
	// Network allowlists.
	{Type: TypeUserNetworksSet, Aggregate: AggUser, Summary: "An administrator set the networks the user may sign in from (CIDRs; empty: anywhere).", proto: &UserNetworksSet{}},
	{Type: TypeSignInRefused, Aggregate: AggUser, Summary: "A sign-in whose credential was right was refused: with reason network, the address is outside the user's networks (rule user) or, for an administrator, outside security.admin_networks (rule admins). Nothing was unlocked; a Jellyfin token it got was logged out.", proto: &SignInRefused{}},
}

// UserDiscovered: the first sight of a Jellyfin user.
type UserDiscovered struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// UserProfileChanged records a new name or role for a known user.
type UserProfileChanged struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// UserForgotten marks the destruction of the user's data key.
type UserForgotten struct {
	Reason string `json:"reason,omitempty"`
}

// UserReset is an administrator's account recovery.
type UserReset struct {
	Reason string `json:"reason,omitempty"`
}

// ChallengeIssued holds a Jellyfin token until a second factor completes it.
type ChallengeIssued struct {
	ChallengeID string    `json:"challenge_id"`
	TokenHash   string    `json:"token_hash"`
	Token       Sealed    `json:"token"`
	Methods     []string  `json:"methods"`
	Web         bool      `json:"web"`
	ExpiresAt   time.Time `json:"expires_at"`
	AuthResult  Sealed    `json:"auth_result,omitempty"`
}

// FactorVerified records the method that proved the second factor.
type FactorVerified struct {
	ChallengeID   string `json:"challenge_id,omitempty"`
	Method        string `json:"method"`
	TOTPStep      int64  `json:"totp_step,omitempty"`
	RecoveryIndex int    `json:"recovery_index,omitempty"`
	CredentialID  string `json:"credential_id,omitempty"`
	Purpose       string `json:"purpose,omitempty"`
}

// FactorFailed records a wrong, reused or malformed second factor.
type FactorFailed struct {
	ChallengeID string `json:"challenge_id,omitempty"`
	Method      string `json:"method"`
	Reason      string `json:"reason"`
	Purpose     string `json:"purpose,omitempty"`
}

// ChallengeBurned ends a challenge after too many wrong codes.
type ChallengeBurned struct {
	ChallengeID string `json:"challenge_id"`
	Failures    int    `json:"failures"`
}

// ChallengeExpired ends a challenge that timed out.
type ChallengeExpired struct {
	ChallengeID string `json:"challenge_id"`
}

// LockoutStarted locks the user's second-factor step.
type LockoutStarted struct {
	Until    time.Time `json:"until"`
	Failures int       `json:"failures"`
}

// SessionVerified lets a token through the gate.
type SessionVerified struct {
	TokenHash     string `json:"token_hash"`
	Reason        string `json:"reason"`
	ChallengeID   string `json:"challenge_id,omitempty"`
	BrowserID     string `json:"browser_id,omitempty"`
	PairingID     string `json:"pairing_id,omitempty"`
	AppPasswordID string `json:"app_password_id,omitempty"`
	Token         Sealed `json:"token,omitempty"`
	// Assurance is the session's level (aal1, aal2, device); events from before
	// sessions carried one are read with the level their reason implies.
	Assurance string `json:"assurance,omitempty"`
}

// StepUpRequired records a refused account-changing action: the session's level was
// too low for it (Level), or it is a device's session, which never may (Device).
type StepUpRequired struct {
	TokenHash string `json:"token_hash"`
	Action    string `json:"action"`
	Level     string `json:"level"`
	Device    bool   `json:"device,omitempty"`
}

// SessionSteppedUp records that a session proved a second factor again (the
// factor_verified with purpose step_up comes with it).
type SessionSteppedUp struct {
	TokenHash string `json:"token_hash"`
	Method    string `json:"method"`
}

// SignedOutEverywhere revokes every credential of the user but the session named by
// KeptTokenHash (the one that asked, when a user signs out everywhere else). The
// counts say what was revoked, for the audit log; the fold revokes whatever the
// state holds.
type SignedOutEverywhere struct {
	Reason        string `json:"reason"`
	Note          string `json:"note,omitempty"` // an administrator's words, for the audit log
	KeptTokenHash string `json:"kept_token_hash,omitempty"`
	Sessions      int    `json:"sessions"`
	HeldSignIns   int    `json:"held_sign_ins"`
	AppPasswords  int    `json:"app_passwords"`
	Devices       int    `json:"devices"`
	Browsers      int    `json:"trusted_browsers"`
}

// JellyfinLogoutFailed records what a revocation (signed_out_everywhere) could not end
// at Jellyfin after every try. The revocation itself stands: the gate refuses those
// tokens; only a client that reaches Jellyfin directly could still use them.
type JellyfinLogoutFailed struct {
	Reason   string `json:"reason"`   // the revocation's reason
	Sessions int    `json:"sessions"` // Jellyfin sessions of the user still live
	// DevicesUnlisted: Jellyfin's device list could not be read, so sessions of the
	// user that jfguard never saw were not reached at all.
	DevicesUnlisted bool   `json:"devices_unlisted,omitempty"`
	Attempts        int    `json:"attempts"`
	Error           string `json:"error"`
}

// SessionRevoked stops a token at the gate.
type SessionRevoked struct {
	TokenHash string `json:"token_hash"`
	Reason    string `json:"reason"`
}

// PasswordRejected records a wrong password Jellyfin refused for the user.
type PasswordRejected struct{}

// PasswordAccepted records the right password after Failures wrong ones.
type PasswordAccepted struct {
	Failures int `json:"failures"`
}

// PasswordStepHeld holds the user's password step until Until, after Failures wrong
// passwords within the hold window.
type PasswordStepHeld struct {
	Until    time.Time `json:"until"`
	Failures int       `json:"failures"`
}

// PasswordHoldReleased clears the user's password hold and failure count.
type PasswordHoldReleased struct {
	Reason string `json:"reason,omitempty"`
}

// JellyfinLoginFailuresReset records that jfguard set the user's
// InvalidLoginAttemptCount at Jellyfin from Failures to 0, Jellyfin locking the
// account at Limit.
type JellyfinLoginFailuresReset struct {
	Failures int `json:"failures"`
	Limit    int `json:"limit"`
}

// TOTPEnrollmentStarted keeps the sealed secret until the user confirms it.
type TOTPEnrollmentStarted struct {
	Secret Sealed `json:"secret"`
}

// TOTPEnrolled confirms the pending secret; Step is the step of the confirming code,
// which can therefore not be used again.
type TOTPEnrolled struct {
	Step int64 `json:"step"`
}

// TOTPRemoved removes the authenticator app.
type TOTPRemoved struct{}

// RecoveryCode is the stored form of one recovery code: a lookup tag and a slow hash.
type RecoveryCode struct {
	Tag  string `json:"tag"`
	Hash string `json:"hash"`
}

// RecoveryCodesGenerated replaces the user's recovery codes.
type RecoveryCodesGenerated struct {
	Codes []RecoveryCode `json:"codes"`
}

// RecoveryCodeUsed spends one code.
type RecoveryCodeUsed struct {
	Index int `json:"index"`
}

// TwoFactorDisabled removes every factor of the user.
type TwoFactorDisabled struct{}

// PasskeyRegistered adds a WebAuthn credential.
type PasskeyRegistered struct {
	CredentialID string   `json:"credential_id"`
	Label        string   `json:"label"`
	PublicKey    string   `json:"public_key"`
	AAGUID       string   `json:"aaguid,omitempty"`
	SignCount    uint32   `json:"sign_count"`
	Transports   []string `json:"transports,omitempty"`
	Attestation  string   `json:"attestation,omitempty"`
	BackupState  bool     `json:"backup_state,omitempty"`
	BackupElig   bool     `json:"backup_eligible,omitempty"`
	UserVerified bool     `json:"user_verified,omitempty"`
}

// PasskeyRenamed changes a passkey's label.
type PasskeyRenamed struct {
	CredentialID string `json:"credential_id"`
	Label        string `json:"label"`
}

// PasskeyRemoved removes a passkey.
type PasskeyRemoved struct {
	CredentialID string `json:"credential_id"`
}

// PasskeyUsed advances a passkey's signature counter.
type PasskeyUsed struct {
	CredentialID string `json:"credential_id"`
	SignCount    uint32 `json:"sign_count"`
}

// PasskeyCloneSuspected records a signature counter that went backwards.
type PasskeyCloneSuspected struct {
	CredentialID string `json:"credential_id"`
	Stored       uint32 `json:"stored_sign_count"`
	Presented    uint32 `json:"presented_sign_count"`
}

// EmailAddressAdded stores a sealed address and the hash of its confirmation code.
type EmailAddressAdded struct {
	Address   Sealed    `json:"address"`
	CodeHash  string    `json:"code_hash"`
	ExpiresAt time.Time `json:"expires_at"`
}

// EmailAddressConfirmed makes the address usable for codes.
type EmailAddressConfirmed struct{}

// EmailAddressRemoved removes the address.
type EmailAddressRemoved struct{}

// EmailCodeSent stores the hash of a sign-in code sent by email.
type EmailCodeSent struct {
	ChallengeID string    `json:"challenge_id,omitempty"`
	CodeHash    string    `json:"code_hash"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// BrowserTrusted remembers a browser that skips the challenge. SecretHash is the
// SHA-256 of the secret in the browser's cookie; the secret itself is never stored.
type BrowserTrusted struct {
	BrowserID  string    `json:"browser_id"`
	DeviceID   string    `json:"device_id"`
	Name       string    `json:"name"`
	ExpiresAt  time.Time `json:"expires_at"`
	SecretHash string    `json:"secret_hash,omitempty"`
}

// TrustedBrowserUsed records a trusted browser's use and the hash of the secret
// that replaces the one it presented.
type TrustedBrowserUsed struct {
	BrowserID  string    `json:"browser_id"`
	ExpiresAt  time.Time `json:"expires_at"`
	SecretHash string    `json:"secret_hash,omitempty"`
}

// TrustedBrowserReplayed records a replaced cookie secret presented again.
// Concurrent is set when the secret was replaced moments before, which is what two
// tabs signing in at once look like; the browser's trust is then kept.
type TrustedBrowserReplayed struct {
	BrowserID  string `json:"browser_id"`
	SecretHash string `json:"secret_hash"`
	Concurrent bool   `json:"concurrent,omitempty"`
}

// BrowserTrustRevoked forgets a trusted browser. Reason is empty when the user or
// an administrator revoked it.
type BrowserTrustRevoked struct {
	BrowserID string `json:"browser_id"`
	Reason    string `json:"reason,omitempty"`
}

// PairingRequested records a native app waiting for approval.
type PairingRequested struct {
	PairingID  string    `json:"pairing_id"`
	DeviceID   string    `json:"device_id"`
	DeviceName string    `json:"device_name"`
	Client     string    `json:"client"`
	Version    string    `json:"version"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// PairingApproved lets the device sign in once within the window.
type PairingApproved struct {
	PairingID string    `json:"pairing_id"`
	Until     time.Time `json:"until"`
}

// PairingDenied refuses a device.
type PairingDenied struct {
	PairingID string `json:"pairing_id"`
}

// DevicePaired binds an approved device to the token it signed in with.
type DevicePaired struct {
	PairingID string `json:"pairing_id"`
	TokenHash string `json:"token_hash"`
	Token     Sealed `json:"token,omitempty"`
}

// DeviceRevoked removes a paired device.
type DeviceRevoked struct {
	PairingID string `json:"pairing_id"`
}

// AppPasswordCreated stores an app password's slow hash under its public id.
type AppPasswordCreated struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Hash  string `json:"hash"`
}

// AppPasswordUsed records a sign-in with an app password.
type AppPasswordUsed struct {
	ID        string `json:"id"`
	TokenHash string `json:"token_hash"`
}

// QuickConnectAuthorized records that a session (TokenHash) authorized a Quick
// Connect code for the user.
type QuickConnectAuthorized struct {
	TokenHash string `json:"token_hash"`
}

// AppPasswordRevoked removes an app password.
type AppPasswordRevoked struct {
	ID string `json:"id"`
}

// SignInFailed counts a failed sign-in against an address.
type SignInFailed struct {
	Username string `json:"username"`
	Reason   string `json:"reason"`
}

// IPBanned bans an address.
type IPBanned struct {
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
	Failures int       `json:"failures"`
}

// IPUnbanned lifts a ban.
type IPUnbanned struct {
	Reason string `json:"reason,omitempty"`
}

// SettingsChanged records one policy setting's change.
type SettingsChanged struct {
	Key   string `json:"key"`
	Old   string `json:"old"`
	New   string `json:"new"`
	Where string `json:"where"`
}

// SessionsAdopted records the one-time adoption of pre-existing sessions.
type SessionsAdopted struct {
	Count int `json:"count"`
}

// NotificationFailed records an undeliverable alert.
type NotificationFailed struct {
	Sink     string `json:"sink"`
	EventID  string `json:"event_id"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// ForgedEventDetected names an event the fold refused because its MAC is missing
// (Reason "missing") or wrong ("invalid").
type ForgedEventDetected struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	Type    string `json:"type"`
	Reason  string `json:"reason"`
}

// NodeStarted records a node's start.
type NodeStarted struct {
	Node    string `json:"node"`
	Version string `json:"version"`
}

// KeysAggregateID is the system aggregate of key rotations: trust_key_rotated,
// audit_key_rotated and master_key_rotated.
const KeysAggregateID = "keys"

// TrustKeyRotated starts a generation of the trust-cookie key. A generation's key
// is derived from the master key named by its id, so every node derives the same
// key without it ever being stored.
type TrustKeyRotated struct {
	Generation          int       `json:"generation"`
	MasterKeyID         string    `json:"master_key_id"`
	PreviousGeneration  int       `json:"previous_generation"`
	PreviousMasterKeyID string    `json:"previous_master_key_id"`
	PreviousValidUntil  time.Time `json:"previous_valid_until"`
}

// AuditKeyRotated records that a node's checkpoint key changed from PreviousKey to
// Key (both "ed25519:<base64>"). PreviousSignature and Signature are the two keys'
// signatures over the change (see AuditKeyRotationMessage), so a verifier that
// trusts either key learns the other from the log itself, and nobody without the
// previous private key can name a successor.
type AuditKeyRotated struct {
	Node              string `json:"node"`
	PreviousKey       string `json:"previous_key"`
	Key               string `json:"key"`
	PreviousSignature string `json:"previous_signature"`
	Signature         string `json:"signature"`
}

// MasterKeyRotated records a new master key (by id, never the key) and how many
// data keys were re-wrapped under it.
type MasterKeyRotated struct {
	KeyID              string    `json:"key_id"`
	PreviousKeyID      string    `json:"previous_key_id"`
	PreviousValidUntil time.Time `json:"previous_valid_until"`
	DataKeys           int       `json:"data_keys"`
}

// EventType implementations tie each payload to its catalog name.
func (*UserDiscovered) EventType() Type         { return TypeUserDiscovered }
func (*UserProfileChanged) EventType() Type     { return TypeUserProfileChanged }
func (*UserForgotten) EventType() Type          { return TypeUserForgotten }
func (*UserReset) EventType() Type              { return TypeUserReset }
func (*ChallengeIssued) EventType() Type        { return TypeChallengeIssued }
func (*FactorVerified) EventType() Type         { return TypeFactorVerified }
func (*FactorFailed) EventType() Type           { return TypeFactorFailed }
func (*ChallengeBurned) EventType() Type        { return TypeChallengeBurned }
func (*ChallengeExpired) EventType() Type       { return TypeChallengeExpired }
func (*LockoutStarted) EventType() Type         { return TypeLockoutStarted }
func (*SessionVerified) EventType() Type        { return TypeSessionVerified }
func (*SessionRevoked) EventType() Type         { return TypeSessionRevoked }
func (*StepUpRequired) EventType() Type         { return TypeStepUpRequired }
func (*SessionSteppedUp) EventType() Type       { return TypeSessionSteppedUp }
func (*SignedOutEverywhere) EventType() Type    { return TypeSignedOutEverywhere }
func (*JellyfinLogoutFailed) EventType() Type   { return TypeJellyfinLogoutFailed }
func (*TOTPEnrollmentStarted) EventType() Type  { return TypeTOTPEnrollmentStarted }
func (*TOTPEnrolled) EventType() Type           { return TypeTOTPEnrolled }
func (*TOTPRemoved) EventType() Type            { return TypeTOTPRemoved }
func (*RecoveryCodesGenerated) EventType() Type { return TypeRecoveryCodesGenerated }
func (*RecoveryCodeUsed) EventType() Type       { return TypeRecoveryCodeUsed }
func (*TwoFactorDisabled) EventType() Type      { return TypeTwoFactorDisabled }
func (*PasskeyRegistered) EventType() Type      { return TypePasskeyRegistered }
func (*PasskeyRenamed) EventType() Type         { return TypePasskeyRenamed }
func (*PasskeyRemoved) EventType() Type         { return TypePasskeyRemoved }
func (*PasskeyUsed) EventType() Type            { return TypePasskeyUsed }
func (*PasskeyCloneSuspected) EventType() Type  { return TypePasskeyCloneSuspected }
func (*EmailAddressAdded) EventType() Type      { return TypeEmailAddressAdded }
func (*EmailAddressConfirmed) EventType() Type  { return TypeEmailAddressConfirmed }
func (*EmailAddressRemoved) EventType() Type    { return TypeEmailAddressRemoved }
func (*EmailCodeSent) EventType() Type          { return TypeEmailCodeSent }
func (*BrowserTrusted) EventType() Type         { return TypeBrowserTrusted }
func (*TrustedBrowserUsed) EventType() Type     { return TypeTrustedBrowserUsed }
func (*TrustedBrowserReplayed) EventType() Type { return TypeTrustedBrowserReplayed }
func (*BrowserTrustRevoked) EventType() Type    { return TypeBrowserTrustRevoked }
func (*PairingRequested) EventType() Type       { return TypePairingRequested }
func (*PairingApproved) EventType() Type        { return TypePairingApproved }
func (*PairingDenied) EventType() Type          { return TypePairingDenied }
func (*DevicePaired) EventType() Type           { return TypeDevicePaired }
func (*DeviceRevoked) EventType() Type          { return TypeDeviceRevoked }
func (*AppPasswordCreated) EventType() Type     { return TypeAppPasswordCreated }
func (*AppPasswordUsed) EventType() Type        { return TypeAppPasswordUsed }
func (*AppPasswordRevoked) EventType() Type     { return TypeAppPasswordRevoked }
func (*QuickConnectAuthorized) EventType() Type { return TypeQuickConnectAuthorized }
func (*SignInFailed) EventType() Type           { return TypeSignInFailed }
func (*IPBanned) EventType() Type               { return TypeIPBanned }
func (*IPUnbanned) EventType() Type             { return TypeIPUnbanned }
func (*SettingsChanged) EventType() Type        { return TypeSettingsChanged }
func (*SessionsAdopted) EventType() Type        { return TypeSessionsAdopted }
func (*NotificationFailed) EventType() Type     { return TypeNotificationFailed }
func (*ForgedEventDetected) EventType() Type    { return TypeForgedEventDetected }
func (*NodeStarted) EventType() Type            { return TypeNodeStarted }
func (*TrustKeyRotated) EventType() Type        { return TypeTrustKeyRotated }
func (*AuditKeyRotated) EventType() Type        { return TypeAuditKeyRotated }
func (*MasterKeyRotated) EventType() Type       { return TypeMasterKeyRotated }

// EventType of the password step's events.
func (*PasswordRejected) EventType() Type           { return TypePasswordRejected }
func (*PasswordAccepted) EventType() Type           { return TypePasswordAccepted }
func (*PasswordStepHeld) EventType() Type           { return TypePasswordStepHeld }
func (*PasswordHoldReleased) EventType() Type       { return TypePasswordHoldReleased }
func (*JellyfinLoginFailuresReset) EventType() Type { return TypeJellyfinLoginFailuresReset }

// NewLocation records a sign-in from a network new to the user (the event's IP is
// the address); Country and City are empty without a geolocation database.
type NewLocation struct {
	Network string `json:"network"`
	Country string `json:"country,omitempty"`
	City    string `json:"city,omitempty"`
}

// ImpossibleTravel records two successive sign-ins too far apart for the time
// between them: from the previous sign-in's network and place to this one's.
type ImpossibleTravel struct {
	FromNetwork string  `json:"from_network"`
	FromCountry string  `json:"from_country,omitempty"`
	FromCity    string  `json:"from_city,omitempty"`
	ToNetwork   string  `json:"to_network"`
	ToCountry   string  `json:"to_country,omitempty"`
	ToCity      string  `json:"to_city,omitempty"`
	DistanceKm  float64 `json:"distance_km"`
	// ElapsedSeconds is the time between the two sign-ins.
	ElapsedSeconds int64   `json:"elapsed_seconds"`
	SpeedKmh       float64 `json:"speed_kmh"`
}

// EventType of the location events.
func (*NewLocation) EventType() Type      { return TypeNewLocation }
func (*ImpossibleTravel) EventType() Type { return TypeImpossibleTravel }

// UserNetworksSet sets the networks a user may sign in from; empty means anywhere.
type UserNetworksSet struct {
	Networks []string `json:"networks"`
}

// SignInRefused records a sign-in refused although its credential was right: the
// reason (network), the list that refused it (user or admins), how it signed in
// (password, passkey, app_password, quick_connect, challenge) and the address.
type SignInRefused struct {
	Reason  string `json:"reason"`
	Rule    string `json:"rule,omitempty"`
	Method  string `json:"method"`
	Address string `json:"address"`
}

// EventType of the network allowlists' events.
func (*UserNetworksSet) EventType() Type { return TypeUserNetworksSet }
func (*SignInRefused) EventType() Type   { return TypeSignInRefused }
