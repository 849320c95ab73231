package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/http/clientaddr"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// The password step before Jellyfin sees a password (domain/password.go says why):
// the address block's throttle, then for a name that names a Jellyfin user that
// user's turn, hold, and guard against Jellyfin's lockout. The decisions are the
// domain's; this file holds what they need from the outside: the attempts under way,
// one turn per user, Jellyfin's user list and the user's policy at Jellyfin.

// errLockoutGuard: Jellyfin's count for the user could not be set back to zero, so a
// wrong password might disable the account; the password is not forwarded.
var errLockoutGuard = errors.New("could not reset the user's count of failed sign-ins at Jellyfin")

// passwordGuard holds the password step's state in this node's memory: the attempts
// under way per address block, which the throttle counts as failures until they end,
// and one turn per user, so one password at a time per user reaches Jellyfin and the
// count read before forwarding is the count that password meets.
type passwordGuard struct {
	mu       sync.Mutex
	inFlight map[string]int
	turns    map[string]*userTurn
}

// userTurn is a user's turn: a one-slot channel, and how many attempts hold or wait
// for it (the entry goes when none does).
type userTurn struct {
	slot  chan struct{}
	users int
}

func newPasswordGuard() *passwordGuard {
	return &passwordGuard{inFlight: map[string]int{}, turns: map[string]*userTurn{}}
}

// take waits for the user's turn, as long as ctx allows, and returns its release.
func (g *passwordGuard) take(ctx context.Context, uid string) (func(), error) {
	g.mu.Lock()
	t := g.turns[uid]
	if t == nil {
		t = &userTurn{slot: make(chan struct{}, 1)}
		g.turns[uid] = t
	}
	t.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if t.users--; t.users == 0 {
			delete(g.turns, uid)
		}
		g.mu.Unlock()
	}
	select {
	case t.slot <- struct{}{}:
		return func() { <-t.slot; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// passwordAttempt is one password on its way through the password step: begun by
// beginPassword, finished by rejected (when Jellyfin refused it) and end.
type passwordAttempt struct {
	s       *Server
	addr    clientaddr.ClientAddr
	name    string
	uid     string // the user the password is for; "" when it names none
	release []func()
}

// beginPassword runs what comes before Jellyfin sees a password: the address
// block's throttle, then, when guardUser is set and the name (or the id in the path
// of /Users/{id}/Authenticate) names a Jellyfin user, the user's turn, hold and
// lockout guard. App passwords pass the throttle only: Jellyfin never checks them.
// The error is one passwordRefused answers; on success the attempt must be ended.
func (s *Server) beginPassword(ctx context.Context, addr clientaddr.ClientAddr, name, pathUserID string, guardUser bool) (*passwordAttempt, error) {
	a := &passwordAttempt{s: s, addr: addr, name: name}
	if err := a.throttle(); err != nil {
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
	done, err := s.passwords.take(ctx, uid)
	if err != nil {
		a.end()
		return nil, err
	}
	a.release = append(a.release, done)
	if err := a.guard(ctx); err != nil {
		a.end()
		return nil, err
	}
	return a, nil
}

// throttle takes a place among the address block's attempts under way, unless the
// block already failed too often.
func (a *passwordAttempt) throttle() error {
	s := a.s
	key := s.addressKey(a.addr.IP)
	if key == "" {
		return nil
	}
	pol, now := s.Policy(), s.now()
	g := s.passwords
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	s.read(func(st *projections.State) {
		err = domain.CheckPasswordThrottle(st.Addresses[key], pol, g.inFlight[key], now)
	})
	if err != nil {
		return err
	}
	g.inFlight[key]++
	a.release = append(a.release, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.inFlight[key]--; g.inFlight[key] <= 0 {
			delete(g.inFlight, key)
		}
	})
	return nil
}

// guard decides, on the user's turn, whether the password may reach Jellyfin, and
// resets Jellyfin's count first when the decision says so.
func (a *passwordAttempt) guard(ctx context.Context) error {
	s := a.s
	u := s.userClone(a.uid)
	if u == nil {
		return nil
	}
	now := s.now()
	if u.PasswordHeld(now) {
		return &domain.PasswordHeldError{Until: u.Password.HeldUntil}
	}
	step := domain.PasswordStep{Now: now}
	var policy json.RawMessage
	if s.jf.HasAdminKey() {
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
		return errLockoutGuard
	}
	if _, err := s.opts.Projector.ExecUser(ctx, a.uid, events.Context{Actor: "jfguard", IP: addrString(a.addr)}, func(*domain.User, time.Time) ([]events.Payload, error) {
		return []events.Payload{out.Reset}, nil
	}); err != nil {
		s.log.Error("record the reset of a count of failed sign-ins", "user", u.Name, "err", err)
	}
	s.log.Info("reset a user's count of failed sign-ins at Jellyfin before forwarding a password", "user", u.Name, "failures", out.Reset.Failures, "limit", out.Reset.Limit)
	return nil
}

// rejected records a password Jellyfin refused: against the address block (for the
// throttle and bans) and, for a user, against the user (for the hold).
func (a *passwordAttempt) rejected(ctx context.Context, reason string) {
	s := a.s
	s.recordSignInFailed(ctx, a.addr, a.name, reason)
	if a.uid == "" {
		return
	}
	pol := s.Policy()
	var held *events.PasswordStepHeld
	// Whoever typed the password is unknown: the event names the address, no actor.
	_, err := s.opts.Projector.ExecUser(ctx, a.uid, events.Context{IP: addrString(a.addr)}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
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
		s.log.Warn("too many wrong passwords: holding the user's password step", "user", a.name, "until", held.Until, "ip", addrString(a.addr))
	}
}

// end gives back the attempt's place and the user's turn.
func (a *passwordAttempt) end() {
	for i := len(a.release) - 1; i >= 0; i-- {
		a.release[i]()
	}
	a.release = nil
}

// passwordUser finds the Jellyfin user a password is for: by the id in the path, or
// by name (ignoring case, as Jellyfin does), among the users jfguard knows, else in
// Jellyfin's user list, recording the user so their count survives. It returns ""
// when the password names no user it can find.
func (s *Server) passwordUser(ctx context.Context, name, pathUserID string) (string, error) {
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
	_, err = s.opts.Projector.ExecUser(ctx, ju.ID, events.Context{Actor: "jfguard"}, func(u *domain.User, _ time.Time) ([]events.Payload, error) {
		if u.Known() {
			return nil, nil
		}
		return []events.Payload{&events.UserDiscovered{Name: ju.Name, Admin: ju.Policy.IsAdministrator}}, nil
	})
	return ju.ID, err
}

// jellyfinLockout reads the user's policy at Jellyfin, and the lockout state in it.
func (s *Server) jellyfinLockout(ctx context.Context, uid string) (json.RawMessage, domain.JellyfinLockout, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := s.jf.UserPolicy(ctx, uid)
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
func (s *Server) resetJellyfinCount(ctx context.Context, uid string, policy json.RawMessage) error {
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
	return s.jf.SetUserPolicy(ctx, uid, body)
}

// directoryTTL is how long jfguard trusts its copy of Jellyfin's user list for names
// it does not find: names an attacker makes up cost Jellyfin one listing per
// interval, however many there are.
const directoryTTL = 30 * time.Second

// userDirectory finds Jellyfin users jfguard has not met yet, for the password step.
type userDirectory struct {
	jf      *upstream.Client
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

// pathUserID is the user id of /Users/{id}/Authenticate, the older way to sign in
// with a password, written as Jellyfin writes ids (32 lower-case hex digits); "" for
// any other path, or an id that is not a GUID.
func pathUserID(p string) string {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	n := len(parts)
	if n < 3 || !strings.EqualFold(parts[n-1], "Authenticate") || !strings.EqualFold(parts[n-3], "Users") {
		return ""
	}
	id := strings.ToLower(strings.ReplaceAll(parts[n-2], "-", ""))
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return ""
	}
	return id
}

// passwordRefused answers a password the password step did not forward. The gate's
// routes answer in the gate's refusal shape ({"jfguard":{"error"}}), jfguard's own API
// in its own ({"error","message"}).
func (s *Server) passwordRefused(c *gin.Context, err error, gate bool) {
	status, code, msg, wait := http.StatusServiceUnavailable, "unavailable", "Sign-in is unavailable right now. Try again in a moment.", time.Duration(0)
	var throttled *domain.ThrottledError
	var held *domain.PasswordHeldError
	switch {
	case errors.As(err, &throttled):
		wait = throttled.Until.Sub(s.now())
		status, code, msg = http.StatusTooManyRequests, "rate_limited", "Too many failed sign-ins from your network. Try again in a minute."
		s.metrics.signIns.WithLabelValues("throttled").Inc()
	case errors.As(err, &held):
		wait = held.Until.Sub(s.now())
		status, code = http.StatusTooManyRequests, "password_held"
		msg = fmt.Sprintf("Too many wrong passwords for this user name: signing in with its password is paused. Try again in %s.", minutes(wait))
		s.metrics.signIns.WithLabelValues("password_held").Inc()
	case errors.Is(err, domain.ErrPasswordPaused):
		status, code = http.StatusTooManyRequests, "password_paused"
		msg = "Too many wrong passwords for this user name: signing in with its password is paused until an administrator releases it. Sign in another way (a passkey, an app password or Quick Connect), or ask your administrator."
		s.metrics.signIns.WithLabelValues("password_paused").Inc()
	case errors.Is(err, errLockoutGuard):
		wait = 30 * time.Second
		msg = "Signing in with a password is unavailable for this user name right now: jfguard could not make sure another wrong password will not lock the account. Try again in a moment."
		s.metrics.signIns.WithLabelValues("lockout_guard_failed").Inc()
	}
	if wait > 0 {
		c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
	}
	if gate {
		s.refuse(c, status, msg)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, gin.H{"error": code, "message": msg})
}

// minutes says a wait in whole minutes, at least one.
func minutes(d time.Duration) string {
	n := max(int(math.Ceil(d.Minutes())), 1)
	if n == 1 {
		return "a minute"
	}
	return strconv.Itoa(n) + " minutes"
}
