package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openRing loads the keyring of a data directory and a sealer that uses it, as
// a node starting on that directory would.
func openRing(t *testing.T, st *store.Store, dir string, clock *testClock) (*seal.MasterKeyring, *seal.Sealer) {
	t.Helper()
	ring, err := seal.LoadMasterKeyring("", filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.OpenSealer(context.Background(), st.JetStream(), ring, seal.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ring, sealer
}

// sealerWith opens a sealer (without cache) holding only the given master key.
func sealerWith(t *testing.T, st *store.Store, key []byte) *seal.Sealer {
	t.Helper()
	s, err := seal.NewSealer(context.Background(), st.JetStream(), key, 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMasterKeyRotation: rotating the master key re-wraps every data key; during
// the grace both keys open every value (a node not yet given the new key keeps
// working, also with data keys created after the rotation); after the grace the
// previous key is dropped from the ring and from every wrapping, and values still
// open with the new key.
// ringNow is the time the rotation tests start at.
var ringNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	ctx := context.Background()
	clock := &testClock{now: ringNow}
	ring, sealer := openRing(t, st, dir, clock)
	old := ring.Current()
	values := map[string]events.Sealed{}
	for i := range 5 {
		user := fmt.Sprintf("u%d", i)
		v, err := sealer.Seal(ctx, user, []byte("secret of "+user))
		if err != nil {
			t.Fatal(err)
		}
		values[user] = v
	}

	rot := audit.KeyRotator{Store: st, Sealer: sealer, Ring: ring, DataDir: dir, Node: "n1", Clock: clock.Now}
	rep, err := rot.Rotate(ctx, audit.KeyRotation{Master: true, Grace: 24 * time.Hour}, events.Context{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Master == nil || rep.Master.DataKeys != 5 || rep.Master.PreviousKeyID != old.ID || rep.Master.KeyID == old.ID || !rep.Master.PreviousValidUntil.Equal(ringNow.Add(24*time.Hour)) {
		t.Fatalf("master rotation recorded %+v", rep.Master)
	}
	if rep.Trust == nil || rep.Trust.MasterKeyID != rep.Master.KeyID || rep.Trust.PreviousMasterKeyID != old.ID {
		t.Errorf("the trust-cookie key did not move to the new master key: %+v", rep.Trust)
	}
	evs, _, err := st.Load(ctx, events.AggSystem, events.KeysAggregateID)
	if err != nil || len(evs) != 2 || evs[0].Type != "trust_key_rotated" || evs[1].Type != "master_key_rotated" {
		t.Fatalf("events recorded: %v %v", evs, err)
	}

	opensAll := func(what string, s *seal.Sealer) {
		t.Helper()
		for user, v := range values {
			if got, err := s.Open(ctx, user, v); err != nil || string(got) != "secret of "+user {
				t.Errorf("%s: open %s: %q, %v", what, user, got, err)
			}
		}
	}
	_, restarted := openRing(t, st, dir, clock)
	opensAll("restarted on the new keyring", restarted)
	opensAll("a node with only the previous key, during the grace", sealerWith(t, st, old.Key))

	// A data key created during the grace is wrapped under both keys too.
	v, err := restarted.Seal(ctx, "u5", []byte("secret of u5"))
	if err != nil {
		t.Fatal(err)
	}
	values["u5"] = v
	opensAll("a node with only the previous key, for a data key made after the rotation", sealerWith(t, st, old.Key))

	// Before the grace ends nothing is retired.
	if dropped, err := sealer.RetireExpired(ctx); err != nil || len(dropped) != 0 {
		t.Fatalf("retired during the grace: %v, %v", dropped, err)
	}
	clock.Advance(24 * time.Hour)
	dropped, err := sealer.RetireExpired(ctx)
	if err != nil || len(dropped) != 1 || dropped[0] != old.ID {
		t.Fatalf("retire after the grace: %v, %v", dropped, err)
	}
	if _, ok := ring.Key(old.ID); ok {
		t.Error("the previous key is still in the ring")
	}
	reloaded, again := openRing(t, st, dir, clock)
	if keys := reloaded.Keys(); len(keys) != 1 || keys[0].ID != rep.Master.KeyID {
		t.Errorf("keyring file after the grace: %+v", keys)
	}
	opensAll("after the grace, with the new key", again)
	for user, v := range values {
		if _, err := sealerWith(t, st, old.Key).Open(ctx, user, v); !errors.Is(err, seal.ErrSealCorrupt) {
			t.Errorf("after the grace the previous key still opens %s: %v", user, err)
		}
	}
}

// TestTrustKeyRotationRecordsTheNextGeneration: rotating the trust-cookie key
// alone records the next generation under the current master key.
func TestTrustKeyRotationRecordsTheNextGeneration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	clock := &testClock{now: ringNow}
	ring, sealer := openRing(t, st, dir, clock)
	rot := audit.KeyRotator{Store: st, Sealer: sealer, Ring: ring, DataDir: dir, Clock: clock.Now}
	for gen := 1; gen <= 2; gen++ {
		rep, err := rot.Rotate(context.Background(), audit.KeyRotation{Trust: true, Grace: time.Hour}, events.Context{})
		if err != nil {
			t.Fatal(err)
		}
		want := events.TrustKeyRotated{Generation: gen, MasterKeyID: ring.Current().ID, PreviousGeneration: gen - 1, PreviousMasterKeyID: ring.Current().ID, PreviousValidUntil: ringNow.Add(time.Hour)}
		if rep.Trust == nil || *rep.Trust != want || rep.Master != nil || rep.Audit != nil {
			t.Errorf("rotation %d recorded %+v; want %+v", gen, rep.Trust, want)
		}
	}
	if _, err := rot.Rotate(context.Background(), audit.KeyRotation{Trust: true, Grace: -time.Hour}, events.Context{}); err == nil || !strings.Contains(err.Error(), "fix:") {
		t.Errorf("negative grace: %v", err)
	}
}

// sealThrough runs until the notary's checkpoints cover seq (bounded).
func sealThrough(t *testing.T, st *store.Store, n *audit.Notary, seq uint64) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := n.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{n.PublicKey()}})
		if err == nil && rep.SealedThrough >= seq {
			return
		}
	}
	t.Fatalf("events up to %d were not sealed in time", seq)
}

func runNotary(t *testing.T, st *store.Store, key ed25519.PrivateKey) (*audit.Notary, func()) {
	t.Helper()
	// The notary creates the audit stream when it starts; create it first, so a
	// verification never races the start.
	if _, err := audit.OpenStream(context.Background(), st.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	n := audit.NewNotary(st, key, audit.NotaryOptions{Every: 1000, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return n, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func verifyWith(t *testing.T, st *store.Store, keys ...ed25519.PublicKey) audit.VerifyReport {
	t.Helper()
	rep, err := audit.Verify(context.Background(), st, audit.VerifyOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestAuditKeyRotation: a running node rotates its checkpoint key. The log attests
// the change (both keys signed it), so a verifier that trusts either key accepts
// every checkpoint; a checkpoint that begins after the rotation and is signed by the
// retired key (a thief's, or a forgotten node's) fails verification.
func TestAuditKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	ctx := context.Background()
	oldKey, err := audit.LoadSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	oldPub := oldKey.Public().(ed25519.PublicKey)
	notary, stop := runNotary(t, st, oldKey)
	for i := range 3 {
		if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, "u1", fmt.Sprint("before-", i))); err != nil {
			t.Fatal(err)
		}
	}
	sealThrough(t, st, notary, 3)

	clock := &testClock{now: ringNow}
	ring, sealer := openRing(t, st, dir, clock)
	rot := audit.KeyRotator{Store: st, Sealer: sealer, Ring: ring, Notary: notary, DataDir: dir, Node: "n1", Clock: clock.Now}
	rep, err := rot.Rotate(ctx, audit.KeyRotation{Audit: true}, events.Context{Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	newPub := notary.PublicKey()
	if newPub.Equal(oldPub) || rep.Audit == nil || rep.Audit.Key != audit.FormatPublicKey(newPub) || rep.Audit.PreviousKey != audit.FormatPublicKey(oldPub) {
		t.Fatalf("audit rotation recorded %+v", rep.Audit)
	}
	cur, previous, err := audit.LoadKeys(dir)
	if err != nil || !cur.Public().(ed25519.PublicKey).Equal(newPub) || len(previous) != 1 || !previous[0].Equal(oldPub) {
		t.Fatalf("audit key files: current %v, previous %v, %v", cur.Public(), previous, err)
	}
	for i := range 3 {
		if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, "u1", fmt.Sprint("after-", i))); err != nil {
			t.Fatal(err)
		}
	}
	sealThrough(t, st, notary, 7)
	stop()

	for name, keys := range map[string][]ed25519.PublicKey{"the previous key": {oldPub}, "the new key": {newPub}, "both": {oldPub, newPub}} {
		if rep := verifyWith(t, st, keys...); !rep.OK() || rep.SealedThrough != 7 {
			t.Errorf("verify trusting %s: %+v", name, rep)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if rep := verifyWith(t, st, other); rep.OK() {
		t.Errorf("verify trusting an unrelated key passed: %+v", rep)
	}

	// Someone still holding the retired key seals new events with it.
	if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, "u1", "forged-later")); err != nil {
		t.Fatal(err)
	}
	thief, stopThief := runNotary(t, st, oldKey)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := thief.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if rep := verifyWith(t, st, oldPub, newPub); rep.Checkpoints > 0 && rep.SealedThrough >= 8 || rep.FirstBad == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retired key's checkpoint was not written in time")
		}
	}
	stopThief()
	if rep := verifyWith(t, st, oldPub, newPub); rep.OK() || rep.FirstBad != 8 || !strings.Contains(strings.Join(rep.Problems, "\n"), "retired") {
		t.Errorf("a checkpoint by the retired key passed: %+v", rep)
	}
}

// TestForgedAuditKeyRotationFails: a rotation event its keys did not sign (anyone
// who can append to the stream could write one naming their own key) makes
// verification fail and trusts nothing.
func TestForgedAuditKeyRotationFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	ctx := context.Background()
	key, _ := audit.LoadSigningKey(dir)
	_, mine, _ := ed25519.GenerateKey(nil)
	forged := audit.NewAuditKeyRotated("n1", mine, mine)
	forged.PreviousKey = audit.FormatPublicKey(key.Public().(ed25519.PublicKey))
	ev, err := events.New(events.KeysAggregateID, time.Now(), events.Context{}, forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, store.AnySeq, ev); err != nil {
		t.Fatal(err)
	}
	notary, stop := runNotary(t, st, key)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := notary.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if rep := verifyWith(t, st, notary.PublicKey()); rep.SealedThrough >= 1 {
			break
		}
	}
	stop()
	rep := verifyWith(t, st, key.Public().(ed25519.PublicKey))
	if rep.OK() || rep.FirstBad != 1 || !strings.Contains(strings.Join(rep.Problems, "\n"), "did not sign") {
		t.Errorf("a forged rotation passed: %+v", rep)
	}
}
