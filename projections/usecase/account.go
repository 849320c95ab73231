package usecase

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// ErrUndeclaredAction: a change was asked for without declaring its action; it is
// refused (a change nobody classified is not made).
var ErrUndeclaredAction = errors.New("this change has no declared action; refusing it")

// Account is a self-service request: the signed-in user, the session asking, and
// the action the route declared. The step-up rule (domain.User.Authorize) decides
// from them whether the change may be made now.
type Account struct {
	Caller    Caller
	UserID    string
	TokenHash string
	Action    domain.Action
	// Proof: the request carries a current factor (disable, new recovery codes,
	// remove a passkey or the address), which the decision checks.
	Proof bool
}

// context is the envelope context of the account's events: the user acts.
func (a Account) context() events.Context { return a.Caller.Context(a.UserID) }

func (a Account) domainCaller() domain.Caller {
	return domain.Caller{TokenHash: a.TokenHash, Proof: a.Proof}
}

// Authorize runs the step-up decision for the session alone, before any slow work,
// recording a refusal (step_up_required) when there is one.
func (s *Service) Authorize(ctx context.Context, a Account) error {
	pol := s.Policy()
	_, err := s.execUser(ctx, a.UserID, a.context(), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return u.Authorize(a.domainCaller(), a.Action, pol, now)
	})
	return err
}

// execAccount runs a self-service decision guarded by the step-up rule of the
// account's action, on the state it changes.
func (s *Service) execAccount(ctx context.Context, a Account, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) error {
	if a.Action == "" {
		return ErrUndeclaredAction
	}
	_, err := s.execUser(ctx, a.UserID, a.context(), domain.Guard(a.domainCaller(), a.Action, s.Policy(), decide))
	return err
}

// SessionLevel is a session's assurance as the setup page shows it.
type SessionLevel struct {
	Assurance   domain.Assurance `json:"assurance"`
	StepUpUntil *time.Time       `json:"step_up_until,omitempty"`
}

// LevelOf reads the level of a session of user uid now.
func (s *Service) LevelOf(uid, tokenHash string) (SessionLevel, bool) {
	var out SessionLevel
	var ok bool
	now, pol := s.now(), s.Policy()
	s.read(func(st *projections.State) {
		u := st.Users[uid]
		if u == nil || u.Sessions[tokenHash] == nil {
			return
		}
		ok = true
		out.Assurance = u.Sessions[tokenHash].Level(now, pol.StepUpDuration())
		if t := u.StepUpUntil(tokenHash, pol, now); !t.IsZero() {
			out.StepUpUntil = &t
		}
	})
	return out, ok
}

// RevokeAll signs a user out everywhere for an administrator (users.revoke_all,
// users.reset, users.forget), with extra events recorded in the same command. It
// returns once every revoked token was logged out at Jellyfin (or could not be):
// users.forget destroys the data key next, after which no held token could be
// unsealed to log it out.
func (s *Service) RevokeAll(ctx context.Context, uid, reason, note string, ec events.Context, first ...events.Payload) (domain.Revocation, error) {
	var r domain.Revocation
	_, err := s.execUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		r = domain.DecideSignOutEverywhere(u, reason, note, "")
		return append(append([]events.Payload{}, first...), r.Events...), nil
	})
	if err != nil {
		return r, err
	}
	s.logoutRevoked(ctx, uid, r.Tokens)
	return r, nil
}

// logoutRevoked logs revoked tokens out at Jellyfin. jfguard's gate already refuses
// them (the projection marks them revoked); this ends them at Jellyfin too, for
// whoever can reach it directly. Tokens jfguard holds sealed are unsealed; the others
// (sessions it resolved at Jellyfin before it kept tokens) are found by their hash
// among Jellyfin's devices with the admin key.
func (s *Service) logoutRevoked(ctx context.Context, uid string, tokens []domain.RevokedToken) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var plain []string
	missing := map[string]bool{}
	for _, t := range tokens {
		if t.Sealed == "" {
			missing[t.Hash] = true
			continue
		}
		b, err := s.d.Sealer.Open(ctx, uid, t.Sealed)
		if err != nil {
			s.log.Warn("cannot unseal a revoked token to log it out", "err", err)
			missing[t.Hash] = true
			continue
		}
		plain = append(plain, string(b))
	}
	if len(missing) > 0 && s.d.Jellyfin.HasAdminKey() {
		devs, err := s.d.Jellyfin.Devices(ctx)
		if err != nil {
			s.log.Warn("cannot list Jellyfin's devices to log revoked tokens out", "err", err)
		}
		for _, d := range devs {
			if d.AccessToken != "" && missing[TokenHash(d.AccessToken)] {
				plain = append(plain, d.AccessToken)
			}
		}
	}
	var wg sync.WaitGroup
	limit := make(chan struct{}, 4)
	for _, tok := range plain {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			if err := s.d.Jellyfin.Logout(ctx, tok); err != nil {
				s.log.Warn("logout of a revoked token at Jellyfin failed", "err", err)
			}
		}()
	}
	wg.Wait()
}

// SignOutEverywhere is the lost-phone button: every other session, held sign-in, app
// password, paired device and trusted browser of the user ends, and their tokens are
// logged out at Jellyfin. It needs a recent factor, or one in the request (proof,
// nil when none: a recovery code or an emailed code when the phone is gone).
func (s *Service) SignOutEverywhere(ctx context.Context, a Account, proof *domain.FactorProof) (domain.Revocation, error) {
	a.Action, a.Proof = domain.ActionSignOutEverywhere, proof != nil
	pol := s.Policy()
	var r domain.Revocation
	err := s.execAccount(ctx, a, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		var evs []events.Payload
		if proof != nil {
			p := *proof
			p.Now = now
			proved, err := domain.DecideProof(u, pol, p, string(domain.ActionSignOutEverywhere))
			if err != nil {
				return proved, err
			}
			evs = proved
		}
		r = domain.DecideSignOutEverywhere(u, domain.RevokeBySelf, "", a.TokenHash)
		return append(evs, r.Events...), nil
	})
	if err != nil {
		return r, err
	}
	s.logoutRevoked(ctx, a.UserID, r.Tokens)
	return r, nil
}
