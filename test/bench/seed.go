package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SeedStart is the time of the first seeded event; event i happens i×10 ms later. It
// is when the benchmarks start, as for events jfguard writes: the fold refuses an
// authentic event stored long after its own time as a replay.
var SeedStart = time.Now().UTC().Truncate(time.Second)

// Seed publishes n events of a realistic sign-in mix (users discovered, enrollments,
// challenges, verified sessions, revocations, failed sign-ins from addresses) as fast
// as JetStream takes them, for benchmarks that need a big stream. With auth, each
// carries its MAC, as jfguard writes them.
func Seed(ctx context.Context, js jetstream.JetStream, n int, users int, auth *events.Authenticator) error {
	start := SeedStart
	pending := 0
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("%032x", i%users+1)
		now := start.Add(time.Duration(i) * 10 * time.Millisecond)
		var p events.Payload
		agg := uid
		k := i / users
		switch {
		case k == 0:
			p = &events.UserDiscovered{Name: fmt.Sprintf("user%d", i%users)}
		case k == 1:
			p = &events.TOTPEnrollmentStarted{Secret: events.Sealed("v1.0123456789ab.c2VhbGVkIHNlY3JldCBieXRlcyBmb3IgYmVuY2htYXJr")}
		case k == 2:
			p = &events.TOTPEnrolled{Step: int64(i)}
		default:
			// One sign-in is five consecutive events of one user: challenged,
			// verified, session, signed out, and a failed sign-in elsewhere.
			uid = fmt.Sprintf("%032x", (i/5)%users+1)
			agg = uid
			th := fmt.Sprintf("%064x", i/5)
			switch i % 5 {
			case 0:
				p = &events.ChallengeIssued{ChallengeID: fmt.Sprintf("c%d", i/5), TokenHash: th, Token: "v1.0123456789ab.dG9rZW4gYnl0ZXM", Methods: []string{"totp", "recovery"}, ExpiresAt: now.Add(5 * time.Minute)}
			case 1:
				p = &events.FactorVerified{ChallengeID: fmt.Sprintf("c%d", i/5), Method: "totp", TOTPStep: int64(i)}
			case 2:
				p = &events.SessionVerified{TokenHash: th, Reason: "challenge", ChallengeID: fmt.Sprintf("c%d", i/5), Assurance: "aal2"}
			case 3:
				p = &events.SessionRevoked{TokenHash: th, Reason: "signed_out"}
			case 4:
				agg = events.IPAggregateID(fmt.Sprintf("203.0.%d.%d", (i/256)%256, i%256))
				p = &events.SignInFailed{Username: "someone", Reason: "bad_password"}
			}
		}
		ev, err := events.New(agg, now, events.Context{Actor: uid, IP: "203.0.113.7", Device: &events.Device{ID: "dev", Name: "Chrome", Client: "Jellyfin Web", Version: "12.0.0"}}, p)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(ev)
		m := nats.NewMsg(ev.PublishSubject())
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		if auth != nil {
			m.Header.Set(events.MACHeader, auth.Sign(data))
		}
		if _, err := js.PublishMsgAsync(m); err != nil {
			return err
		}
		pending++
		if pending >= 4000 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
			pending = 0
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
