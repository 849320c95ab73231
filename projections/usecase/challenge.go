package usecase

import (
	"context"
	"errors"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// VerifyRequest is a second factor offered for a held sign-in.
type VerifyRequest struct {
	Caller      Caller
	ChallengeID string
	// Proof is the factor; for a passkey its assertion was verified by the
	// relying party already, and for TOTP the secret is unsealed here.
	Proof domain.FactorProof
	// TrustBrowser asks to trust the browser (with DeviceID, the web app's device
	// id, and BrowserName, a label for the list of trusted browsers).
	TrustBrowser bool
	DeviceID     string
	BrowserName  string
}

// VerifyResult is a completed challenge: the held AuthenticationResult and, when
// the browser is now trusted, its cookie until the trust ends.
type VerifyResult struct {
	AuthResult     []byte
	TrustCookie    string
	TrustExpiresAt time.Time
}

// ChallengeUser is the user a challenge belongs to.
func (s *Service) ChallengeUser(id string) (string, bool) {
	var uid string
	s.read(func(st *projections.State) { uid = st.ChallengeUsers[id] })
	return uid, uid != ""
}

// VerifyChallenge checks a factor against a held sign-in and returns the held
// AuthenticationResult on success. A challenge burned by too many wrong factors has
// its token logged out at Jellyfin.
func (s *Service) VerifyChallenge(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	id := req.ChallengeID
	uid, ok := s.ChallengeUser(id)
	if !ok {
		return VerifyResult{}, domain.ErrChallengeNotFound
	}
	proof := req.Proof
	if proof.Method == domain.MethodTOTP {
		secret, err := s.TOTPSecret(ctx, uid)
		if err != nil {
			return VerifyResult{}, err
		}
		proof.TOTPSecret = secret
	}
	attempt := domain.Attempt{
		ChallengeID: id, Proof: proof, TrustBrowser: req.TrustBrowser && req.DeviceID != "",
		NewBrowserID: s.NewID(), DeviceID: req.DeviceID, BrowserName: req.BrowserName,
	}
	// Trust is granted only with a cookie to hold it.
	var cookie string
	if attempt.TrustBrowser {
		secret, value, err := s.newTrustCookie()
		if err != nil {
			s.log.Error("cannot make a trust cookie; the browser is not trusted", "err", err)
		} else {
			cookie, attempt.NewSecretHash = value, secret.Hash()
		}
	}
	// The events of the attempt name the device that signed in, as the challenge
	// recorded it: the session they verify belongs to that device, whoever typed
	// the code.
	ec := events.Context{Actor: uid, IP: req.Caller.IPString()}
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			if ch := u.Challenges[id]; ch != nil && ch.Device != (events.Device{}) {
				d := ch.Device
				ec.Device = &d
			}
		}
	})
	pol := s.Policy()
	var out domain.AttemptOutcome
	_, err := s.execUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		attempt.Proof.Now = now
		out = domain.DecideAttempt(u, pol, attempt)
		return out.Events, out.Err
	})
	if err != nil {
		if errors.Is(err, domain.ErrChallengeBurned) && out.Challenge != nil {
			s.LogoutSealed(uid, out.Challenge.Token)
		}
		return VerifyResult{}, err
	}
	raw, err := s.d.Sealer.Open(ctx, uid, out.Challenge.AuthResult)
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{AuthResult: raw}
	if out.BrowserID != "" {
		res.TrustCookie, res.TrustExpiresAt = cookie, out.TrustExpiresAt
	}
	return res, nil
}

// TOTPSecret unseals the user's confirmed TOTP secret.
func (s *Service) TOTPSecret(ctx context.Context, uid string) (string, error) {
	return s.openUserValue(ctx, uid, func(u *domain.User) events.Sealed {
		if u.TOTP == nil {
			return ""
		}
		return u.TOTP.Secret
	})
}

// openUserValue unseals a value of a user's state that pick selects; a value the
// user does not have is domain.ErrMethodNotAvailable.
func (s *Service) openUserValue(ctx context.Context, uid string, pick func(*domain.User) events.Sealed) (string, error) {
	var sealed events.Sealed
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil {
			sealed = pick(u)
		}
	})
	if sealed == "" {
		return "", domain.ErrMethodNotAvailable
	}
	b, err := s.d.Sealer.Open(ctx, uid, sealed)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ExpireChallenge ends a held sign-in now and logs its token out at Jellyfin.
func (s *Service) ExpireChallenge(ctx context.Context, uid, id string) {
	var token events.Sealed
	_, err := s.execUser(ctx, uid, events.Context{Actor: "jfguard"}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, t := domain.DecideExpireChallenge(u, id)
		token = t
		return evs, nil
	})
	if err != nil {
		s.log.Error("expire challenge", "err", err)
		return
	}
	s.LogoutSealed(uid, token)
}

// SweepChallenges expires held sign-ins past their lifetime and logs their tokens
// out. Several nodes may sweep: the append's concurrency check lets one of them
// record each expiry, and only that one logs the token out.
func (s *Service) SweepChallenges(ctx context.Context) {
	now := s.now()
	type due struct{ uid, id string }
	var list []due
	s.read(func(st *projections.State) {
		for id, uid := range st.ChallengeUsers {
			if u := st.Users[uid]; u != nil {
				if ch := u.Challenges[id]; ch != nil && !ch.Verified && !now.Before(ch.ExpiresAt) {
					list = append(list, due{uid, id})
				}
			}
		}
	})
	for _, d := range list {
		s.ExpireChallenge(ctx, d.uid, d.id)
	}
}
