package embed

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Subscriber is an external system allowed to read the event stream: a name and the
// public half of its nkey (the seed stays with the subscriber).
type Subscriber struct {
	Name      string
	PublicKey string
}

// SubscriberPolicy says what subscribers may read: one stream, the core subjects its
// events are published on, and the consumer names they may never touch.
type SubscriberPolicy struct {
	// Stream is the stream subscribers read (JFGUARD_EVENTS).
	Stream string
	// Subjects are the core subjects they may subscribe to ("jfguard.events.>").
	Subjects string
	// Reserved are consumer names on Stream that belong to jfguard (its alert
	// sinks' durable consumers): no subscriber may create, read, update or
	// acknowledge on them.
	Reserved []string
}

// InboxPrefix is the only inbox a subscriber may receive replies on. A shared
// "_INBOX.>" would let any subscriber read the replies to everyone's requests,
// jfguard's own among them; clients must set this prefix (nats.go
// nats.CustomInboxPrefix, the nats CLI's --inbox-prefix).
func InboxPrefix(name string) string { return "_INBOX_" + name }

// SubscriberPermissions are a subscriber's rights: read the event stream through its
// own consumers (ordered ones, whose names the client library picks at random, and a
// durable one named after the subscriber), subscribe to the event subjects, receive
// replies on its own inbox; nothing else. It publishes nothing but JetStream API
// requests and acknowledgements on that one stream, so it cannot append events,
// write checkpoints, delete or purge anything, or see the key stream.
//
// Consumer names are one subject token and permissions cannot match a prefix of a
// token, so the consumers of jfguard and of every other subscriber are denied by
// name: others lists the other subscribers' names.
func SubscriberPermissions(p SubscriberPolicy, name string, others []string) *server.Permissions {
	s := p.Stream
	api := "$JS.API."
	allow := []string{
		api + "STREAM.INFO." + s,
		api + "STREAM.MSG.GET." + s,
		api + "DIRECT.GET." + s,
		api + "DIRECT.GET." + s + ".>",
		api + "CONSUMER.CREATE." + s + ".*",
		api + "CONSUMER.CREATE." + s + ".*.>",
		api + "CONSUMER.INFO." + s + ".*",
		api + "CONSUMER.MSG.NEXT." + s + ".*",
		"$JS.ACK." + s + ".>",
	}
	var deny []string
	for _, n := range append(slices.Clone(p.Reserved), others...) {
		if n == name {
			continue
		}
		deny = append(deny,
			api+"CONSUMER.*."+s+"."+n,
			api+"CONSUMER.*."+s+"."+n+".>",
			api+"CONSUMER.MSG.NEXT."+s+"."+n,
			"$JS.ACK."+s+"."+n+".>",
		)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: []string{p.Subjects, InboxPrefix(name) + ".>"}},
	}
}

// ValidPublicKey reports whether key is the public key of a NATS user nkey (it
// starts with U).
func ValidPublicKey(key string) bool { return nkeys.IsValidPublicUserKey(key) }

// users builds the server's user list: jfguard's own key, which may connect only in
// process and has every right, then each subscriber with its permissions. Unusable
// entries (a key that is not a user's public key, or one already taken) are left
// out and reported: the server refuses a user list with either, and one bad entry
// must not lock everyone else out.
func users(internal string, policy SubscriberPolicy, subs []Subscriber) ([]*server.NkeyUser, []error) {
	out := []*server.NkeyUser{{
		Nkey:                   internal,
		AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}},
	}}
	sorted := slices.Clone(subs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	names := make([]string, 0, len(sorted))
	for _, s := range sorted {
		names = append(names, s.Name)
	}
	seen := map[string]bool{internal: true}
	var errs []error
	for _, s := range sorted {
		switch {
		case !ValidPublicKey(s.PublicKey):
			errs = append(errs, fmt.Errorf("subscriber %s: %q is not a NATS user public key; it cannot connect", s.Name, s.PublicKey))
			continue
		case seen[s.PublicKey]:
			errs = append(errs, fmt.Errorf("subscriber %s: its public key is already in use; it cannot connect", s.Name))
			continue
		}
		seen[s.PublicKey] = true
		out = append(out, &server.NkeyUser{
			Nkey:                   s.PublicKey,
			Permissions:            SubscriberPermissions(policy, s.Name, names),
			AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeStandard: {}},
		})
	}
	return out, errs
}

// SetSubscribers replaces the embedded server's subscriber users, with what policy
// lets them read, and reloads its authorization. A connection of a subscriber that is no longer listed is closed by
// the server (and refused when it reconnects); the connections of the others keep
// going with their permissions recomputed. Problems with single entries are
// returned after the others were applied.
func (c *Conn) SetSubscribers(policy SubscriberPolicy, subs []Subscriber) error {
	if c.Server == nil {
		return errors.New("subscribers are managed by jfguard only on its embedded NATS server; on an external server give them users there (docs/operations.md)")
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	list, problems := users(c.internalKey, policy, subs)
	next := c.serverOpts.Clone()
	next.Nkeys = list
	if err := c.Server.ReloadOptions(next); err != nil {
		return fmt.Errorf("reload NATS users: %w", err)
	}
	c.serverOpts = next
	return errors.Join(problems...)
}
