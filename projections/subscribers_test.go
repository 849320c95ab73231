package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/projections"
)

// TestOfflineSubscriberChangesRaceLikeCommands: the offline subscriber commands
// decide on the stream itself, with no projection, through the same loop as every
// command. Eight administrators adding one name at once: exactly one succeeds and
// the others are told it exists. Eight adding different names at once: each one
// lost race is decided again, so all eight are added.
func TestOfflineSubscriberChangesRaceLikeCommands(t *testing.T) {
	t.Parallel()
	n := start(t, t.TempDir(), fixedClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)))
	defer n.stop(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	key := func(i int) string { return fmt.Sprintf("UKEY%052d", i) }

	// given nobody subscribed, when eight add "siem" at once
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = projections.AddSubscriber(ctx, n.store, events.Context{Actor: "cli"}, "siem", key(i), now)
		})
	}
	wg.Wait()
	// then one wins and seven are told the name is taken
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, domain.ErrSubscriberExists):
			t.Errorf("a lost add failed with %v, want ErrSubscriberExists", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d adds of one name succeeded, want 1", won)
	}

	// when eight add eight names at once
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = projections.AddSubscriber(ctx, n.store, events.Context{Actor: "cli"}, fmt.Sprintf("sink-%d", i), key(100+i), now)
		})
	}
	wg.Wait()
	// then every one is added, and the stream holds nine subscribers
	for i, err := range errs {
		if err != nil {
			t.Errorf("add sink-%d: %v", i, err)
		}
	}
	subs, _, err := projections.LoadSubscribers(ctx, n.store)
	if err != nil || len(subs) != 9 {
		t.Fatalf("subscribers = %d (%v), want 9", len(subs), err)
	}

	// when one is removed twice, the second is told it is not there
	if _, err := projections.RemoveSubscriber(ctx, n.store, events.Context{Actor: "cli"}, "sink-3", now); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := projections.RemoveSubscriber(ctx, n.store, events.Context{Actor: "cli"}, "sink-3", now); err == nil {
		t.Error("removing a subscriber that is gone succeeded")
	}
}
