package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// wrongPasswords is n wrong passwords for the user, a minute apart, the last at last.
func wrongPasswords(n int, last time.Time) []events.Payload {
	out := make([]events.Payload, 0, n)
	for i := n - 1; i >= 0; i-- {
		out = append(out, at(last.Add(-time.Duration(i)*time.Minute), &events.PasswordRejected{}))
	}
	return out
}

func held(until time.Time, failures int) *events.PasswordStepHeld {
	return &events.PasswordStepHeld{Until: until, Failures: failures}
}

// TestDecidePasswordRejected: every wrong password is recorded; PasswordHoldAfter of
// them within the window hold the password step for PasswordHoldDuration.
func TestDecidePasswordRejected(t *testing.T) {
	t.Parallel()
	pol := DefaultPolicy() // 5 within 15 minutes hold for 15 minutes
	hold := held(fixedNow.Add(pol.PasswordHoldDuration), pol.PasswordHoldAfter)
	for _, tc := range []struct {
		name  string
		given []events.Payload
		pol   func(*Policy)
		then  []events.Payload
	}{
		{name: "first wrong password", given: discovered(), then: []events.Payload{&events.PasswordRejected{}}},
		{name: "below the hold", given: story(discovered(), wrongPasswords(3, fixedNow.Add(-time.Minute))), then: []events.Payload{&events.PasswordRejected{}}},
		{name: "reaching the hold", given: story(discovered(), wrongPasswords(4, fixedNow.Add(-time.Minute))), then: []events.Payload{&events.PasswordRejected{}, hold}},
		{
			name:  "wrong passwords older than the window do not count",
			given: story(discovered(), wrongPasswords(4, fixedNow.Add(-pol.PasswordHoldWindow))),
			then:  []events.Payload{&events.PasswordRejected{}},
		},
		{
			// A right password clears Jellyfin's count, not the window: five wrong
			// passwords in a quarter of an hour are guessing whatever came between.
			name:  "a right password in between does not clear the window",
			given: story(discovered(), wrongPasswords(2, fixedNow.Add(-3*time.Minute)), []events.Payload{&events.PasswordAccepted{Failures: 2}}, wrongPasswords(2, fixedNow.Add(-time.Minute))),
			then:  []events.Payload{&events.PasswordRejected{}, hold},
		},
		{
			name:  "after a hold the count starts afresh",
			given: story(discovered(), wrongPasswords(4, fixedNow.Add(-20*time.Minute)), []events.Payload{at(fixedNow.Add(-20*time.Minute), held(fixedNow.Add(-5*time.Minute), 5))}, wrongPasswords(3, fixedNow.Add(-time.Minute))),
			then:  []events.Payload{&events.PasswordRejected{}},
		},
		{
			name:  "held already: no second hold",
			given: story(discovered(), []events.Payload{held(fixedNow.Add(time.Minute), 5)}, wrongPasswords(6, fixedNow.Add(-time.Second))),
			then:  []events.Payload{&events.PasswordRejected{}},
		},
		{
			name:  "the hold follows the policy",
			given: story(discovered(), wrongPasswords(1, fixedNow.Add(-time.Minute))),
			pol:   func(p *Policy) { p.PasswordHoldAfter, p.PasswordHoldDuration = 2, time.Hour },
			then:  []events.Payload{&events.PasswordRejected{}, held(fixedNow.Add(time.Hour), 2)},
		},
		{
			name:  "zero never holds",
			given: story(discovered(), wrongPasswords(20, fixedNow.Add(-time.Second))),
			pol:   func(p *Policy) { p.PasswordHoldAfter = 0 },
			then:  []events.Payload{&events.PasswordRejected{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			p := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&p)
			}
			thenEvents(t, DecidePasswordRejected(u, p, fixedNow), tc.then...)
		})
	}
}

// TestDecidePasswordStep: no password that reaches Jellyfin through jfguard can be
// the one that disables the account. A held step is refused; with Jellyfin's count
// read, the count is reset first when one more wrong password would reach the limit;
// without it, jfguard stops after JellyfinLockout-1 wrong passwords in a row.
func TestDecidePasswordStep(t *testing.T) {
	t.Parallel()
	jf := func(failures, setting int) *JellyfinLockout {
		return &JellyfinLockout{Failures: failures, Setting: setting}
	}
	reset := func(failures, limit int) *events.JellyfinLoginFailuresReset {
		return &events.JellyfinLoginFailuresReset{Failures: failures, Limit: limit}
	}
	for _, tc := range []struct {
		name     string
		given    []events.Payload
		pol      func(*Policy)
		jellyfin *JellyfinLockout
		reset    *events.JellyfinLoginFailuresReset
		err      error
	}{
		{name: "nothing against it", given: discovered(), jellyfin: jf(0, 3)},
		{name: "held", given: story(discovered(), []events.Payload{held(fixedNow.Add(time.Minute), 5)}), jellyfin: jf(0, 3), err: &PasswordHeldError{Until: fixedNow.Add(time.Minute)}},
		{name: "a hold that ended", given: story(discovered(), []events.Payload{held(fixedNow, 5)}), jellyfin: jf(0, 3)},
		{name: "one more wrong password leaves the account enabled", given: discovered(), jellyfin: jf(1, 3)},
		{name: "one more wrong password would disable it: reset first", given: discovered(), jellyfin: jf(2, 3), reset: reset(2, 3)},
		{name: "over the limit already (failures made around jfguard)", given: discovered(), jellyfin: jf(7, 5), reset: reset(7, 5)},
		{name: "a lockout of one: every password needs a clear count", given: discovered(), jellyfin: jf(0, 1), reset: reset(0, 1)},
		{name: "the dashboard's 0 is stored as 3", given: discovered(), jellyfin: jf(2, 0), reset: reset(2, 3)},
		{name: "-1: Jellyfin never locks", given: discovered(), jellyfin: jf(40, -1)},
		{name: "disabled already: nothing left to protect", given: discovered(), jellyfin: &JellyfinLockout{Failures: 3, Setting: 3, Disabled: true}},
		{name: "held beats a reset", given: story(discovered(), []events.Payload{held(fixedNow.Add(time.Minute), 5)}), jellyfin: jf(2, 3), err: &PasswordHeldError{Until: fixedNow.Add(time.Minute)}},
		{name: "without the count: below the assumed lockout", given: story(discovered(), wrongPasswords(1, fixedNow.Add(-time.Minute)))},
		{name: "without the count: one more could lock", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-time.Minute))), err: ErrPasswordPaused},
		{
			// The pause does not end with time: Jellyfin's count does not either.
			name:  "without the count: a day later still paused",
			given: story(discovered(), wrongPasswords(2, fixedNow.Add(-24*time.Hour))),
			err:   ErrPasswordPaused,
		},
		{name: "without the count: a right password starts afresh", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-2*time.Minute)), []events.Payload{&events.PasswordAccepted{Failures: 2}}, wrongPasswords(1, fixedNow.Add(-time.Minute)))},
		{name: "without the count: a reset at Jellyfin starts afresh", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-2*time.Minute)), []events.Payload{&events.JellyfinLoginFailuresReset{Failures: 2, Limit: 3}})},
		{name: "without the count: an administrator released it", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-2*time.Minute)), []events.Payload{&events.PasswordHoldReleased{Reason: "checked at Jellyfin"}})},
		{name: "without the count: a user reset releases it", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-2*time.Minute)), []events.Payload{&events.UserReset{}})},
		{
			name:  "without the count: Jellyfin's lockout said to be off",
			given: story(discovered(), wrongPasswords(4, fixedNow.Add(-time.Minute))),
			pol:   func(p *Policy) { p.JellyfinLockout = 0 },
		},
		{
			name:  "without the count: an assumed lockout of 10",
			given: story(discovered(), wrongPasswords(8, fixedNow.Add(-time.Minute))),
			pol:   func(p *Policy) { p.JellyfinLockout, p.PasswordHoldAfter = 10, 0 },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := given(t, testUserID, tc.given...)
			p := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&p)
			}
			out, err := DecidePasswordStep(u, p, PasswordStep{Now: fixedNow, Jellyfin: tc.jellyfin})
			var wantHeld *PasswordHeldError
			if errors.As(tc.err, &wantHeld) {
				var got *PasswordHeldError
				if !errors.As(err, &got) || !got.Until.Equal(wantHeld.Until) {
					t.Fatalf("error %v; want held until %s", err, wantHeld.Until)
				}
			} else {
				thenErr(t, err, tc.err)
			}
			if !reflect.DeepEqual(out.Reset, tc.reset) {
				t.Errorf("reset %+v; want %+v", out.Reset, tc.reset)
			}
		})
	}
}

// TestDecidePasswordAccepted: a right password after wrong ones is recorded (Jellyfin
// cleared its count); after none there is nothing to record.
func TestDecidePasswordAccepted(t *testing.T) {
	t.Parallel()
	thenEvents(t, DecidePasswordAccepted(given(t, testUserID, discovered()...)))
	thenEvents(t, DecidePasswordAccepted(given(t, testUserID, story(discovered(), wrongPasswords(2, fixedNow.Add(-time.Minute)))...)),
		&events.PasswordAccepted{Failures: 2})
}

// TestDecidePasswordHoldReleased: an administrator releases a held or paused password
// step; there is nothing to release for a user with no wrong password or no history.
func TestDecidePasswordHoldReleased(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		given []events.Payload
		then  []events.Payload
		err   error
	}{
		{name: "held", given: story(discovered(), []events.Payload{held(fixedNow.Add(time.Minute), 5)}), then: []events.Payload{&events.PasswordHoldReleased{Reason: "ok"}}},
		{name: "paused", given: story(discovered(), wrongPasswords(2, fixedNow.Add(-time.Hour))), then: []events.Payload{&events.PasswordHoldReleased{Reason: "ok"}}},
		{name: "nothing to release", given: discovered(), err: ErrNotFound},
		{name: "unknown user", err: ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := DecidePasswordHoldReleased(given(t, testUserID, tc.given...), "ok", fixedNow)
			thenErr(t, err, tc.err)
			thenEvents(t, evs, tc.then...)
		})
	}
}

// TestEvolvePasswordGuard: the fold keeps the window, the count in a row and the hold,
// and a clone shares none of them.
func TestEvolvePasswordGuard(t *testing.T) {
	t.Parallel()
	u := given(t, testUserID, story(discovered(), wrongPasswords(3, fixedNow.Add(-time.Minute)))...)
	if len(u.Password.Failures) != 3 || u.Password.Consecutive != 3 || u.PasswordHeld(fixedNow) {
		t.Fatalf("after three wrong passwords: %+v", u.Password)
	}
	foldAt(t, u, fixedNow, DecidePasswordRejected(u, Policy{PasswordHoldAfter: 4, PasswordHoldWindow: time.Hour, PasswordHoldDuration: time.Hour}, fixedNow)...)
	if len(u.Password.Failures) != 0 || u.Password.Consecutive != 4 || !u.PasswordHeld(fixedNow) || u.PasswordHeld(fixedNow.Add(time.Hour)) {
		t.Fatalf("after the hold: %+v", u.Password)
	}
	c := u.Clone()
	c.Password.Failures = append(c.Password.Failures, fixedNow)
	c.Password.Consecutive = 0
	if len(u.Password.Failures) != 0 || u.Password.Consecutive != 4 {
		t.Errorf("changing the clone changed the original: %+v", u.Password)
	}
	fold(t, u, &events.PasswordAccepted{Failures: 4})
	if u.Password.Consecutive != 0 || !u.PasswordHeld(fixedNow) {
		t.Errorf("a right password ends the count, not the hold: %+v", u.Password)
	}
	fold(t, u, &events.PasswordHoldReleased{})
	if u.Password.Consecutive != 0 || u.PasswordHeld(fixedNow) {
		t.Errorf("after the release: %+v", u.Password)
	}
}

// TestCheckPasswordThrottle: at most PasswordFailuresPerIP failed sign-ins a minute
// from an address block, attempts under way counting as failures; a refusal says
// when a try will be allowed.
func TestCheckPasswordThrottle(t *testing.T) {
	t.Parallel()
	spread := func(n int, step time.Duration) []events.Payload {
		out := make([]events.Payload, 0, n)
		for i := n - 1; i >= 0; i-- {
			out = append(out, at(fixedNow.Add(-time.Duration(i+1)*step), &events.SignInFailed{Username: "x", Reason: "bad_password"}))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		given    []events.Payload
		inFlight int
		pol      func(*Policy)
		until    time.Time // zero: allowed
	}{
		{name: "a fresh address"},
		{name: "below the limit", given: spread(9, time.Second)},
		{name: "at the limit", given: spread(10, time.Second), until: fixedNow.Add(-10*time.Second + time.Minute)},
		{name: "failures older than a minute do not count", given: spread(10, 6*time.Second+time.Millisecond)},
		{name: "attempts under way count", given: spread(8, time.Second), inFlight: 2, until: fixedNow.Add(-8*time.Second + time.Minute)},
		{name: "attempts under way alone", inFlight: 10, until: fixedNow.Add(time.Second)},
		{name: "well over: wait for enough to leave", given: spread(12, time.Second), until: fixedNow.Add(-10*time.Second + time.Minute)},
		{name: "zero: no limit", given: spread(100, time.Millisecond), pol: func(p *Policy) { p.PasswordFailuresPerIP = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := givenAddress(t, attackerIP, tc.given...)
			p := DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&p)
			}
			err := CheckPasswordThrottle(a, p, tc.inFlight, fixedNow)
			var th *ThrottledError
			switch {
			case tc.until.IsZero() && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.until.IsZero() && (!errors.As(err, &th) || !th.Until.Equal(tc.until)):
				t.Fatalf("error %v; want throttled until %s", err, tc.until)
			}
		})
	}
	if err := CheckPasswordThrottle(nil, DefaultPolicy(), 0, fixedNow); err != nil {
		t.Errorf("an address never seen: %v", err)
	}
}
