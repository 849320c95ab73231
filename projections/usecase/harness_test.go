package usecase_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/domain"
	broker "github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/nats-io/nats.go/jetstream"
)

// The use-case tests run on the real parts below the application layer: an embedded
// JetStream with file storage, the sealer and running projections. Only Jellyfin is
// a fake, which records what it was asked.

// world is one use-case test's system.
type world struct {
	t      *testing.T
	store  *store.Store
	proj   *projections.Projector
	sealer *seal.Sealer
	jf     *fakeJellyfin
	app    *usecase.Service
	clock  *testClock
	policy domain.Policy
	key    []byte
}

// newWorld starts the store, sealer and projections and builds the use cases on them.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	conn, err := broker.Start(broker.Options{StoreDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: dir + "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.NewSealer(ctx, st.JetStream(), key, 1)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	proj := projections.New(st, projections.Options{SnapshotDir: dir + "/snapshots", Clock: clock.Now})
	if err := proj.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proj.Stop() })
	w := &world{t: t, store: st, proj: proj, sealer: sealer, jf: newFakeJellyfin(), clock: clock, policy: domain.DefaultPolicy(), key: key}
	w.app = w.node(w.sharedStore())
	return w
}

// sharedStore opens the shared buckets on the world's JetStream, as one more node
// does.
func (w *world) sharedStore() *shared.Store {
	w.t.Helper()
	js, err := jetstream.New(w.store.JetStream().Conn())
	if err != nil {
		w.t.Fatal(err)
	}
	sh, err := shared.Open(context.Background(), js, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	return sh
}

// node builds the use cases of one node on the world's store and projections, with
// the password step's turns in sh.
func (w *world) node(sh *shared.Store) *usecase.Service {
	return usecase.New(usecase.Deps{
		Projector: w.proj, Sealer: w.sealer, Jellyfin: w.jf,
		Policy:     func() domain.Policy { return w.policy },
		TrustKeys:  func(time.Time) domain.TrustKeys { return domain.TrustKeys{Current: w.key} },
		HashParams: domain.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Clock:      w.clock.Now,
		Turns:      usecase.SharedTurns(sh),
	})
}

// events are the stream's events of one user (all users when uid is ""), in order.
func (w *world) events(uid string) []events.Event {
	w.t.Helper()
	var out []events.Event
	if _, err := w.store.Scan(context.Background(), 1, func(ev events.Event) error {
		if uid == "" || ev.AggregateID == uid {
			out = append(out, ev)
		}
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// types are the event types of events.
func types(evs []events.Event) []events.Type {
	out := make([]events.Type, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// user is a copy of a user's projected state.
func (w *world) user(uid string) *domain.User {
	var u *domain.User
	w.proj.Read(func(st *projections.State) {
		if v := st.Users[uid]; v != nil {
			u = v.Clone()
		}
	})
	return u
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeJellyfin stands in for Jellyfin's API: users with their policies, tokens it
// minted or logged out, the devices it lists, and the calls it fails.
type fakeJellyfin struct {
	mu        sync.Mutex
	adminKey  bool
	users     []upstream.User
	policies  map[string]json.RawMessage
	loggedOut []string
	minted    int
	// devices are what Devices lists; devicesErr, when set, is its answer instead.
	devices    []upstream.DeviceSession
	devicesErr error
	// logoutTries counts Logout calls by token; failLogout says how many of a
	// token's first calls fail (-1: every call).
	logoutTries map[string]int
	failLogout  map[string]int
}

func newFakeJellyfin() *fakeJellyfin {
	return &fakeJellyfin{adminKey: true, policies: map[string]json.RawMessage{}}
}

func (f *fakeJellyfin) addUser(id, name string, admin bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := upstream.User{ID: id, Name: name}
	u.Policy.IsAdministrator = admin
	f.users = append(f.users, u)
	f.policies[id] = json.RawMessage(`{"IsAdministrator":false,"InvalidLoginAttemptCount":0,"LoginAttemptsBeforeLockout":3}`)
}

func (f *fakeJellyfin) HasAdminKey() bool { return f.adminKey }
func (f *fakeJellyfin) Users(context.Context) ([]upstream.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstream.User(nil), f.users...), nil
}
func (f *fakeJellyfin) UserPolicy(_ context.Context, id string) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.policies[id]
	if !ok {
		return nil, &upstream.StatusError{Status: 404}
	}
	return p, nil
}
func (f *fakeJellyfin) SetUserPolicy(_ context.Context, id string, p json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies[id] = p
	return nil
}
func (f *fakeJellyfin) Logout(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logoutTries == nil {
		f.logoutTries = map[string]int{}
	}
	f.logoutTries[token]++
	if n, ok := f.failLogout[token]; ok && (n < 0 || f.logoutTries[token] <= n) {
		return &upstream.StatusError{Status: 503, Body: "Jellyfin is restarting"}
	}
	f.loggedOut = append(f.loggedOut, token)
	return nil
}

// triesOf is how many times Logout was called for token.
func (f *fakeJellyfin) triesOf(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logoutTries[token]
}

// addDevice adds a session of a user to the device list, as Jellyfin lists one
// signed in at Jellyfin directly.
func (f *fakeJellyfin) addDevice(uid, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devices = append(f.devices, upstream.DeviceSession{AccessToken: token, ID: "dev-" + token, Name: "Device", AppName: "Jellyfin Media Player", LastUserID: uid})
}
func (f *fakeJellyfin) loggedOutTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.loggedOut...)
}
func (f *fakeJellyfin) Devices(context.Context) ([]upstream.DeviceSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstream.DeviceSession(nil), f.devices...), f.devicesErr
}
func (f *fakeJellyfin) MintSession(_ context.Context, userID, client, device, deviceID, version string) ([]byte, upstream.AuthResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.minted++
	var res upstream.AuthResult
	res.AccessToken = fmt.Sprintf("minted-%d", f.minted)
	res.User.ID = userID
	for _, u := range f.users {
		if u.ID == userID {
			res.User = u
		}
	}
	raw, _ := json.Marshal(res)
	return raw, res, nil
}
func (f *fakeJellyfin) AuthorizeQuickConnect(context.Context, string, string) error { return nil }
func (f *fakeJellyfin) Me(_ context.Context, token string) (upstream.User, error) {
	return upstream.User{}, &upstream.StatusError{Status: 401}
}

// authResult is Jellyfin's answer to a right password for a user, as read and as
// written.
func authResult(t *testing.T, uid, name, token string) (upstream.AuthResult, []byte) {
	t.Helper()
	var res upstream.AuthResult
	res.AccessToken, res.User.ID, res.User.Name = token, uid, name
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return res, raw
}
