package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"

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
// name: others lists the other subscribers' names. A consumer made under the name of
// a sink configured later is not jfguard's: the notifiers replace it (their consumers
// carry a keyed mark).
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

// authenticator decides who may connect to the embedded server: jfguard's own key,
// in process only, with every right; each subscriber's key, over the network only,
// with its rights; nobody else. It is the server's custom authentication rather than
// its nkey user list because that list changes only by reloading the server's
// options, which nats-server does not synchronise with the direct gets it is
// serving; here a change is a map update and a word to the affected connections.
type authenticator struct {
	internal string

	mu    sync.Mutex
	users map[string]subscriberUser // public key → subscriber
	conns map[uint64]connection     // subscribers' connections by client id
	srv   *server.Server
}

type subscriberUser struct {
	name  string
	perms *server.Permissions
}

// connection is a subscriber's connection, kept so a change of subscribers can give
// it its new rights or close it.
type connection struct {
	key    string
	client server.ClientAuthentication
}

func newAuthenticator(internal string) *authenticator {
	return &authenticator{internal: internal, users: map[string]subscriberUser{}, conns: map[uint64]connection{}}
}

// Check verifies the client's nkey signature over the server's nonce and registers
// its rights.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	opts := c.GetOpts()
	if opts == nil || opts.Nkey == "" || !verified(opts.Nkey, opts.Sig, c.GetNonce()) {
		return false
	}
	_, network := c.RemoteAddress().(*net.TCPAddr)
	if opts.Nkey == a.internal {
		if network {
			return false
		}
		c.RegisterUser(&server.User{Username: "jfguard"})
		return true
	}
	if !network {
		return false
	}
	// Looked up and registered under the lock, so a change of subscribers either
	// comes before (and this one is refused or gets the new rights) or after (and
	// finds this connection).
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[opts.Nkey]
	if !ok {
		return false
	}
	c.RegisterUser(&server.User{Username: u.name, Permissions: u.perms})
	a.conns[c.GetID()] = connection{key: opts.Nkey, client: c}
	return true
}

// verified checks an nkey's signature of the nonce, as nats-server does for its own
// nkey users.
func verified(key, sig string, nonce []byte) bool {
	if len(nonce) == 0 {
		return false
	}
	pub, err := nkeys.FromPublicKey(key)
	if err != nil || !nkeys.IsValidPublicUserKey(key) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	return pub.Verify(nonce, raw) == nil
}

// set replaces the subscribers. Connections of a subscriber that is gone, or whose
// key changed, are closed (and refused when they come back); the others get their
// recomputed rights at once. Unusable entries (a key that is not a user's public
// key, or one already taken) are left out and reported, so one bad entry locks
// nobody else out.
func (a *authenticator) set(policy SubscriberPolicy, subs []Subscriber) error {
	sorted := slices.Clone(subs)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	names := make([]string, 0, len(sorted))
	for _, s := range sorted {
		names = append(names, s.Name)
	}
	users := map[string]subscriberUser{}
	var problems []error
	for _, s := range sorted {
		switch _, taken := users[s.PublicKey]; {
		case !ValidPublicKey(s.PublicKey):
			problems = append(problems, fmt.Errorf("subscriber %s: %q is not a NATS user public key; it cannot connect", s.Name, s.PublicKey))
		case taken || s.PublicKey == a.internal:
			problems = append(problems, fmt.Errorf("subscriber %s: its public key is already in use; it cannot connect", s.Name))
		default:
			users[s.PublicKey] = subscriberUser{name: s.Name, perms: SubscriberPermissions(policy, s.Name, names)}
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.users = users
	for id, c := range a.conns {
		u, ok := users[c.key]
		switch {
		case c.client.RemoteAddress() == nil: // closed already
			delete(a.conns, id)
		case !ok:
			delete(a.conns, id)
			if a.srv != nil {
				_ = a.srv.DisconnectClientByID(id)
			}
		default:
			c.client.RegisterUser(&server.User{Username: u.name, Permissions: u.perms})
		}
	}
	return errors.Join(problems...)
}

// SetSubscribers replaces the embedded server's subscribers, with what policy lets
// them read. A connection of a subscriber that is no longer listed is closed by the
// server (and refused when it reconnects); the connections of the others keep going
// with their rights recomputed. Problems with single entries are returned after the
// others were applied.
func (c *Conn) SetSubscribers(policy SubscriberPolicy, subs []Subscriber) error {
	if c.Server == nil || c.auth == nil {
		return errors.New("subscribers are managed by jfguard only on its embedded NATS server; on an external server give them users there (docs/operations.md)")
	}
	return c.auth.set(policy, subs)
}
