package usecase_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/nats-io/nats.go/jetstream"
)

// The password step on two nodes of a cluster: two use-case services on one
// JetStream, each with its own handle on the shared buckets, as two jfguard nodes
// behind a load balancer have.

// TestPasswordTurnIsOneAtATimeAcrossNodes: while a password for alice is at Jellyfin
// through one node, a password for her through the other node waits for the turn,
// and gets it once the first ends.
func TestPasswordTurnIsOneAtATimeAcrossNodes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other := w.node(w.sharedStore())
	ctx := context.Background()
	w.jf.addUser(aliceID, "alice", false)
	// given a password for alice on its way to Jellyfin through the first node
	first, err := w.app.BeginPassword(ctx, internet, "alice", "", true)
	if err != nil {
		t.Fatal(err)
	}
	// when another comes through the second node, from elsewhere
	elsewhere := usecase.Caller{IP: netip.MustParseAddr("198.51.100.20")}
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = other.BeginPassword(waitCtx, elsewhere, "alice", "", true)
	cancel()
	// then it waits for alice's turn, until its request gives up
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second password for alice while the first is at Jellyfin: %v, want it to wait", err)
	}
	// and once the first ends, it has the turn
	first.End()
	second, err := other.BeginPassword(ctx, elsewhere, "alice", "", true)
	if err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
	// and holds it against the first node in turn
	waitCtx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := w.app.BeginPassword(waitCtx, internet, "alice", "", true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("back on the first node while the second holds the turn: %v", err)
	}
	second.End()
}

// TestPasswordThrottleCountsAttemptsUnderWayOnEveryNode: with three failed sign-ins
// a minute allowed per address block, attempts under way count as failures until
// they end, whichever node they came through: a fourth at once is refused.
func TestPasswordThrottleCountsAttemptsUnderWayOnEveryNode(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.policy.PasswordFailuresPerIP = 3
	other := w.node(w.sharedStore())
	ctx := context.Background()
	nodes := []*usecase.Service{w.app, other, w.app}
	// Every caller is in one /64, each at an address of its own.
	block := func(i int) usecase.Caller {
		return usecase.Caller{IP: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 8, 15: byte(i + 1)})}
	}
	var under []*usecase.PasswordAttempt
	// given three passwords under way from one /64, through both nodes
	for i, n := range nodes {
		a, err := n.BeginPassword(ctx, block(i), "nobody", "", false)
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		under = append(under, a)
	}
	// when a fourth comes through the second node
	_, err := other.BeginPassword(ctx, block(3), "nobody", "", false)
	// then it is throttled: the second node counts the first node's attempts
	var throttled *domain.ThrottledError
	if !errors.As(err, &throttled) {
		t.Fatalf("a fourth attempt under way: %v, want it throttled", err)
	}
	// and once one of the first node's attempts ends, there is room again
	under[0].End()
	a, err := other.BeginPassword(ctx, block(4), "nobody", "", false)
	if err != nil {
		t.Fatalf("after one ended: %v", err)
	}
	a.End()
	for _, a := range under[1:] {
		a.End()
	}
}

// TestPasswordStepFailsClosedWithoutItsTurns: a node whose shared store cannot be
// reached, or that has none, forwards no password.
func TestPasswordStepFailsClosedWithoutItsTurns(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.jf.addUser(aliceID, "alice", false)
	conn, err := broker.Start(broker.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	js, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := shared.Open(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	cut := w.node(sh)
	if a, err := cut.BeginPassword(context.Background(), internet, "alice", "", true); err != nil {
		t.Fatalf("before the store went away: %v", err)
	} else {
		a.End()
	}
	conn.NC.Close()
	for _, tc := range []struct {
		name string
		app  *usecase.Service
	}{
		{"store unreachable", cut},
		{"no store", usecase.New(usecase.Deps{Projector: w.proj, Jellyfin: w.jf})},
	} {
		for _, guardUser := range []bool{true, false} {
			if _, err := tc.app.BeginPassword(context.Background(), internet, "alice", "", guardUser); !errors.Is(err, usecase.ErrTurns) {
				t.Errorf("%s (user's turn %v): %v, want ErrTurns", tc.name, guardUser, err)
			}
		}
	}
}
