package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"io"
	"time"
)

// KeyRotation asks for keys to be rotated. Grace is how long the previous
// trust-cookie and master keys stay valid.
type KeyRotation struct {
	Trust, Audit, Master bool
	Grace                time.Duration
}

// KeyRotationReport is what a rotation recorded, one event per key rotated.
type KeyRotationReport struct {
	Master *events.MasterKeyRotated `json:"master,omitempty"`
	Trust  *events.TrustKeyRotated  `json:"trust,omitempty"`
	Audit  *events.AuditKeyRotated  `json:"audit,omitempty"`
	// LastSeq is the sequence of the last event recorded.
	LastSeq uint64 `json:"last_seq"`
}

// ErrRotationStore: the rotator is missing something it needs.
var ErrRotationStore = errors.New("key rotation needs the store, the sealer and the master keyring")

// KeyRotator rotates the keys of one node, with the server running (Notary set)
// or on a stopped data directory (Notary nil).
type KeyRotator struct {
	Store  *store.Store
	Sealer *seal.Sealer
	Ring   *seal.MasterKeyring
	// Notary is the running notary, switched to the new audit key; nil offline.
	Notary *Notary
	// DataDir holds the node's audit key files.
	DataDir string
	// Node names the node in audit_key_rotated.
	Node   string
	Clock  func() time.Time
	Random io.Reader
}

// Rotate rotates what req asks, in this order: the master key (which also
// rotates the trust-cookie key, derived from it), the trust-cookie key, then the
// audit key; each rotation is recorded as an event with ec as its context. It
// stops at the first failure; what was rotated before stays rotated and recorded.
func (r KeyRotator) Rotate(ctx context.Context, req KeyRotation, ec events.Context) (KeyRotationReport, error) {
	var rep KeyRotationReport
	if r.Store == nil || r.Sealer == nil || r.Ring == nil {
		return rep, ErrRotationStore
	}
	if req.Grace < 0 {
		return rep, fmt.Errorf("grace %s is negative; fix: give a duration like 168h, or 0 to refuse the previous keys at once", req.Grace)
	}
	masterBefore := r.Ring.Current().ID
	if req.Master {
		if err := r.rotateMaster(ctx, req.Grace, ec, masterBefore, &rep); err != nil {
			return rep, err
		}
	} else if req.Trust {
		if err := r.rotateTrust(ctx, req.Grace, ec, masterBefore, &rep); err != nil {
			return rep, err
		}
	}
	if req.Audit {
		if err := r.rotateAudit(ctx, ec, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// rotateMaster makes a new master key current, starts a trust-key generation
// under it (the current generation's key is derived from the master key, so it
// changes anyway, and this way the previous generation keeps its grace), re-wraps
// every data key under both keys and records the rotation. The new key is in the
// keyring file before anything is wrapped under it, and the previous one stays
// there until its grace is over (Sealer.RetireExpired), so a crash at any point
// leaves every data key openable; running the rotation again finishes the job.
func (r KeyRotator) rotateMaster(ctx context.Context, grace time.Duration, ec events.Context, masterBefore string, rep *KeyRotationReport) error {
	now := r.clock()
	next, err := r.Ring.Rotate(now, grace, r.random())
	if err != nil {
		return fmt.Errorf("rotate the master key: %w", err)
	}
	if err := r.rotateTrust(ctx, grace, ec, masterBefore, rep); err != nil {
		return err
	}
	n, err := r.Sealer.Rewrap(ctx)
	if err != nil {
		return fmt.Errorf("re-wrap the data keys under the new master key (the keyring holds both keys, so every value still opens; run the rotation again to finish): %w", err)
	}
	e := &events.MasterKeyRotated{KeyID: next.ID, PreviousKeyID: masterBefore, PreviousValidUntil: now.Add(grace).UTC().Truncate(time.Second), DataKeys: n}
	if err := r.record(ctx, ec, e, rep); err != nil {
		return err
	}
	rep.Master = e
	return nil
}

// rotateTrust records the next trust-key generation, derived from the current
// master key.
func (r KeyRotator) rotateTrust(ctx context.Context, grace time.Duration, ec events.Context, masterBefore string, rep *KeyRotationReport) error {
	evs, _, err := r.Store.Load(ctx, events.AggSystem, events.KeysAggregateID)
	if err != nil {
		return fmt.Errorf("read the trust key generations: %w", err)
	}
	var st seal.TrustKeyState
	for _, ev := range evs {
		if e, err := events.Data[*events.TrustKeyRotated](ev); err == nil {
			st.Apply(e)
		}
	}
	prevMaster := st.Current.MasterKeyID
	if prevMaster == "" {
		prevMaster = masterBefore
	}
	e := &events.TrustKeyRotated{
		Generation: st.Current.Generation + 1, MasterKeyID: r.Ring.Current().ID,
		PreviousGeneration: st.Current.Generation, PreviousMasterKeyID: prevMaster,
		PreviousValidUntil: r.clock().Add(grace).UTC().Truncate(time.Second),
	}
	if err := r.record(ctx, ec, e, rep); err != nil {
		return err
	}
	rep.Trust = e
	return nil
}

// rotateAudit gives the node a new checkpoint key. With the server running, the
// notary seals what it holds with the old key, the files and the event are
// written, and the notary signs with the new key from then on, all without a
// checkpoint in between.
func (r KeyRotator) rotateAudit(ctx context.Context, ec events.Context, rep *KeyRotationReport) error {
	_, next, err := ed25519.GenerateKey(r.random())
	if err != nil {
		return err
	}
	record := func(ctx context.Context, prev ed25519.PrivateKey) error {
		// The files first: an event naming a key that was never kept would retire
		// the key that goes on signing.
		if err := writeAuditKey(r.DataDir, prev, next); err != nil {
			return err
		}
		e := NewAuditKeyRotated(r.Node, prev, next)
		if err := r.record(ctx, ec, e, rep); err != nil {
			return err
		}
		rep.Audit = e
		return nil
	}
	if r.Notary != nil {
		return r.Notary.Rotate(ctx, next, record)
	}
	prev, err := LoadSigningKey(r.DataDir)
	if err != nil {
		return err
	}
	return record(ctx, prev)
}

func (r KeyRotator) record(ctx context.Context, ec events.Context, p events.Payload, rep *KeyRotationReport) error {
	ev, err := events.New(events.KeysAggregateID, r.clock(), ec, p)
	if err != nil {
		return err
	}
	seq, err := r.Store.Append(ctx, store.AnySeq, ev)
	if err != nil {
		return fmt.Errorf("record %s: %w", p.EventType(), err)
	}
	rep.LastSeq = seq
	return nil
}

func (r KeyRotator) clock() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

func (r KeyRotator) random() io.Reader {
	if r.Random != nil {
		return r.Random
	}
	return rand.Reader
}
