package gateway

import (
	"context"
	"net/netip"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// The use cases the handlers call, as small interfaces per area, so a handler test
// can fake the area it exercises (embedding useCases for the rest) and run without
// NATS. *usecase.Service implements them all.

type useCases interface {
	signInUseCases
	gateUseCases
	selfServiceUseCases
	passkeysUseCases
	controlUseCases
}

var _ useCases = (*usecase.Service)(nil)

// signInUseCases are the use cases of a password sign-in (an app password typed
// as one included) and of challenges (signin.go, challenge.go).
type signInUseCases interface {
	SignInWithPassword(ctx context.Context, in usecase.PasswordSignIn, check usecase.PasswordCheck) (usecase.PasswordOutcome, error)
	ChallengeUser(id string) (string, bool)
	ExpireChallenge(ctx context.Context, uid, id string)
	SweepChallenges(ctx context.Context)
	VerifyChallenge(ctx context.Context, req usecase.VerifyRequest) (usecase.VerifyResult, error)
	OIDCSignIn(ctx context.Context, req usecase.OIDCSignInRequest) ([]byte, error)
	RecordOIDCRefused(ctx context.Context, caller usecase.Caller, name string)
}

// gateUseCases are the use cases of the gate's sessions, Quick Connect sign-ins and
// forged events (gate.go, quickconnect.go).
type gateUseCases interface {
	ApproveQuickConnect(ctx context.Context, a usecase.Account, token, code string) error
	AuthorizeQuickConnect(ctx context.Context, caller usecase.Caller, token string) (string, error)
	Allowed(a usecase.Account) error
	DecideQuickConnectSignIn(ctx context.Context, req usecase.QuickConnectSignIn) error
	Banned(ip netip.Addr) bool
	ResolveToken(ctx context.Context, caller usecase.Caller, token string) (usecase.ResolvedToken, error)
	WatchForgeries(ctx context.Context)
}

// selfServiceUseCases are the use cases of the self-service API (me.go, email.go,
// devices.go, assurance.go).
type selfServiceUseCases interface {
	AddEmail(ctx context.Context, a usecase.Account, address string) (string, error)
	AnswerPairing(ctx context.Context, a usecase.Account, pairingID string, approve bool) error
	Authorize(ctx context.Context, a usecase.Account) error
	BeginTOTP(ctx context.Context, a usecase.Account) (domain.TOTPKey, error)
	CompleteProof(ctx context.Context, a usecase.Account, p domain.FactorProof) (domain.FactorProof, error)
	ConfirmEmail(ctx context.Context, a usecase.Account, code string) error
	ConfirmTOTP(ctx context.Context, a usecase.Account, code string) ([]string, error)
	CreateAppPassword(ctx context.Context, a usecase.Account, label string) (usecase.AppPassword, error)
	DisableTwoFactor(ctx context.Context, a usecase.Account, p domain.FactorProof) error
	EmailAddress(ctx context.Context, uid string) (string, error)
	LevelOf(uid, tokenHash string) (usecase.SessionLevel, bool)
	VerifiedUser(token string) string
	PendingTOTPQRCode(ctx context.Context, a usecase.Account) ([]byte, error)
	RecordSignOut(ctx context.Context, caller usecase.Caller, tokenHash string) error
	RegenerateRecoveryCodes(ctx context.Context, a usecase.Account, p domain.FactorProof) ([]string, error)
	RemoveEmail(ctx context.Context, a usecase.Account, p domain.FactorProof) error
	RevokeAppPassword(ctx context.Context, a usecase.Account, id string) error
	RevokeBrowser(ctx context.Context, a usecase.Account, browserID string) error
	RevokeDevice(ctx context.Context, a usecase.Account, pairingID string) error
	RevokeSession(ctx context.Context, a usecase.Account, tokenHash string) error
	SendChallengeCode(ctx context.Context, caller usecase.Caller, challengeID string) error
	SendProofCode(ctx context.Context, a usecase.Account) error
	SignOutEverywhere(ctx context.Context, a usecase.Account, proof *domain.FactorProof) (domain.Revocation, error)
	StepUp(ctx context.Context, a usecase.Account, p domain.FactorProof) (time.Time, error)
}

// passkeysUseCases are the use cases of passkeys and enrolment at a challenge
// (passkey.go, enroll_challenge.go).
type passkeysUseCases interface {
	BeginEnrollAtChallenge(ctx context.Context, caller usecase.Caller, challengeID string) (domain.TOTPKey, error)
	ChallengePasskeyUser(challengeID string) (*domain.User, error)
	ConfirmEnrollAtChallenge(ctx context.Context, caller usecase.Caller, challengeID, code string) (usecase.EnrolledAtChallenge, error)
	PasskeyProofUser(uid string) (*domain.User, error)
	PasskeyRegistrationUser(uid string) (*domain.User, error)
	PasskeySignIn(ctx context.Context, req usecase.PasskeySignInRequest) ([]byte, error)
	RegisterPasskey(ctx context.Context, a usecase.Account, cred usecase.PasskeyCredential, label string) (usecase.PasskeyRegistered, error)
	RemovePasskey(ctx context.Context, a usecase.Account, credentialID string, proof domain.FactorProof) error
	RenamePasskey(ctx context.Context, a usecase.Account, credentialID, label string) error
}

// controlUseCases are the use cases of the control API (rpc*.go).
type controlUseCases interface {
	AddSubscriber(ctx context.Context, a usecase.Admin, name, publicKey string) (projections.Subscriber, error)
	AdoptSessions(ctx context.Context, a usecase.Admin, force bool) (int, error)
	AuthorizeAdmin(ctx context.Context, a usecase.Admin) error
	Ban(ctx context.Context, a usecase.Admin, target string, d time.Duration, reason string) (usecase.BanTarget, error)
	Bans() []usecase.Ban
	FindUser(nameOrID string) (string, error)
	ForgetUser(ctx context.Context, a usecase.Admin, uid, reason string) error
	PreapproveDevice(ctx context.Context, a usecase.Admin, uid string, d usecase.Device) (usecase.Preapproved, error)
	ReleasePasswordHold(ctx context.Context, a usecase.Admin, uid, reason string) error
	RemoveSubscriber(ctx context.Context, a usecase.Admin, name string) error
	ResetUser(ctx context.Context, a usecase.Admin, uid, reason string) (domain.Revocation, error)
	RevokeUserDevice(ctx context.Context, a usecase.Admin, uid, pairingID string) error
	RevokeUserEverywhere(ctx context.Context, a usecase.Admin, uid, reason string) (domain.Revocation, error)
	SetSetting(ctx context.Context, a usecase.Admin, key, old, value string) (bool, error)
	Unban(ctx context.Context, a usecase.Admin, target, reason string) (usecase.BanTarget, error)
	SetUserNetworks(ctx context.Context, a usecase.Admin, user string, networks []string) (string, []string, error)
	AdminRevokeSession(ctx context.Context, a usecase.Admin, uid, tokenHash string) error
	AdminRevokeAppPassword(ctx context.Context, a usecase.Admin, uid, id string) error
	AdminAnswerPairing(ctx context.Context, a usecase.Admin, uid, pairingID string, approve bool) error
	HeldSignIns() []usecase.HeldSignIn
	AdminEndChallenge(ctx context.Context, a usecase.Admin, challengeID string) (string, error)
}
