package usecase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// The password step before Jellyfin sees a password (domain/password.go says why):
// the address block's throttle, then for a name that names a Jellyfin user that
// user's turn, hold, and guard against Jellyfin's lockout. The decisions are the
// domain's; this file holds what they need from the outside: the attempts under way,
// one turn per user, Jellyfin's user list and the user's policy at Jellyfin.

// ErrLockoutGuard: Jellyfin's count for the user could not be set back to zero, so a
// wrong password might disable the account; the password is not forwarded.
var ErrLockoutGuard = errors.New("could not reset the user's count of failed sign-ins at Jellyfin")

// ErrTurns: the password step's turns could not be taken or counted, so the password
// is not forwarded. Without them the step could not keep one password at a time per
// user at Jellyfin, nor count the attempts under way against the throttle.
var ErrTurns = errors.New("the password step's turns cannot be reached")

// Turns are the password step's leases, which every node of a cluster sees the same:
// one turn per user, so one password at a time per user reaches Jellyfin and the
// count read before forwarding is the count that password meets, on whichever node
// it came in; and one lease per attempt under way, which the address block's
// throttle counts as failures until they end.
type Turns interface {
	// Acquire waits, as long as ctx allows, until it holds key, and returns the
	// function that gives it back.
	Acquire(ctx context.Context, key string) (release func(), err error)
	// Enter records one attempt under way under key and returns how many others
	// are under way there, and the function that takes it out.
	Enter(ctx context.Context, key string) (others int, leave func(), err error)
}

// turnWait bounds how long a password waits for its user's turn.
const turnWait = 10 * time.Second

// turnKey is the lease of a user's turn.
func turnKey(uid string) string { return shared.Key("turn", uid) }

// flightKey is where an address block's attempts under way are recorded.
func flightKey(block string) string { return shared.Key("flight", block) }

// PasswordAttempt is one password on its way through the password step: begun by
// BeginPassword, finished by Rejected (when Jellyfin refused it) and End.
type PasswordAttempt struct {
	s       *Service
	caller  Caller
	name    string
	uid     string // the user the password is for; "" when it names none
	release []func()
}

// BeginPassword runs what comes before Jellyfin sees a password: the address
// block's throttle, then, when guardUser is set and the name (or the id in the path
// of /Users/{id}/Authenticate) names a Jellyfin user, the user's turn, hold and
// lockout guard. App passwords pass the throttle only: Jellyfin never checks them.
// The error is a *domain.ThrottledError, a *domain.PasswordHeldError,
// domain.ErrPasswordPaused, ErrLockoutGuard, ErrTurns or the context's; on success
// the attempt must be ended.
func (s *Service) BeginPassword(ctx context.Context, caller Caller, name, pathUserID string, guardUser bool) (*PasswordAttempt, error) {
	a := &PasswordAttempt{s: s, caller: caller, name: name}
	if err := a.throttle(ctx); err != nil {
		return nil, err
	}
	if !guardUser {
		return a, nil
	}
	uid, err := s.passwordUser(ctx, name, pathUserID)
	if err != nil || uid == "" {
		// No Jellyfin account to protect, or none jfguard could find: Jellyfin
		// judges the name, the throttle still counts the attempt.
		return a, nil
	}
	a.uid = uid
	// A turn is held for one password's trip to Jellyfin; one held longer than
	// turnWait belongs to a node that died with it (the Turns bucket frees it within
	// a minute). The password is refused then, rather than left hanging.
	turnCtx, cancel := context.WithTimeout(ctx, turnWait)
	done, err := s.d.Turns.Acquire(turnCtx, turnKey(uid))
	cancel()
	if err != nil {
		a.End()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Error("password step: cannot take the user's turn; refusing the password", "user", uid, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrTurns, err)
	}
	a.release = append(a.release, done)
	if err := a.guard(ctx); err != nil {
		a.End()
		return nil, err
	}
	return a, nil
}

// throttle takes a place among the address block's attempts under way, unless the
// block already failed too often. Taking the place and counting the others is one
// conditional write, so of attempts sent at once, on one node or several, each
// counts those before it: together they cannot overshoot the limit.
func (a *PasswordAttempt) throttle(ctx context.Context) error {
	s := a.s
	key := s.AddressKey(a.caller.IP)
	if key == "" {
		return nil
	}
	others, leave, err := s.d.Turns.Enter(ctx, flightKey(key))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Error("password step: cannot record the attempt among those under way; refusing the password", "ip", key, "err", err)
		return fmt.Errorf("%w: %w", ErrTurns, err)
	}
	a.release = append(a.release, leave)
	pol, now := s.Policy(), s.now()
	s.read(func(st *projections.State) {
		err = domain.CheckPasswordThrottle(st.Addresses[key], pol, others, now)
	})
	if err != nil {
		a.End()
		return err
	}
	return nil
}

// noTurns are the turns of a Service built without any (no shared store): every
// password is refused, as when the shared store cannot be reached.
type noTurns struct{}

var errNoTurns = errors.New("no shared store")

func (noTurns) Acquire(context.Context, string) (func(), error)    { return nil, errNoTurns }
func (noTurns) Enter(context.Context, string) (int, func(), error) { return 0, nil, errNoTurns }

// guard decides, on the user's turn, whether the password may reach Jellyfin, and
// resets Jellyfin's count first when the decision says so.
func (a *PasswordAttempt) guard(ctx context.Context) error {
	s := a.s
	u := s.user(a.uid)
	if u == nil {
		return nil
	}
	now := s.now()
	if u.PasswordHeld(now) {
		return &domain.PasswordHeldError{Until: u.Password.HeldUntil}
	}
	step := domain.PasswordStep{Now: now}
	var policy json.RawMessage
	if s.d.Jellyfin.HasAdminKey() {
		var err error
		var lockout domain.JellyfinLockout
		policy, lockout, err = s.jellyfinLockout(ctx, a.uid)
		var se *upstream.StatusError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			return nil // no such user at Jellyfin any more: nothing to lock
		case err != nil:
			// Without the count, jfguard goes by its own (the fallback of a server
			// without an admin key).
			s.log.Warn("password step: cannot read the user's policy at Jellyfin; counting wrong passwords in a row instead", "user", u.Name, "err", err)
		default:
			step.Jellyfin = &lockout
		}
	}
	out, err := domain.DecidePasswordStep(u, s.Policy(), step)
	if err != nil || out.Reset == nil {
		return err
	}
	if err := s.resetJellyfinCount(ctx, a.uid, policy); err != nil {
		s.log.Error("password step: cannot reset the user's count of failed sign-ins at Jellyfin; refusing the password", "user", u.Name, "err", err)
		return ErrLockoutGuard
	}
	if _, err := s.execUser(ctx, a.uid, events.Context{Actor: "jfguard", IP: a.caller.IPString()}, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{out.Reset}, nil
	}); err != nil {
		s.log.Error("record the reset of a count of failed sign-ins", "user", u.Name, "err", err)
	}
	s.log.Info("reset a user's count of failed sign-ins at Jellyfin before forwarding a password", "user", u.Name, "failures", out.Reset.Failures, "limit", out.Reset.Limit)
	return nil
}

// Rejected records a password Jellyfin refused: against the address block (for the
// throttle and bans) and, for a user, against the user (for the hold).
func (a *PasswordAttempt) Rejected(ctx context.Context, reason string) {
	s := a.s
	s.RecordSignInFailed(ctx, a.caller, a.name, reason)
	if a.uid == "" {
		return
	}
	pol := s.Policy()
	var held *events.PasswordStepHeld
	// Whoever typed the password is unknown: the event names the address, no actor.
	_, err := s.execUser(ctx, a.uid, events.Context{IP: a.caller.IPString()}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs := domain.DecidePasswordRejected(u, pol, now)
		held = nil
		for _, e := range evs {
			if h, ok := e.(*events.PasswordStepHeld); ok {
				held = h
			}
		}
		return evs, nil
	})
	switch {
	case err != nil:
		s.log.Error("record a wrong password", "err", err)
	case held != nil:
		s.log.Warn("too many wrong passwords: holding the user's password step", "user", a.name, "until", held.Until, "ip", a.caller.IPString())
	}
}

// End gives back the attempt's place and the user's turn.
func (a *PasswordAttempt) End() {
	for i := len(a.release) - 1; i >= 0; i-- {
		a.release[i]()
	}
	a.release = nil
}

// RecordSignInFailed counts a failed sign-in against the address's block (for bans);
// the event keeps the address itself.
func (s *Service) RecordSignInFailed(ctx context.Context, caller Caller, username, reason string) {
	if !caller.IP.IsValid() {
		return
	}
	id := s.AddressKey(caller.IP)
	pol := s.Policy()
	ec := events.Context{IP: caller.IPString()}
	if len(username) > 128 {
		username = username[:128]
	}
	_, err := s.execAddress(ctx, id, ec, func(a *domain.Address, now time.Time) ([]events.Payload, error) {
		return domain.DecideSignInFailed(a, pol, username, reason, now), nil
	})
	if err != nil {
		s.log.Error("record failed sign-in", "err", err)
	}
}

// passwordUser finds the Jellyfin user a password is for: by the id in the path, or
// by name (ignoring case, as Jellyfin does), among the users jfguard knows, else in
// Jellyfin's user list, recording the user so their count survives. It returns ""
// when the password names no user it can find.
func (s *Service) passwordUser(ctx context.Context, name, pathUserID string) (string, error) {
	var uid string
	s.read(func(st *projections.State) {
		if pathUserID != "" {
			if u := st.Users[pathUserID]; u.Known() {
				uid = u.ID
			}
			return
		}
		if u := st.UserByName(name); u.Known() {
			uid = u.ID
		}
	})
	if uid != "" || (pathUserID == "" && strings.TrimSpace(name) == "") {
		return uid, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ju, ok, err := s.directory.find(ctx, name, pathUserID)
	if err != nil {
		s.log.Warn("password step: cannot list Jellyfin's users; the user's own count cannot be kept", "err", err)
		return "", err
	}
	if !ok || !events.ValidAggregateID(ju.ID) {
		return "", nil
	}
	_, err = s.execUser(ctx, ju.ID, events.Context{Actor: "jfguard"}, func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		return domain.DecideDiscovered(u, ju.Name, ju.Policy.IsAdministrator), nil
	})
	return ju.ID, err
}

// jellyfinLockout reads the user's policy at Jellyfin, and the lockout state in it.
func (s *Service) jellyfinLockout(ctx context.Context, uid string) (json.RawMessage, domain.JellyfinLockout, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := s.d.Jellyfin.UserPolicy(ctx, uid)
	if err != nil {
		return nil, domain.JellyfinLockout{}, err
	}
	var p struct {
		InvalidLoginAttemptCount   int  `json:"InvalidLoginAttemptCount"`
		LoginAttemptsBeforeLockout int  `json:"LoginAttemptsBeforeLockout"`
		IsDisabled                 bool `json:"IsDisabled"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, domain.JellyfinLockout{}, fmt.Errorf("the user's policy at Jellyfin: %w", err)
	}
	return raw, domain.JellyfinLockout{Failures: p.InvalidLoginAttemptCount, Setting: p.LoginAttemptsBeforeLockout, Disabled: p.IsDisabled}, nil
}

// resetJellyfinCount posts the user's policy back with InvalidLoginAttemptCount 0
// and every other field as Jellyfin gave it.
func (s *Service) resetJellyfinCount(ctx context.Context, uid string, policy json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(policy, &fields); err != nil {
		return err
	}
	for k := range fields {
		if strings.EqualFold(k, "InvalidLoginAttemptCount") {
			delete(fields, k)
		}
	}
	fields["InvalidLoginAttemptCount"] = json.RawMessage("0")
	body, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.d.Jellyfin.SetUserPolicy(ctx, uid, body)
}

// directoryTTL is how long jfguard trusts its copy of Jellyfin's user list for names
// it does not find: names an attacker makes up cost Jellyfin one listing per
// interval, however many there are.
const directoryTTL = 30 * time.Second

// userDirectory finds Jellyfin users jfguard has not met yet, for the password step.
type userDirectory struct {
	jf      Jellyfin
	now     func() time.Time
	mu      sync.Mutex
	users   []upstream.User
	fetched time.Time
}

// find looks a user up by id (when given) or by name, listing Jellyfin's users again
// on a miss at most once per directoryTTL.
func (d *userDirectory) find(ctx context.Context, name, id string) (upstream.User, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u, ok := d.lookup(name, id); ok {
		return u, true, nil
	}
	if !d.fetched.IsZero() && d.now().Sub(d.fetched) < directoryTTL {
		return upstream.User{}, false, nil
	}
	users, err := d.jf.Users(ctx)
	d.fetched = d.now()
	if err != nil {
		return upstream.User{}, false, err
	}
	d.users = users
	u, ok := d.lookup(name, id)
	return u, ok, nil
}

func (d *userDirectory) lookup(name, id string) (upstream.User, bool) {
	for _, u := range d.users {
		if (id != "" && strings.EqualFold(u.ID, id)) || (id == "" && strings.EqualFold(u.Name, name)) {
			return u, true
		}
	}
	return upstream.User{}, false
}
