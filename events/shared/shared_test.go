package shared

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/nats-io/nats.go/jetstream"
)

// twoNodes opens the buckets twice on one embedded JetStream with file storage,
// over two connections, as two jfguard nodes of a cluster do.
func twoNodes(t *testing.T) (*Store, *Store) {
	t.Helper()
	conn, st := eventstest.StartStore(t, t.TempDir())
	t.Cleanup(conn.Close)
	a, err := Open(context.Background(), st.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The embedded server lets in jfguard's own key only, so the second node shares
	// the connection; its writes still meet the first node's at the server, whose
	// conditional checks are what the tests exercise.
	js2, err := jetstream.New(conn.NC)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), js2, 1)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

var ctx = context.Background()

// TestTakeIsOnce: a value put on one node is taken on the other once; of many
// concurrent takers across both nodes exactly one gets it.
func TestTakeIsOnce(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	if err := a.Put(ctx, Ceremonies, "c1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, Ceremonies, "c1", []byte("other")); !errors.Is(err, ErrExists) {
		t.Fatalf("a second put under one key: %v, want ErrExists", err)
	}
	v, err := b.Take(ctx, Ceremonies, "c1")
	if err != nil || string(v) != "hello" {
		t.Fatalf("take on the other node: %q %v", v, err)
	}
	if _, err := a.Take(ctx, Ceremonies, "c1"); !errors.Is(err, ErrGone) {
		t.Fatalf("second take: %v, want ErrGone", err)
	}
	for round := range 20 {
		key := fmt.Sprintf("race%d", round)
		if err := a.Put(ctx, Ceremonies, key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		var got atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Take(ctx, Ceremonies, key); err == nil {
					got.Add(1)
				} else if !errors.Is(err, ErrGone) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Fatalf("round %d: %d takers got the value", round, n)
		}
	}
}

// TestAllowCountsEveryNode: a limit of n per window lets exactly n attempts through
// from all nodes together, even when they come at once; it refills one attempt per
// window/n; a refund gives one back.
func TestAllowCountsEveryNode(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	now := time.Unix(1_800_000_000, 0)
	const n, window = 10, 10 * time.Minute
	var passed atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, wait, err := s.Allow(ctx, "ip.alice", n, window, now)
			switch {
			case err != nil && !errors.Is(err, ErrBusy):
				t.Error(err)
			case ok:
				passed.Add(1)
			case wait <= 0:
				t.Errorf("refused without a wait")
			}
		}()
	}
	wg.Wait()
	if got := passed.Load(); got != n {
		t.Fatalf("%d attempts passed a limit of %d", got, n)
	}
	ok, wait, err := a.Allow(ctx, "ip.alice", n, window, now)
	if err != nil || ok || wait != window/n {
		t.Fatalf("over the limit: ok=%v wait=%s err=%v, want a wait of %s", ok, wait, err, window/n)
	}
	if ok, _, _ := b.Allow(ctx, "ip.alice", n, window, now.Add(window/n)); !ok {
		t.Fatal("no attempt after one refill interval")
	}
	if ok, _, _ := b.Allow(ctx, "ip.alice", n, window, now.Add(window/n)); ok {
		t.Fatal("two attempts after one refill interval")
	}
	if err := a.Refund(ctx, "ip.alice", n, window, now.Add(window/n)); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := b.Allow(ctx, "ip.alice", n, window, now.Add(window/n)); !ok {
		t.Fatal("the refunded attempt is not there")
	}
	if ok, _, _ := a.Allow(ctx, "ip.bob", n, window, now); !ok {
		t.Fatal("another key shares alice's bucket")
	}
	if _, _, err := a.Allow(ctx, "x", 0, window, now); err == nil {
		t.Fatal("a limit of 0 was accepted")
	}
}

// TestLeases: one holder at a time across nodes; a waiter gets the lease when it is
// released; a stale release does not free the next holder's lease; Count sees the
// leases under a prefix.
func TestLeases(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	l1, err := a.TryAcquire(ctx, Key("turn", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(ctx, Key("turn", "alice")); !errors.Is(err, ErrExists) {
		t.Fatalf("a second holder: %v", err)
	}
	got := make(chan *Lease)
	go func() {
		l, err := b.Acquire(ctx, Key("turn", "alice"))
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("the waiter got the lease while it was held")
	case <-time.After(100 * time.Millisecond):
	}
	l1.Release()
	var l2 *Lease
	select {
	case l2 = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never got the released lease")
	}
	l1.Release() // stale: must not free l2
	if _, err := a.TryAcquire(ctx, Key("turn", "alice")); !errors.Is(err, ErrExists) {
		t.Fatalf("a stale release freed the new holder's lease: %v", err)
	}
	l2.Release()

	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	held, _ := a.TryAcquire(ctx, Key("turn", "bob"))
	if _, err := b.Acquire(waitCtx, Key("turn", "bob")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: %v", err)
	}
	held.Release()

}

// TestEnterCountsAttemptsOnEveryNode: attempts entering under one key on two nodes,
// at once, see each other: the ones entering later count the earlier ones, so the
// largest count seen is the number of others; leaving takes one out, twice is
// harmless, and an entry past its life no longer counts.
func TestEnterCountsAttemptsOnEveryNode(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	key := Key("flight", "192.0.2.0/24")
	var leaves []func()
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := range 6 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, leave, err := s.Enter(ctx, key, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[n], leaves = true, append(leaves, leave)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for n := range 6 {
		if !seen[n] {
			t.Fatalf("no attempt saw %d others (saw %v): two attempts counted the same crowd", n, seen)
		}
	}
	leaves[0]()
	leaves[0]()
	if n, leave, err := b.Enter(ctx, key, time.Minute); err != nil || n != 5 {
		t.Fatalf("after one left: %d others, %v; want 5", n, err)
	} else {
		leave()
	}
	for _, l := range leaves[1:] {
		l()
	}
	if n, leave, _ := a.Enter(ctx, key, time.Minute); n != 0 {
		t.Fatalf("after all left: %d others", n)
	} else {
		leave()
	}
	// An attempt whose node died never leaves; it stops counting after its life.
	if _, _, err := a.Enter(ctx, key, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if n, _, _ := b.Enter(ctx, key, time.Minute); n != 0 {
		t.Fatalf("an expired attempt still counts: %d others", n)
	}
}

// TestFullBucketRefuses: a bucket at its size refuses new values with ErrFull.
func TestFullBucketRefuses(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	tiny := Kind{Bucket: "JFGUARD_TEST_TINY", TTL: time.Minute, MaxBytes: 4096}
	if err := a.open(ctx, a.js(), 1, tiny); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = a.Put(ctx, tiny, fmt.Sprint("k", i), make([]byte, 256))
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("filling the bucket ended with %v, want ErrFull", err)
	}
}

var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

// TestKey: any part makes a valid key, and different parts different keys.
func TestKey(t *testing.T) {
	seen := map[string]string{}
	for _, parts := range [][]string{
		{"ip", "2001:db8::/64"}, {"ip", "192.0.2.1"}, {"ip", "192_0_2_1"}, {"user", "ÄÖ bob*>"},
		{"user", ""}, {"a.b"}, {"a", "b"}, {"h-61"}, {"a"},
	} {
		k := Key(parts...)
		if !validKey.MatchString(k) {
			t.Errorf("Key(%q) = %q, not a valid key", parts, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("Key(%q) = Key(%s) = %q", parts, prev, k)
		}
		seen[k] = fmt.Sprint(parts)
	}
}

// TestOpenUsesWhatIsThere: opening the buckets again (a node restarting, a second
// node) uses them as they are, values included; a bucket whose settings changed is
// brought up to date.
func TestOpenUsesWhatIsThere(t *testing.T) {
	t.Parallel()
	a, _ := twoNodes(t)
	if err := a.Put(ctx, Flows, "f1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, a.js(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := again.Take(ctx, Flows, "f1"); err != nil || string(v) != "v" {
		t.Fatalf("the reopened bucket lost its value: %q %v", v, err)
	}
	changed := Flows
	changed.TTL = time.Hour
	if err := again.open(ctx, a.js(), 1, changed); err != nil {
		t.Fatal(err)
	}
	st, err := again.bucket(changed).Status(ctx)
	if err != nil || st.TTL() != time.Hour {
		t.Fatalf("the changed TTL was not applied: %v %v", st, err)
	}
}
