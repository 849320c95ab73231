package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/projections"
	"github.com/jfguard/jfguard/projections/usecase"
	"github.com/nats-io/nkeys"
)

// SubscribersCmd groups subscriber administration. Each command talks to a running
// jfguard with --server, or works on a stopped one's data directory (or its external
// NATS server).
type SubscribersCmd struct {
	Add    SubscribersAddCmd    `cmd:"" help:"Create a subscriber and print its NATS nkey seed (once; jfguard keeps only the public key)."`
	List   SubscribersListCmd   `cmd:"" help:"List the subscribers."`
	Remove SubscribersRemoveCmd `cmd:"" help:"Remove a subscriber: it can no longer connect, and its connections are cut."`
}

// cliContext is the event context of changes made by the command line offline:
// whoever may open the data directory is an administrator.
var cliContext = events.Context{Actor: usecase.ActorAdmin}

// SubscribersAddCmd creates a subscriber.
type SubscribersAddCmd struct {
	storeFlags
	Name string `arg:"" help:"The subscriber's name: lower-case letters, digits, - and _ (e.g. siem)."`
}

// Run makes the key pair here, records the public key (offline or through the
// control API, so the seed never leaves this process), then prints the seed alone
// on stdout and the guidance on stderr.
func (c *SubscribersAddCmd) Run(ctx context.Context, g *Globals) error {
	if err := domain.ValidSubscriberName(c.Name); err != nil {
		return err
	}
	r, err := g.settings()
	if err != nil {
		return err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	if err := serverOrOffline(ctx, g, r, c.storeFlags, func(cl *rpcClient) error {
		return cl.call(ctx, "subscribers.add", map[string]any{"name": c.Name, "public_key": pub}, nil)
	}, func(st *store.Store) error {
		_, err := projections.AddSubscriber(ctx, st, cliContext, c.Name, pub, time.Now())
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, string(seed))
	fmt.Fprintf(g.stderr, `Subscriber %s added with public key %s.
The line on stdout is its nkey seed, shown this once: jfguard keeps only the public key.
Store it where only the subscriber can read it (e.g. jfguard subscribers add %s > %s.nk).
Connect to jfguard's NATS port (nats.listen) with that seed and the inbox prefix %s
(nats.go: nats.CustomInboxPrefix; nats CLI: --inbox-prefix); name your durable consumer %q.
On an external NATS server, give this key the read-only permissions of docs/operations.md there.
See docs/subscribers.md.
`, c.Name, pub, c.Name, c.Name, domain.SubscriberInbox(c.Name), c.Name)
	return nil
}

// SubscribersListCmd lists the subscribers.
type SubscribersListCmd struct {
	storeFlags
	JSON bool `help:"Print JSON."`
}

// Run prints the subscribers as a table or JSON.
func (c *SubscribersListCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	var subs []projections.Subscriber
	if err := serverOrOffline(ctx, g, r, c.storeFlags, func(cl *rpcClient) error {
		return cl.call(ctx, "subscribers.list", nil, &subs)
	}, func(st *store.Store) error {
		m, _, err := projections.LoadSubscribers(ctx, st)
		subs = projections.SortedSubscribers(m)
		return err
	}); err != nil {
		return err
	}
	if c.JSON {
		if subs == nil {
			subs = []projections.Subscriber{}
		}
		b, _ := json.MarshalIndent(subs, "", "  ")
		fmt.Fprintln(g.stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPUBLIC KEY\tINBOX PREFIX\tADDED")
	for _, s := range subs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.PublicKey, domain.SubscriberInbox(s.Name), s.Added.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// SubscribersRemoveCmd removes a subscriber.
type SubscribersRemoveCmd struct {
	storeFlags
	Name string `arg:"" help:"The subscriber's name."`
}

// Run records the removal; a running embedded NATS server cuts the subscriber's
// connections.
func (c *SubscribersRemoveCmd) Run(ctx context.Context, g *Globals) error {
	r, err := g.settings()
	if err != nil {
		return err
	}
	if err := serverOrOffline(ctx, g, r, c.storeFlags, func(cl *rpcClient) error {
		return cl.call(ctx, "subscribers.remove", map[string]any{"name": c.Name}, nil)
	}, func(st *store.Store) error {
		_, err := projections.RemoveSubscriber(ctx, st, cliContext, c.Name, time.Now())
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "subscriber %s removed: it can no longer connect\n", c.Name)
	return nil
}
