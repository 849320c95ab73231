package usecase

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/upstream"
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

// Allowed decides the step-up rule for a on the state as it is and records
// nothing: for a client that repeats a request its refusal was recorded for moments
// ago (the gate records one refusal a minute per session and action).
func (s *Service) Allowed(a Account) error {
	pol, now := s.Policy(), s.now()
	err := domain.ErrNoSession
	s.read(func(st *projections.State) {
		if u := st.Users[a.UserID]; u != nil {
			_, err = u.Authorize(a.domainCaller(), a.Action, pol, now)
		}
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
// returns once every Jellyfin session of the user was logged out at Jellyfin (or
// could not be: then the revocation stands, jellyfin_logout_failed is recorded and
// the error wraps ErrJellyfinLogout). users.forget destroys the data key next, after
// which no held token could be unsealed to log it out.
func (s *Service) RevokeAll(ctx context.Context, uid, reason, note string, ec events.Context, first ...events.Payload) (domain.Revocation, error) {
	var r domain.Revocation
	_, err := s.execUser(ctx, uid, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		r = domain.DecideSignOutEverywhere(u, reason, note, "")
		return append(append([]events.Payload{}, first...), r.Events...), nil
	})
	if err != nil {
		return r, err
	}
	return r, s.logoutRevoked(ctx, uid, r, ec)
}

// ErrJellyfinLogout: a revocation was recorded and the gate refuses the revoked
// tokens, but Jellyfin did not end some of the user's sessions after every try
// (jellyfin_logout_failed says how many and why).
var ErrJellyfinLogout = errors.New("signed out at jfguard, but Jellyfin did not end every session")

// Logging out at Jellyfin is tried logoutAttempts times, logoutBackoff apart and
// doubling: enough to ride out a restart of Jellyfin's web server, short enough for
// an administrator's call to answer within seconds.
const (
	logoutAttempts = 3
	logoutBackoff  = 100 * time.Millisecond
)

// logoutRevoked ends a revocation at Jellyfin. jfguard's gate already refuses the
// revoked tokens (the projection marks them revoked); this ends them at Jellyfin too,
// for whoever can reach it directly. Tokens jfguard holds sealed are unsealed; with
// the admin key, every device Jellyfin lists for the user is logged out as well
// (sessions jfguard never saw: signed in at Jellyfin directly, or before jfguard),
// but the session the revocation keeps. What still fails after logoutAttempts tries
// is recorded (jellyfin_logout_failed) and returned.
func (s *Service) logoutRevoked(ctx context.Context, uid string, r domain.Revocation, ec events.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	plain, missing := s.unsealRevoked(ctx, uid, r.Tokens)
	var failed logoutFailure
	if s.d.Jellyfin.HasAdminKey() {
		devs, err := retryJellyfin(ctx, func() ([]upstream.DeviceSession, error) { return s.d.Jellyfin.Devices(ctx) })
		if err != nil {
			failed.add(0, err)
			failed.unlisted = true
		}
		plain = append(plain, userDeviceTokens(devs, uid, r.Keep, missing)...)
	}
	if len(missing) > 0 {
		failed.add(len(missing), errNotFoundAtJellyfin)
	}
	failed.add(s.logoutAll(ctx, slices.Compact(slices.Sorted(slices.Values(plain)))))
	return s.recordLogoutFailure(ctx, uid, r, ec, failed)
}

// errNotFoundAtJellyfin: a revoked token jfguard does not hold (or cannot unseal)
// was not among Jellyfin's devices, or they could not be listed, so it could not be
// logged out.
var errNotFoundAtJellyfin = errors.New("revoked tokens jfguard does not hold were not found among Jellyfin's devices (listing them needs the admin API key)")

// unsealRevoked opens the revoked tokens jfguard holds sealed; missing are the
// hashes of those it cannot (never held, or unreadable), to find at Jellyfin.
func (s *Service) unsealRevoked(ctx context.Context, uid string, tokens []domain.RevokedToken) (plain []string, missing map[string]bool) {
	missing = map[string]bool{}
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
	return plain, missing
}

// userDeviceTokens are the tokens of Jellyfin's devices to log out: every device
// whose user is uid (Jellyfin's user ids compared as GUIDs, with or without dashes)
// but the kept session, and the revoked tokens jfguard could not unseal (found ones
// are struck off missing).
func userDeviceTokens(devs []upstream.DeviceSession, uid, keep string, missing map[string]bool) []string {
	var out []string
	for _, d := range devs {
		if d.AccessToken == "" {
			continue
		}
		h := TokenHash(d.AccessToken)
		if missing[h] || (sameGUID(d.LastUserID, uid) && h != keep) {
			delete(missing, h)
			out = append(out, d.AccessToken)
		}
	}
	return out
}

// sameGUID compares two Jellyfin ids, which Jellyfin writes with or without dashes
// and in either case.
func sameGUID(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "")) }
	return a != "" && norm(a) == norm(b)
}

// logoutAll logs tokens out at Jellyfin, four at a time, each tried logoutAttempts
// times; it returns how many still failed and the last error.
func (s *Service) logoutAll(ctx context.Context, tokens []string) (int, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		n       int
		lastErr error
	)
	limit := make(chan struct{}, 4)
	for _, tok := range tokens {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			_, err := retryJellyfin(ctx, func() (struct{}, error) { return struct{}{}, s.d.Jellyfin.Logout(ctx, tok) })
			if err != nil {
				s.log.Warn("logout of a revoked token at Jellyfin failed", "attempts", logoutAttempts, "err", err)
				mu.Lock()
				n, lastErr = n+1, err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n, lastErr
}

// retryJellyfin calls Jellyfin up to logoutAttempts times, waiting logoutBackoff,
// then twice that, between tries.
func retryJellyfin[T any](ctx context.Context, call func() (T, error)) (T, error) {
	wait := logoutBackoff
	for attempt := 1; ; attempt++ {
		v, err := call()
		if err == nil || attempt == logoutAttempts {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// logoutFailure is what a revocation could not end at Jellyfin.
type logoutFailure struct {
	sessions int
	unlisted bool
	errs     []error
}

// add counts n more sessions left live, for err (none when err is nil).
func (f *logoutFailure) add(n int, err error) {
	if err != nil {
		f.sessions += n
		f.errs = append(f.errs, err)
	}
}

// text is the failure's errors, on one line.
func (f *logoutFailure) text() string {
	parts := make([]string, len(f.errs))
	for i, err := range f.errs {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

// recordLogoutFailure records jellyfin_logout_failed when a revocation left anything
// live at Jellyfin, so the administrator sees it on the timeline and in alerts, and
// returns the failure as an error wrapping ErrJellyfinLogout.
func (s *Service) recordLogoutFailure(ctx context.Context, uid string, r domain.Revocation, ec events.Context, f logoutFailure) error {
	if len(f.errs) == 0 {
		return nil
	}
	e := &events.JellyfinLogoutFailed{Reason: r.Reason, Sessions: f.sessions, DevicesUnlisted: f.unlisted, Attempts: logoutAttempts, Error: f.text()}
	if _, err := s.execUser(ctx, uid, ec, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{e}, nil
	}); err != nil {
		s.log.Error("cannot record a failed logout at Jellyfin", "err", err)
	}
	what := fmt.Sprintf("%d session(s) still live at Jellyfin", f.sessions)
	if f.unlisted {
		what = "Jellyfin's device list could not be read, so sessions jfguard never saw may be live; " + what
	}
	return fmt.Errorf("%w: %s after %d attempts (%v); revoke again, or sign the user's devices out in Jellyfin's dashboard",
		ErrJellyfinLogout, what, logoutAttempts, f.text())
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
	return r, s.logoutRevoked(ctx, a.UserID, r, a.context())
}
