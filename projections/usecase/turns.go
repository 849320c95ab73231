package usecase

import (
	"context"
	"time"

	"github.com/jfguard/jfguard/events/shared"
)

// SharedTurns are the password step's Turns kept in the shared store's Turns bucket,
// which every node of a cluster reads and writes; nil when there is no store.
func SharedTurns(st *shared.Store) Turns {
	if st == nil {
		return nil
	}
	return sharedTurns{st}
}

type sharedTurns struct{ st *shared.Store }

func (t sharedTurns) Acquire(ctx context.Context, key string) (func(), error) {
	l, err := t.st.Acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// attemptTTL bounds how long an attempt under way counts when its node dies before
// taking it out: longer than any password's trip to Jellyfin.
const attemptTTL = time.Minute

func (t sharedTurns) Enter(ctx context.Context, key string) (int, func(), error) {
	return t.st.Enter(ctx, key, attemptTTL)
}
