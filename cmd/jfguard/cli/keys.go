package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
)

// openSealer loads the master keyring the settings name and opens the sealer
// with it.
func openSealer(ctx context.Context, r *Resolved, st *store.Store, clock func() time.Time) (*seal.MasterKeyring, *seal.Sealer, error) {
	ring, err := seal.LoadMasterKeyring(masterKeyValue(r), r.MasterKeyFile)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := seal.OpenSealer(ctx, st.JetStream(), ring, seal.Options{Replicas: r.NATS.Replicas, Clock: clock})
	if err != nil {
		return nil, nil, err
	}
	return ring, sealer, nil
}

// trustKeySource derives the trust-cookie keys from the generations the stream
// records and the master keyring.
type trustKeySource struct {
	proj *projections.Projector
	ring *seal.MasterKeyring
}

// TrustKeys are the keys in force at now.
func (t trustKeySource) TrustKeys(now time.Time) domain.TrustKeys {
	var st seal.TrustKeyState
	t.proj.Read(func(s *projections.State) { st = s.TrustKey.Clone() })
	cur, prev := st.Keys(t.ring, now)
	return domain.TrustKeys{Current: cur, Previous: prev}
}

// now is the program's clock.
func (m *Main) now() time.Time {
	if m.Clock != nil {
		return m.Clock()
	}
	return time.Now()
}

// rotateKeys rotates this node's keys for the control API and returns once the
// projections include the rotation, so the next request uses the new keys.
func (m *Main) rotateKeys(ctx context.Context, req audit.KeyRotation) (audit.KeyRotationReport, error) {
	rot := audit.KeyRotator{
		Store: m.store, Sealer: m.sealer, Ring: m.ring, Notary: m.notary,
		DataDir: m.Settings.DataDir, Node: hostname(), Clock: m.now,
	}
	rep, err := rot.Rotate(ctx, req, events.Context{Actor: usecase.ActorAdmin})
	if rep.LastSeq > 0 {
		if werr := m.proj.WaitFor(ctx, rep.LastSeq); err == nil {
			err = werr
		}
	}
	return rep, err
}

// retireMasterKeys drops previous master keys once their grace is over (see
// Sealer.RetireExpired), checking as often as the challenge sweep, until ctx ends.
func (m *Main) retireMasterKeys(ctx context.Context) {
	every := m.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				dropped, err := m.sealer.RetireExpired(ctx)
				if err != nil && ctx.Err() == nil {
					m.Logger.Error("retire the previous master key", "err", err)
				}
				if len(dropped) > 0 {
					m.Logger.Info("previous master keys dropped after their grace", "ids", fmt.Sprint(dropped))
				}
			}
		}
	}()
	m.extras = append(m.extras, func() { cancel(); <-done })
}

// KeysCmd groups key management.
type KeysCmd struct {
	Rotate KeysRotateCmd `cmd:"" help:"Rotate the trust-cookie, audit and master keys (all three unless some are named)."`
}

// KeysRotateCmd rotates keys on a running server (--server) or on a stopped data
// directory.
type KeysRotateCmd struct {
	storeFlags
	Trust  bool          `help:"Rotate the trust-cookie key: browsers that sign in during the grace move to the new key, the others are asked for a code once."`
	Audit  bool          `help:"Rotate this node's audit key, which signs checkpoints."`
	Master bool          `help:"Rotate the master key: every data key is re-wrapped under a new one (the trust-cookie key, derived from it, rotates too)."`
	Grace  time.Duration `default:"168h" help:"How long the previous trust-cookie and master keys stay valid (0: refuse them at once)."`
}

// Run rotates and prints what was recorded.
func (c *KeysRotateCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	req := audit.KeyRotation{Trust: c.Trust, Audit: c.Audit, Master: c.Master, Grace: c.Grace}
	if !req.Trust && !req.Audit && !req.Master {
		req.Trust, req.Audit, req.Master = true, true, true
	}
	var rep audit.KeyRotationReport
	err = serverOrOffline(ctx, g, r, c.storeFlags, func(cl *rpcClient) error {
		return cl.call(ctx, "keys.rotate", map[string]any{"trust": req.Trust, "audit": req.Audit, "master": req.Master, "grace": req.Grace.String()}, &rep)
	}, func(st *store.Store) error {
		ring, sealer, err := openSealer(ctx, r, st, nil)
		if err != nil {
			return err
		}
		rot := audit.KeyRotator{Store: st, Sealer: sealer, Ring: ring, DataDir: r.DataDir, Node: hostname()}
		rep, err = rot.Rotate(ctx, req, events.Context{Actor: usecase.ActorAdmin})
		return err
	})
	// A rotation that failed half way still says what it did.
	printRotation(g, r, rep)
	return err
}

// printRotation says what a rotation did and what the operator does next.
func printRotation(g *Globals, r *Resolved, rep audit.KeyRotationReport) {
	when := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	if e := rep.Master; e != nil {
		fmt.Fprintf(g.stdout, "master key: %s is current; %s still opens data keys until %s; %d data keys re-wrapped\n", e.KeyID, e.PreviousKeyID, when(e.PreviousValidUntil), e.DataKeys)
		fmt.Fprintf(g.stdout, "  other nodes sharing the stream need the new keyring before then: copy %s to each of them and restart them\n", dash(r.MasterKeyFile))
	}
	if e := rep.Trust; e != nil {
		fmt.Fprintf(g.stdout, "trust-cookie key: generation %d is current; cookies of generation %d are accepted, and replaced on use, until %s\n", e.Generation, e.PreviousGeneration, when(e.PreviousValidUntil))
	}
	if e := rep.Audit; e != nil {
		fmt.Fprintf(g.stdout, "audit key: %s is current; it replaced %s, which signs no checkpoint from now on\n", e.Key, e.PreviousKey)
	}
}
