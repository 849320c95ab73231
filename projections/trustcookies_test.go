package projections_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// fold applies payloads of one user to st as the stream would deliver them.
func fold(t *testing.T, st *projections.State, userID string, at time.Time, payloads ...events.Payload) {
	t.Helper()
	for _, p := range payloads {
		ev, err := events.New(userID, at, events.Context{}, p)
		if err != nil {
			t.Fatal(err)
		}
		ev.Seq = st.LastSeq + 1
		st.Apply(ev)
	}
}

func indexed(st *projections.State) []string {
	return slices.Sorted(maps.Keys(st.TrustCookies))
}

// TestTrustCookieIndex: every secret a browser holds or held finds the browser in
// one lookup, and leaves the index with the browser, however the browser goes.
func TestTrustCookieIndex(t *testing.T) {
	const alice, bob = "0000000000000000000000000000000a", "0000000000000000000000000000000b"
	expires := t0.Add(30 * 24 * time.Hour)
	trusted := func(browser, hash string) *events.BrowserTrusted {
		return &events.BrowserTrusted{BrowserID: browser, DeviceID: "dev", ExpiresAt: expires, SecretHash: hash}
	}
	used := func(browser, hash string) *events.TrustedBrowserUsed {
		return &events.TrustedBrowserUsed{BrowserID: browser, ExpiresAt: expires, SecretHash: hash}
	}

	st := projections.NewState()
	fold(t, st, alice, t0, &events.UserDiscovered{Name: "alice"}, trusted("a1", "h0"), used("a1", "h1"), used("a1", "h2"), trusted("a2", "k0"))
	fold(t, st, bob, t0, &events.UserDiscovered{Name: "bob"}, trusted("b1", "j0"))
	if got, want := indexed(st), []string{"h0", "h1", "h2", "j0", "k0"}; !slices.Equal(got, want) {
		t.Fatalf("index %v; want %v", got, want)
	}
	for hash, want := range map[string]projections.TrustCookieRef{
		"h0": {UserID: alice, BrowserID: "a1"}, // replaced: still found, to recognise a replay
		"h2": {UserID: alice, BrowserID: "a1"},
		"j0": {UserID: bob, BrowserID: "b1"},
	} {
		if got, ok := st.TrustCookie(hash); !ok || got != want {
			t.Errorf("TrustCookie(%s) = %+v, %v; want %+v", hash, got, ok, want)
		}
	}

	fold(t, st, alice, t0, &events.BrowserTrustRevoked{BrowserID: "a1"})
	if got, want := indexed(st), []string{"j0", "k0"}; !slices.Equal(got, want) {
		t.Fatalf("after revoking a1: index %v; want %v", got, want)
	}
	fold(t, st, alice, t0, &events.UserReset{})
	if got, want := indexed(st), []string{"j0"}; !slices.Equal(got, want) {
		t.Fatalf("after resetting alice: index %v; want %v", got, want)
	}

	// A browser remembers only so many replaced secrets; the index follows.
	for n := range domain.RetiredSecretsKept + 2 {
		fold(t, st, bob, t0, used("b1", "j"+string(rune('A'+n))))
	}
	if got := len(st.TrustCookies); got != domain.RetiredSecretsKept+1 {
		t.Errorf("bob's browser has %d indexed secrets; want %d", got, domain.RetiredSecretsKept+1)
	}
	if _, ok := st.TrustCookie("j0"); ok {
		t.Error("a secret the browser no longer remembers is still indexed")
	}

	// Expired browsers are pruned a day after their expiry, hashes with them.
	fold(t, st, bob, expires.Add(25*time.Hour), &events.UserProfileChanged{Name: "bob"})
	if len(st.TrustCookies) != 0 {
		t.Errorf("after the browser expired: index %v", indexed(st))
	}
}
