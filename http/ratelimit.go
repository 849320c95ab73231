package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// limiters holds token buckets by key. A bucket holds up to N tokens and refills
// one token every window/N, so at most N attempts pass in any window plus what has
// refilled. Idle buckets are dropped.
type limiters struct {
	l      Limits
	mu     sync.Mutex
	byIP   map[string]*bucket
	byUser map[string]*bucket
	sweep  time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiters(l Limits) *limiters {
	return &limiters{l: l, byIP: map[string]*bucket{}, byUser: map[string]*bucket{}}
}

// allow takes one token from the address bucket and, when userID is set, the user's.
// It returns how long to wait when refused.
func (ls *limiters) allow(ipKey, userID string, now time.Time) (bool, time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if now.Sub(ls.sweep) > time.Minute {
		ls.dropIdle(now)
	}
	ipB := ls.get(ls.byIP, ipKey, ls.l.VerifyPerIP, ls.l.VerifyIPWindow, now)
	var userB *bucket
	if userID != "" {
		userB = ls.get(ls.byUser, userID, ls.l.VerifyPerUser, ls.l.VerifyUserWindow, now)
	}
	ipR := ipB.lim.ReserveN(now, 1)
	if d := ipR.DelayFrom(now); d > 0 {
		ipR.CancelAt(now)
		return false, d
	}
	if userB != nil {
		uR := userB.lim.ReserveN(now, 1)
		if d := uR.DelayFrom(now); d > 0 {
			uR.CancelAt(now)
			ipR.CancelAt(now)
			return false, d
		}
	}
	return true, 0
}

// allowUser takes one token from the user's bucket only. It is for an attempt whose
// address was charged already, before anything proved the attempt is the user's.
func (ls *limiters) allowUser(userID string, now time.Time) (bool, time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	b := ls.get(ls.byUser, userID, ls.l.VerifyPerUser, ls.l.VerifyUserWindow, now)
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (ls *limiters) get(m map[string]*bucket, key string, n int, window time.Duration, now time.Time) *bucket {
	b := m[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Every(window/time.Duration(n)), n)}
		m[key] = b
	}
	b.last = now
	return b
}

func (ls *limiters) dropIdle(now time.Time) {
	ls.sweep = now
	for k, b := range ls.byIP {
		if now.Sub(b.last) > ls.l.VerifyIPWindow {
			delete(ls.byIP, k)
		}
	}
	for k, b := range ls.byUser {
		if now.Sub(b.last) > ls.l.VerifyUserWindow {
			delete(ls.byUser, k)
		}
	}
}
