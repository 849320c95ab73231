package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jfguard/jfguard/events"
)

// PurposePasswordless marks a passkey assertion that signs a user in on its own,
// without a password (factor_verified.purpose).
const PurposePasswordless = "passwordless"

// PurposeRemovePasskey is the purpose of the factor that proves a passkey's removal.
const PurposeRemovePasskey = "remove_passkey"

// MaxPasskeys bounds the passkeys of one user: every one of them is offered in each
// assertion, and a handful covers a phone, a computer and a spare security key.
const MaxPasskeys = 20

// MaxPasskeyLabel is the longest passkey label, in characters.
const MaxPasskeyLabel = 64

// Errors of the passkey decisions.
var (
	// ErrPasskeyInvalid: the assertion did not verify (wrong signature, origin,
	// challenge or credential). It counts as a failed factor.
	ErrPasskeyInvalid = errors.New("passkey: the assertion did not verify")
	// ErrPasskeyCloned: the signature counter did not advance, so another copy of
	// the credential's private key may be in use. The assertion is refused.
	ErrPasskeyCloned = errors.New("passkey: signature counter did not advance; the credential may be cloned")
	// ErrPasskeyRegistered: the credential is already one of the user's passkeys.
	ErrPasskeyRegistered = errors.New("passkey: already registered")
	// ErrPasskeyLabel: a label that is empty or too long.
	ErrPasskeyLabel = fmt.Errorf("passkey: a label has 1 to %d characters", MaxPasskeyLabel)
)

// PasskeyAssertion is a WebAuthn assertion as the gateway checked it: which
// credential signed, the signature counter it presented, and whether the signature,
// challenge, origin and RP ID verified against the stored public key. The domain
// decides the rest (counter, lockout, challenge) from the state.
type PasskeyAssertion struct {
	CredentialID string
	SignCount    uint32
	Verified     bool
}

// counterRegressed reports whether a presented signature counter shows a cloned
// credential. Authenticators that keep no counter report 0 forever and are accepted;
// once either side is above 0 the counter must strictly increase, so a replayed or
// copied key that signs with an older counter is caught.
func counterRegressed(stored, presented uint32) bool {
	return (stored > 0 || presented > 0) && presented <= stored
}

// NormalizePasskeyLabel trims a label and checks its length.
func NormalizePasskeyLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	if label == "" || utf8.RuneCountInString(label) > MaxPasskeyLabel {
		return "", ErrPasskeyLabel
	}
	return label, nil
}

// DecidePasskeyRegistered adds a passkey the gateway verified at registration. When
// the user has no recovery codes left, the caller's freshly generated set is stored
// with it, as it is with a first authenticator app: a passkey can be lost too.
func DecidePasskeyRegistered(u *User, k events.PasskeyRegistered, recovery []RecoveryCode) ([]events.Payload, error) {
	label, err := NormalizePasskeyLabel(k.Label)
	if err != nil {
		return nil, err
	}
	k.Label = label
	if k.CredentialID == "" || k.PublicKey == "" {
		return nil, ErrPasskeyInvalid
	}
	if u.Passkeys[k.CredentialID] != nil {
		return nil, ErrPasskeyRegistered
	}
	if len(u.Passkeys) >= MaxPasskeys {
		return nil, ErrTooMany
	}
	evs := []events.Payload{&k}
	if u.RecoveryLeft() == 0 && len(recovery) > 0 {
		evs = append(evs, &events.RecoveryCodesGenerated{Codes: recovery})
	}
	return evs, nil
}

// DecideRenamePasskey changes a passkey's label. Renaming changes nothing about how
// anyone signs in, so it needs no current factor.
func DecideRenamePasskey(u *User, credentialID, label string) ([]events.Payload, error) {
	k := u.Passkeys[credentialID]
	if k == nil {
		return nil, ErrNotFound
	}
	label, err := NormalizePasskeyLabel(label)
	if err != nil {
		return nil, err
	}
	if label == k.Label {
		return nil, nil
	}
	return []events.Payload{&events.PasskeyRenamed{CredentialID: credentialID, Label: label}}, nil
}

// DecideRemovePasskey removes a passkey; it needs a current factor, which may be the
// passkey itself.
func DecideRemovePasskey(u *User, pol Policy, credentialID string, proof FactorProof) ([]events.Payload, error) {
	if u.Passkeys[credentialID] == nil {
		return nil, ErrNotFound
	}
	evs, err := DecideProof(u, pol, proof, PurposeRemovePasskey)
	if err != nil {
		return evs, err
	}
	return append(evs, &events.PasskeyRemoved{CredentialID: credentialID}), nil
}

// DecidePasskeyAssertion decides on an assertion whose signature the gateway
// verified against one of the user's credentials: for a challenge (challengeID), a
// passwordless sign-in (PurposePasswordless) or a self-service change (its purpose).
// It obeys the lockout, counts a failure against the challenge and the user as any
// factor does, and refuses a credential whose signature counter did not advance
// (passkey_clone_suspected). On success the events are factor_verified and
// passkey_used; the caller adds what the verification unlocks (the session).
func DecidePasskeyAssertion(u *User, pol Policy, credentialID string, signCount uint32, purpose, challengeID string, now time.Time) ([]events.Payload, error) {
	if challengeID != "" {
		c := u.Challenges[challengeID]
		switch {
		case c == nil || (!c.Done && !now.Before(c.ExpiresAt)):
			return nil, ErrChallengeNotFound
		case c.Done && c.Verified:
			return nil, ErrChallengeCompleted
		case c.Done:
			return nil, ErrChallengeBurned
		}
	}
	if u.Locked(now) {
		return nil, &LockedError{Until: u.LockedUntil}
	}
	k := u.Passkeys[credentialID]
	if k == nil {
		return u.failure(pol, challengeID, MethodPasskey, ErrMethodNotAvailable, now, purpose)
	}
	if counterRegressed(k.SignCount, signCount) {
		evs, err := u.failure(pol, challengeID, MethodPasskey, ErrPasskeyCloned, now, purpose)
		clone := &events.PasskeyCloneSuspected{CredentialID: credentialID, Stored: k.SignCount, Presented: signCount}
		return append([]events.Payload{clone}, evs...), err
	}
	return []events.Payload{
		&events.FactorVerified{ChallengeID: challengeID, Method: MethodPasskey, CredentialID: credentialID, Purpose: purpose},
		&events.PasskeyUsed{CredentialID: credentialID, SignCount: signCount},
	}, nil
}
