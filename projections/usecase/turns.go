package usecase

import (
	"context"

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

func (t sharedTurns) Count(ctx context.Context, prefix string) (int, error) {
	return t.st.Count(ctx, prefix)
}
