package seal_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
)

func TestSealedValuesAreAbsentFromDiskAndShreddable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	ctx := context.Background()
	master, err := seal.LoadMasterKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.NewSealer(ctx, st.JetStream(), master, 1)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	sealed, err := sealer.Seal(ctx, "u1", secret)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.New("u1", time.Now(), events.Context{}, &events.TOTPEnrollmentStarted{Secret: sealed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, 0, ev); err != nil {
		t.Fatal(err)
	}
	got, err := sealer.Open(ctx, "u1", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	// Another user's key cannot open it.
	if _, err := sealer.Open(ctx, "u2", sealed); err == nil {
		t.Fatal("u2 opened u1's value")
	}
	conn.Close()
	if hit := grepDir(t, dir, secret); hit != "" {
		t.Fatalf("plaintext secret found on disk in %s", hit)
	}

	// Shred: the value is unreadable, even with a fresh sealer (no cache), while the
	// event itself and the audit proof remain.
	conn, st = eventstest.StartStore(t, dir)
	sealer, _ = seal.NewSealer(ctx, st.JetStream(), master, 1)
	keys, _ := st.JetStream().Stream(ctx, seal.KeysStream)
	wrapped, err := keys.GetLastMsgForSubject(ctx, "jfguard.keys.u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sealer.Destroy(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sealer.Open(ctx, "u1", sealed); !errors.Is(err, seal.ErrShredded) {
		t.Fatalf("after destroy: %v, want ErrShredded", err)
	}
	fresh, _ := seal.NewSealer(ctx, st.JetStream(), master, 1)
	if _, err := fresh.Open(ctx, "u1", sealed); !errors.Is(err, seal.ErrShredded) {
		t.Fatalf("fresh sealer after destroy: %v, want ErrShredded", err)
	}
	// A new key for the same user does not bring old values back.
	if _, err := fresh.Seal(ctx, "u1", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Open(ctx, "u1", sealed); !errors.Is(err, seal.ErrShredded) {
		t.Fatalf("after re-keying: %v, want ErrShredded", err)
	}
	evs, _, _ := st.Load(ctx, events.AggUser, "u1")
	if len(evs) != 1 {
		t.Fatalf("the event is gone: %d", len(evs))
	}
	conn.Close()
	if hit := grepDir(t, dir, wrapped.Data[13:]); hit != "" {
		t.Fatalf("the destroyed data key is still on disk in %s", hit)
	}
}

func TestMasterKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	if _, err := seal.LoadMasterKey("not a key", t.TempDir()); err == nil {
		t.Fatal("a bad master key was accepted")
	}
	k, err := seal.LoadMasterKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", t.TempDir())
	if err != nil || len(k) != 32 || k[31] != 31 {
		t.Fatalf("key = %v, %v", k, err)
	}
	dir := t.TempDir()
	a, _ := seal.LoadMasterKey("", dir)
	b, _ := seal.LoadMasterKey("", dir)
	if !bytes.Equal(a, b) {
		t.Fatal("the master key file is not reused")
	}
	info, _ := os.Stat(filepath.Join(dir, "master.key"))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("master.key mode %v", info.Mode().Perm())
	}
}

// grepDir returns the first file under dir containing needle.
func grepDir(t *testing.T, dir string, needle []byte) string {
	t.Helper()
	var hit string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || hit != "" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			hit = p
		}
		return nil
	})
	return hit
}

// TestShreddingKeepsTheAuditProof: forgetting a user destroys their data key, and the
// signed checkpoints over their events still verify: the facts and the proof remain,
// only the sealed values are gone.
func TestShreddingKeepsTheAuditProof(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	ctx := context.Background()
	master, _ := seal.LoadMasterKey("", dir)
	sealer, err := seal.NewSealer(ctx, st.JetStream(), master, 1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := sealer.Seal(ctx, "u1", []byte("JBSWY3DPEHPK3PXP"))
	ev, _ := events.New("u1", time.Now(), events.Context{}, &events.TOTPEnrollmentStarted{Secret: sealed})
	forgot, _ := events.New("u1", time.Now(), events.Context{Actor: "admin"}, &events.UserForgotten{Reason: "request"})
	if _, err := st.Append(ctx, 0, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, store.AnySeq, forgot); err != nil {
		t.Fatal(err)
	}
	if err := sealer.Destroy(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	key, _ := audit.LoadSigningKey(dir)
	notary := audit.NewNotary(st, key, audit.NotaryOptions{Every: 2, Interval: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- notary.Run(rctx) }()
	// With a checkpoint every 2 events, both are sealed as soon as the notary sees them.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{notary.PublicKey()}})
		if err == nil && rep.SealedThrough == 2 {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{notary.PublicKey()}})
	if err != nil || !rep.OK() || rep.SealedThrough != 2 {
		t.Fatalf("verify after shredding: %+v %v", rep, err)
	}
	if _, err := sealer.Open(ctx, "u1", sealed); !errors.Is(err, seal.ErrShredded) {
		t.Fatalf("sealed value still readable: %v", err)
	}
}
