package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/events/shared"
)

// Limits are the rate limits of the second-factor step.
type Limits struct {
	// VerifyPerIP attempts per VerifyIPWindow from one address (IPv6 by /64).
	VerifyPerIP    int
	VerifyIPWindow time.Duration
	// VerifyPerUser attempts per VerifyUserWindow for one user.
	VerifyPerUser    int
	VerifyUserWindow time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.VerifyPerIP <= 0 {
		l.VerifyPerIP = 10
	}
	if l.VerifyIPWindow <= 0 {
		l.VerifyIPWindow = time.Minute
	}
	if l.VerifyPerUser <= 0 {
		l.VerifyPerUser = 15
	}
	if l.VerifyUserWindow <= 0 {
		l.VerifyUserWindow = 15 * time.Minute
	}
	return l
}

// errLimitsUnavailable: the rate-limit buckets could not be read or written, so the
// attempt is refused. A limit that cannot count is no limit: every node would let
// through whatever it was asked.
var errLimitsUnavailable = errors.New("the rate limits cannot be reached")

// errAnsLimitsUnavailable answers an attempt refused because its limits could not be
// checked. It is the answer the sign-in gives whenever what lies below the gateway
// cannot be reached, and it depends on nothing of the address, the user or what is
// left of their budgets: a 429 would have to make up a Retry-After, and a client
// could not tell an outage from its own budget being spent.
var errAnsLimitsUnavailable = &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "Sign-in is unavailable right now. Try again in a moment.", RetryAfter: 30 * time.Second}

// limiters are token buckets by address block and by user, kept in the shared
// store's Limits bucket so that every node of a cluster spends from the same ones: N
// nodes give an attacker one node's budget, not N times it. A bucket holds up to N
// tokens and refills one token every window/N, so at most N attempts pass in any
// window plus what has refilled. Each limiters has its own namespace of keys: the
// same address has one budget for codes, another for email sends.
type limiters struct {
	name  string
	l     Limits
	store limitStore // nil: every attempt is refused
}

// newLimiters keeps the buckets of the limits l under the namespace name in store.
func newLimiters(name string, l Limits, store limitStore) *limiters {
	return &limiters{name: name, l: l, store: store}
}

// allow takes one token from the address bucket and, when userID is set, the
// user's; the user's is charged only when the address's let the attempt through,
// and a refused attempt spends neither. It returns how long to wait when refused,
// and an error (wrapping errLimitsUnavailable) when the buckets cannot be reached:
// the attempt is then refused too.
func (ls *limiters) allow(ctx context.Context, ipKey, userID string, now time.Time) (bool, time.Duration, error) {
	if ls.store == nil {
		return false, 0, fmt.Errorf("%w: no shared store", errLimitsUnavailable)
	}
	ipBucket := shared.Key(ls.name, "ip", ipKey)
	ok, wait, err := ls.store.Allow(ctx, ipBucket, ls.l.VerifyPerIP, ls.l.VerifyIPWindow, now)
	if err != nil {
		return false, 0, fmt.Errorf("%w: %s: %w", errLimitsUnavailable, ipBucket, err)
	}
	if !ok || userID == "" {
		return ok, wait, nil
	}
	ok, wait, err = ls.allowUser(ctx, userID, now)
	if !ok {
		// The address's token goes back: the attempt did not happen. When the
		// store failed, the refund may fail too, and the token stays spent.
		_ = ls.store.Refund(ctx, ipBucket, ls.l.VerifyPerIP, ls.l.VerifyIPWindow, now)
	}
	return ok, wait, err
}

// allowUser takes one token from the user's bucket only. It is for an attempt whose
// address was charged already, before anything proved the attempt is the user's.
func (ls *limiters) allowUser(ctx context.Context, userID string, now time.Time) (bool, time.Duration, error) {
	if ls.store == nil {
		return false, 0, fmt.Errorf("%w: no shared store", errLimitsUnavailable)
	}
	key := shared.Key(ls.name, "user", userID)
	ok, wait, err := ls.store.Allow(ctx, key, ls.l.VerifyPerUser, ls.l.VerifyUserWindow, now)
	if err != nil {
		return false, 0, fmt.Errorf("%w: %s: %w", errLimitsUnavailable, key, err)
	}
	return ok, wait, nil
}

// limitRefused answers an attempt allow or allowUser refused: over a limit, or its
// limits unreachable (logged; the answer does not say which bucket).
func (s *Server) limitRefused(c *gin.Context, wait time.Duration, err error) {
	if err != nil {
		s.log.Error("rate limits: refusing the attempt", "err", err)
		answer(c, errAnsLimitsUnavailable)
		return
	}
	s.fail(c, rateLimitedAnswer(wait))
}
