package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/internal/eventstest"
	"github.com/jfguard/jfguard/events/store"
	"github.com/minio/highwayhash"
)

// sealAll appends n events to a fresh store, runs a notary until it has sealed them
// all, and stops everything cleanly.
func sealAll(t *testing.T, dir string, n, every int) ed25519.PublicKey {
	t.Helper()
	conn, st := eventstest.StartStore(t, dir)
	ctx := context.Background()
	key, err := audit.LoadSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, fmt.Sprintf("u%d", i%7), fmt.Sprintf("name-%06d", i))); err != nil {
			t.Fatal(err)
		}
	}
	notary := audit.NewNotary(st, key, audit.NotaryOptions{Every: every, Interval: time.Hour})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- notary.Run(rctx) }()
	// Wait (bounded) until the count-triggered checkpoints exist, then stop: the final
	// flush on shutdown seals the rest.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{notary.PublicKey()}})
		if err == nil && rep.SealedThrough >= uint64(n/every*every) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	conn.Close()
	return notary.PublicKey()
}

func verifyDir(t *testing.T, dir string, pub ed25519.PublicKey) audit.VerifyReport {
	t.Helper()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	rep, err := audit.Verify(context.Background(), st, audit.VerifyOptions{Keys: []ed25519.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyCleanStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pub := sealAll(t, dir, 2500, 1000)
	rep := verifyDir(t, dir, pub)
	if !rep.OK() || rep.Events != 2500 || rep.SealedThrough != 2500 || rep.Unsealed != 0 || rep.Checkpoints != 3 {
		t.Fatalf("clean stream: %+v", rep)
	}
	// A different key is not trusted.
	other, _, _ := ed25519.GenerateKey(nil)
	rep = verifyDir(t, dir, other)
	if rep.OK() || rep.FirstBad != 1 {
		t.Fatalf("untrusted key accepted: %+v", rep)
	}
}

// TestVerifyDetectsOnDiskTampering edits the stream's block file while jfguard is
// stopped, as an attacker with disk access would. The naive edits are caught by the
// store's own checksums (the server drops the records from there on); the forged ones
// recompute those checksums so the server serves the edited events, and only the
// audit digests catch them. Either way verify names the first bad sequence.
// name-N is the payload of sequence N+1.
func TestVerifyDetectsOnDiskTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		edit     func(t *testing.T, b []byte) []byte
		firstBad uint64
	}{
		{"altered", func(t *testing.T, b []byte) []byte {
			i := bytes.Index(b, []byte("name-001234"))
			copy(b[i:], "name-999999")
			return b
		}, 1235},
		{"altered, checksum forged", func(t *testing.T, b []byte) []byte {
			r := findRecord(t, b, "name-001234")
			i := bytes.Index(b, []byte("name-001234"))
			copy(b[i:], "name-999999")
			reChecksum(b, r)
			return b
		}, 1235},
		{"reordered, checksums forged", func(t *testing.T, b []byte) []byte {
			r1, r2 := findRecord(t, b, "name-000100"), findRecord(t, b, "name-000101")
			i, j := bytes.Index(b, []byte("name-000100")), bytes.Index(b, []byte("name-000101"))
			copy(b[i:], "name-000101")
			copy(b[j:], "name-000100")
			reChecksum(b, r1)
			reChecksum(b, r2)
			return b
		}, 101},
		{"removed from the middle", func(t *testing.T, b []byte) []byte {
			r := findRecord(t, b, "name-000499")
			return append(b[:r.start:r.start], b[r.end:]...)
		}, 500},
		{"removed tail", func(t *testing.T, b []byte) []byte {
			return b[:findRecord(t, b, "name-001400").start]
		}, 1401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pub := sealAll(t, dir, 1500, 1000)
			blk := findBlock(t, dir, store.StreamName)
			b, err := os.ReadFile(blk)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blk, tc.edit(t, b), 0o600); err != nil {
				t.Fatal(err)
			}
			removeIndexes(t, dir)
			rep := verifyDir(t, dir, pub)
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.FirstBad != tc.firstBad {
				t.Fatalf("first bad = %d, want %d; problems: %s", rep.FirstBad, tc.firstBad, strings.Join(rep.Problems, "; "))
			}
			t.Logf("reported: %s", strings.Join(rep.Problems, "; "))
		})
	}
}

// record is one message record of a JetStream file-store block:
// len(4) seq(8) ts(8) subjlen(2) subj [hdrlen(4) hdr] msg checksum(8).
type record struct{ start, end int }

func findRecord(t *testing.T, b []byte, contains string) record {
	t.Helper()
	for i := 0; i+22 <= len(b); {
		rl := int(binary.LittleEndian.Uint32(b[i:]) &^ (1 << 31))
		if rl < 22 || i+rl > len(b) {
			break
		}
		if bytes.Contains(b[i:i+rl], []byte(contains)) {
			return record{i, i + rl}
		}
		i += rl
	}
	t.Fatalf("no record holds %q", contains)
	return record{}
}

// reChecksum recomputes a record's checksum the way the file store does (HighwayHash
// keyed by the stream name and block index), so the server accepts the forgery.
func reChecksum(b []byte, r record) {
	key := sha256.Sum256([]byte(store.StreamName + "-1"))
	hh, _ := highwayhash.New64(key[:])
	rec := b[r.start:r.end]
	hasHdr := binary.LittleEndian.Uint32(rec)&(1<<31) != 0
	slen := int(binary.LittleEndian.Uint16(rec[20:]))
	hh.Write(rec[4:20])
	p := 22
	hh.Write(rec[p : p+slen])
	p += slen
	if hasHdr {
		hlen := int(binary.LittleEndian.Uint32(rec[p:]))
		p += 4
		hh.Write(rec[p : p+hlen])
		p += hlen
	}
	hh.Write(rec[p : len(rec)-8])
	copy(rec[len(rec)-8:], hh.Sum(nil))
}

func findBlock(t *testing.T, dir, stream string) string {
	t.Helper()
	var found string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "/"+stream+"/") && strings.HasSuffix(p, ".blk") && found == "" {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no block file for %s under %s", stream, dir)
	}
	return found
}

// removeIndexes deletes the stream's cached index so the server rebuilds its state
// from the edited block, as it would after an attacker tidied up.
func removeIndexes(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(p, "/"+store.StreamName+"/") && (strings.HasSuffix(p, "index.db") || strings.HasSuffix(p, ".idx")) {
			os.Remove(p)
		}
		return nil
	})
}

// TestNotaryStoppedAtOnceIsNoFailure: a node stopped right after starting (before its
// notary subscribed) shuts down cleanly.
func TestNotaryStoppedAtOnceIsNoFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	key, _ := audit.LoadSigningKey(dir)
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- audit.NewNotary(st, key, audit.NotaryOptions{}).Run(ctx) }()
		if i%2 == 0 {
			cancel()
		} else {
			time.Sleep(time.Millisecond)
			cancel()
		}
		if err := <-done; err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
}

// TestTwoNotariesSealingTheSameRange: two nodes' notaries seal the same events at
// once; the second one's checkpoint has the same message id as the first's, so
// JetStream answers it as a duplicate. The second must take the stored checkpoint as
// the last, not its own unsent body, or its next checkpoint would not follow the
// stored one and verify would fail.
func TestTwoNotariesSealingTheSameRange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conn, st := eventstest.StartStore(t, dir)
	defer conn.Close()
	ctx := context.Background()
	if _, err := audit.OpenStream(ctx, st.JetStream(), 1); err != nil {
		t.Fatal(err)
	}
	_, keyA, _ := ed25519.GenerateKey(nil)
	_, keyB, _ := ed25519.GenerateKey(nil)
	a := audit.NewNotary(st, keyA, audit.NotaryOptions{Every: 1000, Interval: time.Hour})
	b := audit.NewNotary(st, keyB, audit.NotaryOptions{Every: 1000, Interval: time.Hour})
	append := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := st.Append(ctx, store.AnySeq, eventstest.Discovered(t, "u1", fmt.Sprintf("n%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	append(5)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(rctx) }()
	go func() { doneB <- b.Run(rctx) }()
	sealed := func(want uint64, first, second *audit.Notary) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			errA, errB := first.Flush(ctx), second.Flush(ctx)
			if errA != nil || errB != nil {
				t.Fatalf("flush: %v %v", errA, errB)
			}
			rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Keys: []ed25519.PublicKey{a.PublicKey(), b.PublicKey()}})
			if err == nil && rep.SealedThrough >= want {
				if !rep.OK() {
					t.Fatalf("after two notaries sealed through %d: %+v", want, rep)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not sealed through %d: %+v %v", want, rep, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Give both notaries every event before either seals.
	time.Sleep(300 * time.Millisecond)
	sealed(5, a, b)
	append(3)
	time.Sleep(300 * time.Millisecond)
	sealed(8, b, a) // now the one that got a duplicate seals first
	cancel()
	<-doneA
	<-doneB
}
