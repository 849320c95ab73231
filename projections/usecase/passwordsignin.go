package usecase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/http/upstream"
)

// A sign-in with a password, from the password step to the decision, in one use
// case: the handler hands over what the request says and a PasswordCheck that
// carries the password to Jellyfin, and answers with the outcome. The order is the
// use case's alone: the step first (no password reaches Jellyfin unless it may),
// then Jellyfin's check, then the decision on what the answer may unlock.

// Errors of a password sign-in that happen after the password step let the
// password through; the step's own are BeginPassword's.
var (
	// ErrJellyfinUnreachable: Jellyfin did not answer the password. Nothing was
	// recorded: no one knows whether the password was right.
	ErrJellyfinUnreachable = errors.New("jellyfin did not answer the password")
	// ErrUnreadableAnswer: Jellyfin accepted the password with an answer jfguard
	// cannot read. jfguard cannot gate what it cannot read: nothing passes.
	ErrUnreadableAnswer = errors.New("unreadable AuthenticationResult from Jellyfin")
	// ErrSignInUndecided: Jellyfin accepted the password but the decision could not
	// be made or recorded. The session Jellyfin made was logged out.
	ErrSignInUndecided = errors.New("the sign-in could not be decided")
)

// PasswordAnswer is Jellyfin's answer to a password, as Jellyfin wrote it.
type PasswordAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// PasswordCheck carries a password to Jellyfin, which alone can check it. The
// gateway implements it by forwarding the client's request; the use case decides
// whether and when it is called.
type PasswordCheck interface {
	// CheckPassword returns Jellyfin's answer; an error when Jellyfin gave none.
	CheckPassword(ctx context.Context) (PasswordAnswer, error)
}

// PasswordSignIn is a sign-in with a name and a password, as the request made it.
type PasswordSignIn struct {
	Caller   Caller
	Username string
	Password string
	// PathUserID is the id of /Users/{id}/Authenticate; "" for a sign-in by name.
	PathUserID string
	// AppPasswords: an app password typed in the password field signs in with it
	// (Jellyfin's own sign-in routes), instead of going to Jellyfin.
	AppPasswords bool
	// Web: jfguard's script wrapped the request (the web app), so no pairing.
	Web bool
	// Trust reads the trust cookie presented (nil when none). It is called for a
	// password Jellyfin accepted only: checking a cookie costs a MAC and a lookup
	// that a wrong password should not buy.
	Trust func() *PresentedTrust
}

// PasswordVerdict is what became of a password sign-in that was not refused.
type PasswordVerdict int

const (
	// PasswordRejected: Jellyfin did not accept the password; Answer is its answer.
	PasswordRejected PasswordVerdict = iota + 1
	// PasswordPassed: the token passes; Answer is the AuthenticationResult to send.
	PasswordPassed
	// PasswordChallenged: the token is held behind the challenge the result names;
	// Answer is empty.
	PasswordChallenged
)

// PasswordOutcome is what a password sign-in came to: the verdict, the answer to
// send, and the decision with its trust cookie (see SignInResult).
type PasswordOutcome struct {
	Verdict PasswordVerdict
	Answer  PasswordAnswer
	// UserID is the user Jellyfin signed in (a passed or challenged sign-in).
	UserID string
	// AppPassword: the password was an app password, checked by jfguard rather than
	// Jellyfin; set with the error too, whose answer is then in Jellyfin's words
	// (see SignInWithAppPassword).
	AppPassword bool
	SignInResult
}

// SignInWithPassword signs in with a password: the password step (BeginPassword;
// its errors are returned as they are), then an app password is signed in by
// jfguard and any other password checked by Jellyfin through check; a refusal is
// recorded against the address and the user, an acceptance decided (DecideSignIn)
// and, when that fails, the session Jellyfin made is logged out. The error is one
// of BeginPassword's, ErrJellyfinUnreachable, ErrUnreadableAnswer,
// domain.ErrOutsideNetworks, ErrSignInUndecided, or, with AppPassword set,
// SignInWithAppPassword's.
func (s *Service) SignInWithPassword(ctx context.Context, in PasswordSignIn, check PasswordCheck) (PasswordOutcome, error) {
	appPassword := in.AppPasswords && domain.LooksLikeAppPassword(in.Password)
	attempt, err := s.BeginPassword(ctx, in.Caller, in.Username, in.PathUserID, !appPassword)
	if err != nil {
		return PasswordOutcome{}, err
	}
	defer attempt.End()
	if appPassword {
		return s.signInWithAppPassword(ctx, in)
	}
	ans, err := check.CheckPassword(ctx)
	if err != nil {
		return PasswordOutcome{}, fmt.Errorf("%w: %w", ErrJellyfinUnreachable, err)
	}
	if ans.Status != http.StatusOK {
		if ans.Status == http.StatusUnauthorized {
			attempt.Rejected(ctx, "bad_password")
		}
		return PasswordOutcome{Verdict: PasswordRejected, Answer: ans}, nil
	}
	return s.decideAccepted(ctx, in, ans)
}

// signInWithAppPassword is SignInWithPassword for an app password.
func (s *Service) signInWithAppPassword(ctx context.Context, in PasswordSignIn) (PasswordOutcome, error) {
	raw, err := s.SignInWithAppPassword(ctx, AppPasswordSignIn{Caller: in.Caller, Username: in.Username, Password: in.Password})
	out := PasswordOutcome{AppPassword: true}
	if err != nil {
		return out, err
	}
	out.Verdict, out.Answer = PasswordPassed, PasswordAnswer{Status: http.StatusOK, Body: raw}
	out.Pass, out.Reason = true, domain.ReasonAppPassword
	return out, nil
}

// decideAccepted decides on a password Jellyfin accepted with ans.
func (s *Service) decideAccepted(ctx context.Context, in PasswordSignIn, ans PasswordAnswer) (PasswordOutcome, error) {
	var res upstream.AuthResult
	if err := json.Unmarshal(ans.Body, &res); err != nil || res.AccessToken == "" || res.User.ID == "" {
		if res.AccessToken != "" {
			s.LogoutAsync(res.AccessToken)
		}
		s.log.Error("unreadable AuthenticationResult from Jellyfin; refusing the sign-in", "err", err)
		return PasswordOutcome{}, ErrUnreadableAnswer
	}
	req := SignInRequest{Caller: in.Caller, Result: res, Raw: ans.Body, Web: in.Web}
	if in.Trust != nil {
		req.Trust = in.Trust()
	}
	decided, err := s.DecideSignIn(ctx, req)
	switch {
	case errors.Is(err, domain.ErrOutsideNetworks):
		return PasswordOutcome{}, err // DecideSignIn logged the token out
	case err != nil:
		s.log.Error("sign-in decision failed; logging the token out", "err", err, "user", res.User.Name)
		s.LogoutAsync(res.AccessToken)
		return PasswordOutcome{}, fmt.Errorf("%w: %w", ErrSignInUndecided, err)
	}
	out := PasswordOutcome{Verdict: PasswordChallenged, UserID: res.User.ID, SignInResult: decided}
	if decided.Pass {
		// A held answer stays sealed in the stream until the challenge is met.
		out.Verdict, out.Answer = PasswordPassed, ans
	}
	return out, nil
}
