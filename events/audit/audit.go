// Package audit keeps the event stream's integrity: the hash chain over every
// event, the checkpoints a notary signs over it, their verification, and the
// rotation of the master, trust-cookie and checkpoint keys.
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/keyfile"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Audit stream: signed checkpoints over the event stream.
const (
	StreamName      = "JFGUARD_AUDIT"
	auditSubject    = "jfguard.audit.checkpoint"
	signatureHeader = "Jfguard-Signature"
	digestLen       = 16 // bytes of each event digest kept in a checkpoint
)

// Checkpoint is a signed statement over events FromSeq..ToSeq: their digests in order
// and the hash chain head after ToSeq, linked to the previous checkpoint.
type Checkpoint struct {
	V       int       `json:"v"`
	Stream  string    `json:"stream"`
	FromSeq uint64    `json:"from_seq"`
	ToSeq   uint64    `json:"to_seq"`
	Prev    string    `json:"prev"`
	Head    string    `json:"head"`
	Digests string    `json:"digests"`
	Time    time.Time `json:"time"`
	Key     string    `json:"key"`
}

// EventDigest is the integrity digest of one stored event: its position, subject,
// message id, storage time and bytes.
func EventDigest(m store.RawMsg) [32]byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte("jfguard-audit-v1\n"))
	binary.BigEndian.PutUint64(b[:], m.Seq)
	h.Write(b[:])
	h.Write([]byte(m.Subject))
	h.Write([]byte{0})
	h.Write([]byte(m.MsgID))
	h.Write([]byte{0})
	binary.BigEndian.PutUint64(b[:], uint64(m.Time.UnixNano()))
	h.Write(b[:])
	h.Write(m.Data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func chain(head [32]byte, d [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], head[:])
	copy(buf[32:], d[:])
	return sha256.Sum256(buf[:])
}

// LoadSigningKey returns the Ed25519 checkpoint key from dataDir/audit.key, creating
// it on first start.
func LoadSigningKey(dataDir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dataDir, "audit.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
		if err := keyfile.WriteExclusive(path, []byte(enc)); err != nil {
			if errors.Is(err, os.ErrExist) {
				return LoadSigningKey(dataDir)
			}
			return nil, fmt.Errorf("create audit key %s: %w", path, err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: not an Ed25519 seed in base64", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// auditPubFile lists, one a line, the public keys a node signed checkpoints with
// before its current one, oldest first.
const auditPubFile = "audit.pub"

// LoadKeys returns the node's checkpoint key (dataDir/audit.key, created on
// first start) and the public keys it used before (dataDir/audit.pub), oldest first.
func LoadKeys(dataDir string) (ed25519.PrivateKey, []ed25519.PublicKey, error) {
	priv, err := LoadSigningKey(dataDir)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dataDir, auditPubFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return priv, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read previous audit keys: %w", err)
	}
	var previous []ed25519.PublicKey
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, err := ParsePublicKey(line)
		if err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		previous = append(previous, pub)
	}
	return priv, previous, nil
}

// writeAuditKey makes next the node's checkpoint key and adds prev, the key it
// replaces, to the previous keys. The previous list is written first: a crash in
// between leaves the old key current and also listed as previous, which is
// harmless, and never loses a public key a checkpoint was signed with.
func writeAuditKey(dataDir string, prev, next ed25519.PrivateKey) error {
	path := filepath.Join(dataDir, auditPubFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record the previous audit key: %w", err)
	}
	_, err = f.WriteString(FormatPublicKey(prev.Public().(ed25519.PublicKey)) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record the previous audit key: %w", err)
	}
	return keyfile.WriteAtomic(filepath.Join(dataDir, "audit.key"), []byte(base64.StdEncoding.EncodeToString(next.Seed())+"\n"))
}

// AuditKeyRotationMessage is what both keys of an audit key rotation sign.
func AuditKeyRotationMessage(node, previousKey, key string) []byte {
	return []byte("jfguard audit key rotation\nnode " + node + "\nprevious " + previousKey + "\nkey " + key + "\n")
}

// NewAuditKeyRotated records that node's checkpoint key changes from prev to next,
// signed by both.
func NewAuditKeyRotated(node string, prev, next ed25519.PrivateKey) *events.AuditKeyRotated {
	e := &events.AuditKeyRotated{
		Node:        node,
		PreviousKey: FormatPublicKey(prev.Public().(ed25519.PublicKey)),
		Key:         FormatPublicKey(next.Public().(ed25519.PublicKey)),
	}
	msg := AuditKeyRotationMessage(e.Node, e.PreviousKey, e.Key)
	e.PreviousSignature = base64.StdEncoding.EncodeToString(ed25519.Sign(prev, msg))
	e.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(next, msg))
	return e
}

// rotationSigned reports whether both keys named in the rotation signed it.
func rotationSigned(e *events.AuditKeyRotated) bool {
	prev, err1 := ParsePublicKey(e.PreviousKey)
	next, err2 := ParsePublicKey(e.Key)
	psig, err3 := base64.StdEncoding.DecodeString(e.PreviousSignature)
	nsig, err4 := base64.StdEncoding.DecodeString(e.Signature)
	if err := errors.Join(err1, err2, err3, err4); err != nil || e.PreviousKey == e.Key {
		return false
	}
	msg := AuditKeyRotationMessage(e.Node, e.PreviousKey, e.Key)
	return ed25519.Verify(prev, msg, psig) && ed25519.Verify(next, msg, nsig)
}

// FormatPublicKey prints a checkpoint key for offline checks.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a key printed by FormatPublicKey; a word after it (as in
// `jfguard audit pubkey`: "current", "previous") is ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	key, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "ed25519:"))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not an Ed25519 public key (ed25519:<base64>)", s)
	}
	return b, nil
}

// OpenStream creates or checks the checkpoint stream; like the event stream it
// must refuse deletes and purges.
func OpenStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	if replicas <= 0 {
		replicas = 1
	}
	return store.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "jfguard signed audit checkpoints over JFGUARD_EVENTS",
		Subjects:    []string{"jfguard.audit.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Replicas:    replicas,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}, store.CheckEventStream)
}

// NotaryOptions tune how often checkpoints are written.
type NotaryOptions struct {
	Every    int           // events per checkpoint at most; default 1000
	Interval time.Duration // time between checkpoints at most; default 60s
	Logger   *slog.Logger
}

// Notary follows the event stream and writes a signed checkpoint at least every
// Every events or Interval. Several nodes may run one: a checkpoint is published only
// if the audit stream has not moved since the notary last read it, so exactly one
// node's checkpoint covers each range.
type Notary struct {
	store *store.Store
	js    jetstream.JetStream
	key   ed25519.PrivateKey
	opts  NotaryOptions
	log   *slog.Logger

	mu       sync.Mutex
	last     checkpointPos
	head     [32]byte
	pending  [][32]byte
	nextSeq  uint64
	lastTime time.Time
}

type checkpointPos struct {
	auditSeq uint64
	toSeq    uint64
	bodyHash string
	head     [32]byte
}

// NewNotary prepares a notary; Run starts it.
func NewNotary(st *store.Store, key ed25519.PrivateKey, opts NotaryOptions) *Notary {
	if opts.Every <= 0 {
		opts.Every = 1000
	}
	if opts.Interval <= 0 {
		opts.Interval = 60 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Notary{store: st, js: st.JetStream(), key: key, opts: opts, log: log}
}

// PublicKey is the key verifiers need.
func (n *Notary) PublicKey() ed25519.PublicKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.key.Public().(ed25519.PublicKey)
}

// Rotate switches the notary to a new key. Everything received so far is sealed
// with the current key first; then record runs (it writes the key files and
// appends the audit_key_rotated event, whose position is where the current key
// retires) and, if it succeeds, the new key signs from then on. No checkpoint is
// written in between, so no checkpoint that begins after the rotation event is
// signed by the retired key.
func (n *Notary) Rotate(ctx context.Context, next ed25519.PrivateKey, record func(ctx context.Context, prev ed25519.PrivateKey) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.flushLocked(ctx); err != nil {
		return err
	}
	if err := record(ctx, n.key); err != nil {
		return err
	}
	n.key = next
	return nil
}

// loadLast reads the newest checkpoint.
func (n *Notary) loadLast(ctx context.Context) (checkpointPos, error) {
	stream, err := n.js.Stream(ctx, StreamName)
	if err != nil {
		return checkpointPos{}, err
	}
	msg, err := stream.GetLastMsgForSubject(ctx, auditSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return checkpointPos{}, nil
	}
	if err != nil {
		return checkpointPos{}, fmt.Errorf("read last checkpoint: %w", err)
	}
	var cp Checkpoint
	if err := json.Unmarshal(msg.Data, &cp); err != nil {
		return checkpointPos{}, fmt.Errorf("decode last checkpoint: %w", err)
	}
	headB, err := decodeHex32(cp.Head)
	if err != nil {
		return checkpointPos{}, fmt.Errorf("last checkpoint head: %w", err)
	}
	return checkpointPos{auditSeq: msg.Sequence, toSeq: cp.ToSeq, bodyHash: bodyHash(msg.Data), head: headB}, nil
}

func bodyHash(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s)
}

func decodeHex32(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 {
		return out, fmt.Errorf("bad hash %q", s)
	}
	for i := 0; i < 32; i++ {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return out, fmt.Errorf("bad hash %q", s)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// Run follows the stream until ctx ends, then writes a final checkpoint so a clean
// shutdown leaves nothing unsealed.
func (n *Notary) Run(ctx context.Context) error {
	// Stopping before the notary got going is a normal stop, not a failure: nothing
	// was received, so nothing is left to seal.
	stopped := func(err error) error {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if _, err := OpenStream(ctx, n.js, 0); err != nil {
		return stopped(err)
	}
	if err := n.reset(ctx); err != nil {
		return stopped(err)
	}
	msgs := make(chan store.RawMsg, 8192)
	sub, err := n.subscribe(ctx, msgs)
	if err != nil {
		return stopped(err)
	}
	ticker := time.NewTicker(n.opts.Interval / 4)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			sub.Stop()
			// Drain what was already delivered, then seal it.
			for {
				select {
				case m := <-msgs:
					n.add(m)
					continue
				default:
				}
				break
			}
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := n.Flush(fctx)
			cancel()
			return err
		case m := <-msgs:
			n.add(m)
			if n.pendingCount() >= n.opts.Every {
				n.checkpointLogged(ctx)
			}
		case <-ticker.C:
			if n.pendingCount() > 0 && time.Since(n.lastCheckpointTime()) >= n.opts.Interval {
				n.checkpointLogged(ctx)
			}
		}
	}
}

func (n *Notary) subscribe(ctx context.Context, msgs chan<- store.RawMsg) (*store.Subscription, error) {
	n.mu.Lock()
	from := n.nextSeq
	n.mu.Unlock()
	return n.store.SubscribeRaw(ctx, from, nil, func(m store.RawMsg) {
		// Copy: the message buffer is reused by the client.
		m.Data = append([]byte(nil), m.Data...)
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	})
}

func (n *Notary) reset(ctx context.Context) error {
	last, err := n.loadLast(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = last
	n.head = last.head
	n.pending = n.pending[:0]
	n.nextSeq = last.toSeq + 1
	n.lastTime = time.Now()
	return nil
}

func (n *Notary) pendingCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

func (n *Notary) lastCheckpointTime() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastTime
}

func (n *Notary) add(m store.RawMsg) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.Seq < n.nextSeq {
		return // already sealed (by another node, or redelivered)
	}
	for m.Seq > n.nextSeq {
		// A position with no message: it was deleted before sealing. Seal the gap
		// as an all-zero digest so verify reports it as missing at sealing time.
		n.log.Error("audit: event missing from the stream before it was sealed", "seq", n.nextSeq)
		n.pending = append(n.pending, [32]byte{})
		n.head = chain(n.head, [32]byte{})
		n.nextSeq++
	}
	d := EventDigest(m)
	n.pending = append(n.pending, d)
	n.head = chain(n.head, d)
	n.nextSeq++
}

func (n *Notary) checkpointLogged(ctx context.Context) {
	if err := n.Flush(ctx); err != nil && ctx.Err() == nil {
		n.log.Error("audit: checkpoint failed", "err", err)
	}
}

// Flush writes a checkpoint over everything received and not yet sealed.
func (n *Notary) Flush(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.flushLocked(ctx)
}

// flushLocked is Flush with n.mu held.
func (n *Notary) flushLocked(ctx context.Context) error {
	if len(n.pending) == 0 {
		return nil
	}
	from := n.last.toSeq + 1
	to := from + uint64(len(n.pending)) - 1
	digests := make([]byte, 0, len(n.pending)*digestLen)
	for _, d := range n.pending {
		digests = append(digests, d[:digestLen]...)
	}
	cp := Checkpoint{
		V: 1, Stream: store.StreamName, FromSeq: from, ToSeq: to,
		Prev: n.last.bodyHash, Head: fmt.Sprintf("%x", n.head),
		Digests: base64.StdEncoding.EncodeToString(digests),
		Time:    time.Now().UTC(), Key: FormatPublicKey(n.key.Public().(ed25519.PublicKey)),
	}
	body, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(auditSubject)
	msg.Data = body
	msg.Header.Set(signatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(n.key, body)))
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("cp-%d-%d", from, to))
	ack, err := n.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequence(n.last.auditSeq))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			// Another node sealed first: adopt its position and keep what it did not cover.
			n.mu.Unlock()
			rerr := n.adoptOther(ctx)
			n.mu.Lock()
			return rerr
		}
		return fmt.Errorf("publish checkpoint: %w", err)
	}
	if ack.Duplicate {
		// Another node sealed the same range first, under the same message id: the
		// stored checkpoint is its body, not ours, so ours must not be the next one's
		// predecessor. Adopt the stored one, as after a lost race.
		n.mu.Unlock()
		rerr := n.adoptOther(ctx)
		n.mu.Lock()
		return rerr
	}
	n.last = checkpointPos{auditSeq: ack.Sequence, toSeq: to, bodyHash: bodyHash(body), head: n.head}
	n.pending = n.pending[:0]
	n.lastTime = time.Now()
	return nil
}

// adoptOther re-reads the newest checkpoint after losing a race and drops the pending
// digests it covers. The digests it does not cover are kept only if they continue
// its chain; otherwise they are recomputed from the stream.
func (n *Notary) adoptOther(ctx context.Context) error {
	last, err := n.loadLast(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	covered := last.toSeq - n.last.toSeq
	if last.toSeq < n.last.toSeq || covered > uint64(len(n.pending)) {
		// The other node is ahead of everything we saw; restart from its position.
		n.last, n.head, n.pending, n.nextSeq = last, last.head, n.pending[:0], last.toSeq+1
		return nil
	}
	rest := append([][32]byte(nil), n.pending[covered:]...)
	head := last.head
	for _, d := range rest {
		head = chain(head, d)
	}
	n.last, n.head, n.pending = last, head, rest
	return nil
}

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Keys are the trusted checkpoint keys; a checkpoint signed by another key fails.
	Keys []ed25519.PublicKey
	// Progress, when set, is called now and then with events checked so far and the
	// total.
	Progress func(done, total uint64)
}

// VerifyReport is the outcome of a verification.
type VerifyReport struct {
	Events        uint64   `json:"events"`
	Checkpoints   int      `json:"checkpoints"`
	SealedThrough uint64   `json:"sealed_through"`
	Unsealed      uint64   `json:"unsealed"`
	FirstBad      uint64   `json:"first_bad,omitempty"`
	Problems      []string `json:"problems,omitempty"`
	// Forged lists the events whose MAC is missing or wrong: written around jfguard
	// (or altered), never applied by the fold.
	Forged []uint64 `json:"forged,omitempty"`
	// MACsChecked is false when the store had no authenticator (no master key).
	MACsChecked bool `json:"macs_checked"`
}

// OK reports whether no event was altered, removed or reordered.
func (r VerifyReport) OK() bool { return r.FirstBad == 0 && len(r.Problems) == 0 }

func (r *VerifyReport) fail(seq uint64, format string, args ...any) {
	if r.FirstBad == 0 || seq < r.FirstBad {
		r.FirstBad = seq
	}
	if len(r.Problems) < 20 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

type verifiedCheckpoint struct {
	Checkpoint
	digests []byte
	head    [32]byte
}

// Verify recomputes every event's digest and the hash chain and checks them against
// the signed checkpoints. It names the first sequence that was altered, removed or
// reordered.
func Verify(ctx context.Context, st *store.Store, opts VerifyOptions) (VerifyReport, error) {
	auth := st.Authenticator()
	rep := VerifyReport{MACsChecked: auth != nil}
	var replays events.ReplayGuard
	keys, err := loadAuditKeyHistory(ctx, st, opts.Keys, &rep)
	if err != nil {
		return rep, err
	}
	cps, err := readCheckpoints(ctx, st.JetStream(), keys, &rep)
	if err != nil {
		return rep, err
	}
	total, err := st.LastSeq(ctx)
	if err != nil {
		return rep, err
	}
	var sealedThrough uint64
	if len(cps) > 0 {
		sealedThrough = cps[len(cps)-1].ToSeq
	}
	rep.SealedThrough = sealedThrough

	var head [32]byte
	expect := uint64(1)
	ci := 0
	_, err = st.ScanRaw(ctx, 1, func(m store.RawMsg) error {
		for expect < m.Seq {
			rep.fail(expect, "event %d is missing from the stream", expect)
			head = chain(head, [32]byte{})
			expect++
		}
		if m.Seq < expect {
			rep.fail(m.Seq, "event %d appears out of order", m.Seq)
			return nil
		}
		if auth != nil {
			a := store.AuthOf(auth, m)
			if a == events.AuthValid {
				if ev, err := events.DecodeMsg(m.Subject, m.Seq, m.Data); err == nil && replays.Replayed(ev.ID, ev.Time, m.Time) {
					a = events.AuthReplayed
				}
			}
			if a != events.AuthValid {
				if len(rep.Forged) < 1000 {
					rep.Forged = append(rep.Forged, m.Seq)
				}
				if a == events.AuthReplayed {
					rep.fail(m.Seq, "event %d on %s is a copy of an event jfguard wrote earlier, appended again (replayed); the fold never applied it", m.Seq, m.Subject)
				} else {
					rep.fail(m.Seq, "event %d on %s has a %s MAC: it was not written by jfguard (forged or altered); the fold never applied it", m.Seq, m.Subject, a)
				}
			}
		}
		d := EventDigest(m)
		head = chain(head, d)
		for ci < len(cps) && cps[ci].ToSeq < m.Seq {
			ci++
		}
		if ci < len(cps) && cps[ci].FromSeq <= m.Seq {
			cp := cps[ci]
			off := (m.Seq - cp.FromSeq) * digestLen
			if !bytes.Equal(cp.digests[off:off+digestLen], d[:digestLen]) {
				rep.fail(m.Seq, "event %d does not match checkpoint %d-%d: it was altered or replaced", m.Seq, cp.FromSeq, cp.ToSeq)
			}
			if m.Seq == cp.ToSeq && head != cp.head {
				rep.fail(m.Seq, "hash chain at event %d does not match checkpoint %d-%d", m.Seq, cp.FromSeq, cp.ToSeq)
			}
		}
		rep.Events++
		expect = m.Seq + 1
		if opts.Progress != nil && rep.Events%50000 == 0 {
			opts.Progress(rep.Events, total)
		}
		return nil
	})
	var unreadable *store.UnreadableError
	if errors.As(err, &unreadable) {
		rep.fail(unreadable.Seq, "event %d cannot be read from the store: its file was damaged or edited", unreadable.Seq)
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	if last := expect - 1; last < sealedThrough {
		rep.fail(last+1, "events %d-%d were sealed but are gone from the stream", last+1, sealedThrough)
	}
	if expect-1 > sealedThrough {
		rep.Unsealed = expect - 1 - sealedThrough
	}
	if opts.Progress != nil {
		opts.Progress(rep.Events, total)
	}
	return rep, nil
}

// auditKeyHistory is what the log says about checkpoint keys: which keys are
// trusted, and from which event on a key is retired.
type auditKeyHistory struct {
	trusted []ed25519.PublicKey
	retired map[string]uint64 // formatted key → sequence of the event that retired it
}

// loadAuditKeyHistory reads the audit key rotations recorded in the log. A
// rotation signed by both of its keys carries trust both ways: a verifier that
// trusts the previous key learns the new one from the log (whoever holds the
// previous private key endorsed it), and one that trusts only today's key learns
// the ones before it. The rotation's position retires the previous key: a
// checkpoint that begins after it and is signed by that key was made with a key
// that should no longer exist, by a thief or a forgotten node, and fails. A
// rotation its keys did not sign, or one of a key retired before, is a forgery and
// fails too.
func loadAuditKeyHistory(ctx context.Context, st *store.Store, keys []ed25519.PublicKey, rep *VerifyReport) (auditKeyHistory, error) {
	h := auditKeyHistory{retired: map[string]uint64{}}
	evs, _, err := st.Load(ctx, events.AggSystem, events.KeysAggregateID)
	var unreadable *store.UnreadableError
	if err != nil && !errors.As(err, &unreadable) {
		return h, fmt.Errorf("read the audit key rotations: %w", err)
	}
	type rotation struct{ prev, next string }
	var rotations []rotation
	for _, ev := range evs {
		if ev.Type != events.TypeAuditKeyRotated {
			continue
		}
		e, err := events.Data[*events.AuditKeyRotated](ev)
		if err != nil || !rotationSigned(e) {
			rep.fail(ev.Seq, "event %d records an audit key rotation its keys did not sign", ev.Seq)
			continue
		}
		if at, ok := h.retired[e.PreviousKey]; ok {
			rep.fail(ev.Seq, "event %d rotates the audit key %s again, which event %d retired", ev.Seq, e.PreviousKey, at)
			continue
		}
		h.retired[e.PreviousKey] = ev.Seq
		rotations = append(rotations, rotation{e.PreviousKey, e.Key})
	}
	trusted := map[string]bool{}
	for _, k := range keys {
		trusted[FormatPublicKey(k)] = true
	}
	for changed := true; changed; {
		changed = false
		for _, r := range rotations {
			if trusted[r.prev] != trusted[r.next] {
				trusted[r.prev], trusted[r.next], changed = true, true, true
			}
		}
	}
	for k := range trusted {
		pub, err := ParsePublicKey(k)
		if err == nil {
			h.trusted = append(h.trusted, pub)
		}
	}
	return h, nil
}

// signer returns the trusted key that made sig over body.
func (h auditKeyHistory) signer(body, sig []byte) (string, bool) {
	if len(sig) != ed25519.SignatureSize {
		return "", false
	}
	for _, k := range h.trusted {
		if ed25519.Verify(k, body, sig) {
			return FormatPublicKey(k), true
		}
	}
	return "", false
}

// readCheckpoints loads, authenticates and links every checkpoint.
func readCheckpoints(ctx context.Context, js jetstream.JetStream, keys auditKeyHistory, rep *VerifyReport) ([]verifiedCheckpoint, error) {
	var out []verifiedCheckpoint
	prevHash := ""
	var prevTo uint64
	_, err := store.ScanStream(ctx, js, StreamName, "", 1, nil, func(m store.RawMsg) error {
		rep.Checkpoints++
		var cp Checkpoint
		if err := json.Unmarshal(m.Data, &cp); err != nil {
			rep.fail(prevTo+1, "checkpoint at audit sequence %d is unreadable", m.Seq)
			return nil
		}
		sig, _ := base64.StdEncoding.DecodeString(m.Header.Get(signatureHeader))
		signer, ok := keys.signer(m.Data, sig)
		if !ok {
			rep.fail(cp.FromSeq, "checkpoint %d-%d is not signed by a trusted key", cp.FromSeq, cp.ToSeq)
			return nil
		}
		if at, retired := keys.retired[signer]; retired && cp.FromSeq > at {
			rep.fail(cp.FromSeq, "checkpoint %d-%d is signed by the audit key %s, which event %d retired", cp.FromSeq, cp.ToSeq, signer, at)
			return nil
		}
		if cp.Prev != prevHash || cp.FromSeq != prevTo+1 || cp.ToSeq < cp.FromSeq {
			rep.fail(prevTo+1, "checkpoint %d-%d does not follow the previous one (a checkpoint was removed or reordered)", cp.FromSeq, cp.ToSeq)
		}
		digests, err := base64.StdEncoding.DecodeString(cp.Digests)
		if err != nil || uint64(len(digests)) != (cp.ToSeq-cp.FromSeq+1)*digestLen {
			rep.fail(cp.FromSeq, "checkpoint %d-%d has a malformed digest list", cp.FromSeq, cp.ToSeq)
			return nil
		}
		head, err := decodeHex32(cp.Head)
		if err != nil {
			rep.fail(cp.FromSeq, "checkpoint %d-%d has a malformed head", cp.FromSeq, cp.ToSeq)
			return nil
		}
		out = append(out, verifiedCheckpoint{Checkpoint: cp, digests: digests, head: head})
		prevHash, prevTo = bodyHash(m.Data), cp.ToSeq
		return nil
	})
	return out, err
}
