package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jfguard/jfguard/http/upstream"
)

// tokenCache remembers how unknown tokens were resolved, for a short while, and makes
// concurrent requests with the same unknown token wait for one resolution.
type tokenCache struct {
	mu       sync.Mutex
	entries  map[string]cachedVerdict
	inflight map[string]*inflight
	sweep    time.Time
}

type cachedVerdict struct {
	v       verdict
	expires time.Time
}

type inflight struct {
	done chan struct{}
	v    verdict
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: map[string]cachedVerdict{}, inflight: map[string]*inflight{}}
}

// resolve returns the cached verdict for hash or runs fn once (for all concurrent
// callers) and caches its verdict for the duration it returns.
func (tc *tokenCache) resolve(hash string, fn func() (verdict, time.Duration)) verdict {
	now := time.Now()
	tc.mu.Lock()
	if e, ok := tc.entries[hash]; ok && now.Before(e.expires) {
		tc.mu.Unlock()
		return e.v
	}
	if f, ok := tc.inflight[hash]; ok {
		tc.mu.Unlock()
		<-f.done
		return f.v
	}
	f := &inflight{done: make(chan struct{})}
	tc.inflight[hash] = f
	tc.mu.Unlock()

	v, ttl := fn()

	tc.mu.Lock()
	f.v = v
	close(f.done)
	delete(tc.inflight, hash)
	tc.entries[hash] = cachedVerdict{v: v, expires: time.Now().Add(ttl)}
	if now.Sub(tc.sweep) > time.Minute {
		tc.sweep = now
		for k, e := range tc.entries {
			if now.After(e.expires) {
				delete(tc.entries, k)
			}
		}
	}
	tc.mu.Unlock()
	return v
}

// apiKeySet holds the hashes of Jellyfin's API keys, refreshed from Jellyfin.
type apiKeySet struct {
	jf  *upstream.Client
	log *slog.Logger

	mu      sync.RWMutex
	keys    map[string]bool
	fetched time.Time
	refresh sync.Mutex
}

func newAPIKeySet(jf *upstream.Client, log *slog.Logger) *apiKeySet {
	return &apiKeySet{jf: jf, log: log, keys: map[string]bool{}}
}

func (a *apiKeySet) has(hash string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.keys[hash]
}

// hasHash is has for a hash in a buffer (the front's, which allocates none).
func (a *apiKeySet) hasHash(hash []byte) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.keys[string(hash)]
}

// refreshSoon refetches the key list unless it was fetched in the last 10 seconds.
// It reports whether a fresh list is in place.
func (a *apiKeySet) refreshSoon(ctx context.Context) bool {
	a.refresh.Lock()
	defer a.refresh.Unlock()
	a.mu.RLock()
	recent := time.Since(a.fetched) < 10*time.Second
	a.mu.RUnlock()
	if recent {
		return true
	}
	return a.fetch(ctx) == nil
}

// refreshNow refetches the key list whatever its age.
func (a *apiKeySet) refreshNow(ctx context.Context) error {
	a.refresh.Lock()
	defer a.refresh.Unlock()
	return a.fetch(ctx)
}

func (a *apiKeySet) fetch(ctx context.Context) error {
	if !a.jf.HasAdminKey() {
		return upstream.ErrNoAdminKey
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys, err := a.jf.APIKeys(ctx)
	if err != nil {
		a.log.Warn("cannot list Jellyfin API keys", "err", err)
		return err
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[tokenHash(k)] = true
	}
	a.mu.Lock()
	a.keys, a.fetched = m, time.Now()
	a.mu.Unlock()
	return nil
}

// loop refreshes the list every minute.
func (a *apiKeySet) loop(ctx context.Context) {
	if !a.jf.HasAdminKey() {
		return
	}
	_ = a.fetch(ctx)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = a.fetch(ctx)
		}
	}
}
