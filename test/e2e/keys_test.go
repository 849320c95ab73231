package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
)

// jfguard runs the jfguard command line with args and returns its exit code and
// output.
func jfguard(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := cli.Run(ctx, args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// online are the flags that point a command at the running gateway.
func (g *testGateway) online() []string {
	return []string{"--server", g.url(), "--token", g.main.AdminToken()}
}

func (g *testGateway) dataDir() string { return g.settings["data_dir"] }

// stop stops jfguard, leaving its data directory to offline commands.
func (g *testGateway) stop(t *testing.T) {
	t.Helper()
	if err := g.main.Close(); err != nil {
		t.Fatalf("stop jfguard: %v", err)
	}
	g.main = nil
}

// signInWithTOTP signs alice in from a device with a fresh authenticator code,
// which jfguard checks against her sealed secret.
func (g *testGateway) signInWithTOTP(t *testing.T, f factor, deviceID string) {
	t.Helper()
	c := g.challenged(t, deviceID, web...)
	g.verified(t, c, "totp", g.code(t, f.secret))
}

// masterKeyIDs lists the ids in the data directory's master keyring.
func (g *testGateway) masterKeyIDs(t *testing.T) []string {
	t.Helper()
	ring, err := seal.LoadMasterKeyring("", filepath.Join(g.dataDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range ring.Keys() {
		ids = append(ids, k.ID)
	}
	return ids
}

// TestTrustKeyRotationThroughTheRunningServer: `keys rotate --trust` against the
// running server starts a new trust-cookie key. During the grace a cookie of the
// previous key still lets its browser through and comes back under the new key;
// after the grace (the gateway's clock moved on) that new cookie still works, while
// a browser that did not sign in during the grace holds an old-key cookie, which is
// refused before any lookup.
func TestTrustKeyRotationThroughTheRunningServer(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	inUse := g.trustBrowser(t, f, "browser-1")
	idle := g.trustBrowser(t, f, "browser-2")

	code, out, errOut := jfguard(t, append([]string{"keys", "rotate", "--trust", "--grace", "24h"}, g.online()...)...)
	if code != 0 || !strings.Contains(out, "trust-cookie key: generation 1 is current") {
		t.Fatalf("keys rotate --trust: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(g.eventsOf(t, "trust_key_rotated")); n != 1 {
		t.Fatalf("%d trust_key_rotated events; want 1", n)
	}

	g.clock.Advance(time.Hour)
	inUse = g.passesWithCookie(t, "browser-1", inUse)

	g.clock.Advance(24 * time.Hour)
	g.passesWithCookie(t, "browser-1", inUse)
	checks := g.trustChecks(t)
	g.refusedWithCookie(t, "browser-2", idle)
	if after := g.trustChecks(t); after["bad_mac"] != checks["bad_mac"]+1 {
		t.Errorf("the old-key cookie was not refused by its MAC: checks %v, then %v", checks, after)
	}
}

// TestTrustKeyRotationFromAnotherNode: a rotation recorded by another node (here
// appended to the shared stream directly) applies at once, without a restart: the
// gateway folds the event and signs and checks cookies with the new generation.
func TestTrustKeyRotationFromAnotherNode(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	old := g.trustBrowser(t, f, "browser-1")

	master := g.masterKeyIDs(t)[0]
	ev, err := events.New(events.KeysAggregateID, g.clock.Now(), events.Context{Actor: "admin"}, &events.TrustKeyRotated{
		Generation: 1, MasterKeyID: master, PreviousGeneration: 0, PreviousMasterKeyID: master, PreviousValidUntil: g.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := g.main.Store().Append(context.Background(), store.AnySeq, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.main.Projector().WaitFor(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	// No grace: the old generation's cookies are refused from now on.
	g.refusedWithCookie(t, "browser-1", old)
	fresh := g.trustBrowser(t, f, "browser-1")
	g.passesWithCookie(t, "browser-1", fresh)
}

// TestAuditKeyRotation: `keys rotate --audit` through the running server; the audit
// log verifies across the rotation, online and offline, with the current key, the
// previous one or the data directory's; `audit pubkey` lists both. A checkpoint
// signed with the retired key after the rotation makes verification fail.
func TestAuditKeyRotation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	g.signedIn(t, "bob", bobPassword, "bob-1")
	oldSeed, err := os.ReadFile(filepath.Join(g.dataDir(), "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	_, oldPub, _ := jfguard(t, "audit", "pubkey", "--data-dir", g.dataDir())

	code, out, errOut := jfguard(t, append([]string{"keys", "rotate", "--audit"}, g.online()...)...)
	if code != 0 || !strings.Contains(out, "audit key: ed25519:") {
		t.Fatalf("keys rotate --audit: exit %d\n%s\n%s", code, out, errOut)
	}
	g.signedIn(t, "bob", bobPassword, "bob-2")
	if code, out, errOut := jfguard(t, append([]string{"audit", "verify"}, g.online()...)...); code != 0 || !strings.Contains(out, "audit verify: OK") {
		t.Fatalf("audit verify --server after the rotation: exit %d\n%s\n%s", code, out, errOut)
	}
	g.stop(t)

	_, pubkeys, _ := jfguard(t, "audit", "pubkey", "--data-dir", g.dataDir())
	lines := strings.Split(strings.TrimSpace(pubkeys), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " current") || lines[1] != strings.Replace(strings.TrimSpace(oldPub), "current", "previous", 1) {
		t.Fatalf("audit pubkey after the rotation:\n%s(before:\n%s)", pubkeys, oldPub)
	}
	for _, extra := range [][]string{nil, {"--pubkey", lines[0]}, {"--pubkey", lines[1]}} {
		code, out, errOut := jfguard(t, append([]string{"audit", "verify", "--data-dir", g.dataDir()}, extra...)...)
		if code != 0 || !strings.Contains(out, "audit verify: OK") || !strings.Contains(out, "not yet sealed: 0") {
			t.Fatalf("audit verify %v: exit %d\n%s\n%s", extra, code, out, errOut)
		}
	}

	// Whoever kept the retired key seals a new event with it.
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(oldSeed)))
	if err != nil {
		t.Fatal(err)
	}
	sealWithKey(t, g.dataDir(), ed25519.NewKeyFromSeed(seed))
	code, out, errOut = jfguard(t, "audit", "verify", "--data-dir", g.dataDir())
	if code != 3 || !strings.Contains(out, "retired") {
		t.Fatalf("audit verify with a checkpoint by the retired key: exit %d\n%s\n%s", code, out, errOut)
	}
}

// sealWithKey opens a stopped data directory, appends an event and writes a
// checkpoint over it signed with key.
func sealWithKey(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	conn, err := broker.Start(broker.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := store.Open(ctx, conn.NC, store.Options{LocalDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New("node", time.Now(), events.Context{Actor: "jfguard"}, &events.NodeStarted{Node: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := st.Append(ctx, store.AnySeq, ev)
	if err != nil {
		t.Fatal(err)
	}
	n := audit.NewNotary(st, key, audit.NotaryOptions{Every: 1, Interval: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually(t, "the event is sealed with the retired key", func() bool {
		rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
		return err == nil && rep.FirstBad == seq
	})
}

// TestMasterKeyRotation: `keys rotate --master` through the running server
// re-wraps every data key. Alice's authenticator secret, sealed under her data key,
// still opens at once, after a restart, after the grace (when the previous key has
// left the keyring) and after another restart. The trust-cookie key, derived from
// the master key, rotates with it; a trusted browser moves to the new key.
func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	cookie := g.trustBrowser(t, f, "browser-1")
	before := g.masterKeyIDs(t)

	code, out, errOut := jfguard(t, append([]string{"keys", "rotate", "--master", "--grace", "48h"}, g.online()...)...)
	if code != 0 || !strings.Contains(out, "master key: ") || !strings.Contains(out, "trust-cookie key: generation 1") {
		t.Fatalf("keys rotate --master: exit %d\n%s\n%s", code, out, errOut)
	}
	ids := g.masterKeyIDs(t)
	if len(ids) != 2 || ids[1] != before[0] || ids[0] == before[0] {
		t.Fatalf("keyring after the rotation: %v (before: %v)", ids, before)
	}
	g.signInWithTOTP(t, f, "browser-9")
	cookie = g.passesWithCookie(t, "browser-1", cookie)

	g.restartAfter(t, time.Hour)
	g.signInWithTOTP(t, f, "browser-9")

	g.clock.Advance(48 * time.Hour)
	eventually(t, "the previous master key leaves the keyring", func() bool { return len(g.masterKeyIDs(t)) == 1 })
	if got := g.masterKeyIDs(t); got[0] != ids[0] {
		t.Fatalf("keyring after the grace: %v; want %s", got, ids[0])
	}
	g.signInWithTOTP(t, f, "browser-9")
	g.passesWithCookie(t, "browser-1", cookie)
	g.restartAfter(t, time.Minute)
	g.signInWithTOTP(t, f, "browser-9")
	g.expectEvents(t, "master_key_rotated", "trust_key_rotated")
}

// TestOfflineKeyRotation: `keys rotate` with no key named rotates all three on a
// stopped data directory; jfguard starts on it with every sealed value readable,
// trusted browsers still trusted (the previous trust key is in its grace) and an
// audit log that verifies.
func TestOfflineKeyRotation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, options{})
	f := g.enrollAlice(t)
	cookie := g.trustBrowser(t, f, "browser-1")
	g.stop(t)

	code, out, errOut := jfguard(t, "keys", "rotate", "--data-dir", g.dataDir())
	if code != 0 || !strings.Contains(out, "master key: ") || !strings.Contains(out, "trust-cookie key: generation 1") || !strings.Contains(out, "audit key: ") {
		t.Fatalf("keys rotate offline: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(g.dataDir(), "audit.pub")); err != nil {
		t.Errorf("the previous audit key was not kept: %v", err)
	}

	g.run(t)
	g.signInWithTOTP(t, f, "browser-9")
	g.passesWithCookie(t, "browser-1", cookie)
	g.expectEvents(t, "master_key_rotated", "trust_key_rotated", "audit_key_rotated")
	res := g.do(t, http.MethodGet, "/jfguard/healthz", nil)
	if res.status != http.StatusOK {
		t.Fatalf("healthz: %d", res.status)
	}
	g.stop(t)
	if code, out, errOut := jfguard(t, "audit", "verify", "--data-dir", g.dataDir()); code != 0 || !strings.Contains(out, "audit verify: OK") {
		t.Fatalf("audit verify after an offline rotation: exit %d\n%s\n%s", code, out, errOut)
	}
	g.run(t) // the test's cleanup stops it
}
