package broker

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// startEmbedded starts the embedded server on a free loopback port. A port found
// free can be taken by another test before the server binds it; Start then says so
// at once and the next free port is tried.
func startEmbedded(t *testing.T) *Conn {
	t.Helper()
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c, err := Start(Options{StoreDir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", port)})
		if err != nil && strings.Contains(err.Error(), "address already in use") && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
}

func newUser(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

var policy = SubscriberPolicy{Stream: "JFGUARD_EVENTS", Subjects: "jfguard.events.>"}

// TestAnonymousConnectionsAreRefused: the embedded server lets in no client without
// credentials on its client port, nor one with a key it does not know.
func TestAnonymousConnectionsAreRefused(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	if nc, err := nats.Connect(c.ClientURL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to the client port")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous client port connection: %v, want an authorization violation", err)
	}
	// A stranger's key is refused too.
	kp, pub := newUser(t)
	if nc, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an unknown nkey connected")
	}
	if !c.NC.IsConnected() {
		t.Fatal("jfguard's own connection is down")
	}
}

// TestAnonymousInProcessConnectionIsRefused: code in jfguard's process gets no
// anonymous connection either.
func TestAnonymousInProcessConnectionIsRefused(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	if nc, err := nats.Connect("", nats.InProcessServer(c.Server), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected in process")
	}
}

// TestRemovedSubscriberIsCutOff: a subscriber connects once added; when removed,
// its open connection is closed by the server (not merely stripped of rights) and it
// cannot connect again.
func TestRemovedSubscriberIsCutOff(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	kp, pub := newUser(t)
	_, otherPub := newUser(t)
	if err := c.SetSubscribers(policy, []Subscriber{{Name: "siem", PublicKey: pub}, {Name: "bot", PublicKey: otherPub}}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("an added subscriber cannot connect: %v", err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSubscribers(policy, []Subscriber{{Name: "bot", PublicKey: otherPub}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the removed subscriber's connection stayed open")
	}
	if nc2, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect()); err == nil {
		nc2.Close()
		t.Fatal("a removed subscriber connected again")
	}
	if !c.NC.IsConnected() {
		t.Fatal("jfguard's own connection did not survive the change")
	}
}

// TestBadSubscriberEntriesDoNotLockOthersOut: a key that is not a user's public
// key, or one used twice, is left out and reported; the rest still connect.
func TestBadSubscriberEntriesDoNotLockOthersOut(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	kp, pub := newUser(t)
	err := c.SetSubscribers(policy, []Subscriber{{Name: "a", PublicKey: "not-a-key"}, {Name: "b", PublicKey: pub}, {Name: "c", PublicKey: pub}, {Name: "d", PublicKey: c.auth.internal}})
	if err == nil || !strings.Contains(err.Error(), "not a NATS user public key") || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("SetSubscribers: %v", err)
	}
	nc, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect())
	if err != nil {
		t.Fatalf("a good subscriber cannot connect: %v", err)
	}
	nc.Close()
}

// fakeClient is a connecting client as the authenticator sees it.
type fakeClient struct {
	opts       server.ClientOpts
	nonce      []byte
	addr       net.Addr
	kind       int
	registered *server.User
}

func (f *fakeClient) GetOpts() *server.ClientOpts                 { return &f.opts }
func (f *fakeClient) GetTLSConnectionState() *tls.ConnectionState { return nil }
func (f *fakeClient) RegisterUser(u *server.User)                 { f.registered = u }
func (f *fakeClient) RemoteAddress() net.Addr                     { return f.addr }
func (f *fakeClient) GetNonce() []byte                            { return f.nonce }
func (f *fakeClient) Kind() int                                   { return f.kind }
func (f *fakeClient) GetID() uint64                               { return 7 }

// TestAuthenticator: who gets in, how, and with which rights. jfguard's own key gets
// every right in process and nothing over the network; a subscriber's key gets its
// rights over the network only; a signature must be over this connection's nonce.
func TestAuthenticator(t *testing.T) {
	t.Parallel()
	self, selfPub := newUser(t)
	sub, subPub := newUser(t)
	stranger, strangerPub := newUser(t)
	a := newAuthenticator(selfPub)
	if err := a.set(policy, []Subscriber{{Name: "siem", PublicKey: subPub}}); err != nil {
		t.Fatal(err)
	}
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	pipe, _ := net.Pipe()
	inProcess := pipe.LocalAddr()
	nonce := []byte("nonce-of-this-connection")
	signed := func(kp nkeys.KeyPair, pub string, data []byte) server.ClientOpts {
		sig, err := kp.Sign(data)
		if err != nil {
			t.Fatal(err)
		}
		return server.ClientOpts{Nkey: pub, Sig: base64.RawURLEncoding.EncodeToString(sig)}
	}
	for _, tc := range []struct {
		name  string
		opts  server.ClientOpts
		addr  net.Addr
		kind  int
		ok    bool
		perms bool
	}{
		{"anonymous", server.ClientOpts{}, tcp, server.CLIENT, false, false},
		{"anonymous in process", server.ClientOpts{}, inProcess, server.CLIENT, false, false},
		{"jfguard in process", signed(self, selfPub, nonce), inProcess, server.CLIENT, true, false},
		{"jfguard's key over the network", signed(self, selfPub, nonce), tcp, server.CLIENT, false, false},
		{"subscriber over the network", signed(sub, subPub, nonce), tcp, server.CLIENT, true, true},
		{"subscriber in process", signed(sub, subPub, nonce), inProcess, server.CLIENT, false, false},
		{"subscriber's key signing another nonce", signed(sub, subPub, []byte("an old nonce")), tcp, server.CLIENT, false, false},
		{"subscriber's key with a stranger's signature", server.ClientOpts{Nkey: subPub, Sig: signed(stranger, strangerPub, nonce).Sig}, tcp, server.CLIENT, false, false},
		{"unknown key", signed(stranger, strangerPub, nonce), tcp, server.CLIENT, false, false},
		{"not a client", signed(self, selfPub, nonce), inProcess, server.LEAF, false, false},
	} {
		f := &fakeClient{opts: tc.opts, nonce: nonce, addr: tc.addr, kind: tc.kind}
		if got := a.Check(f); got != tc.ok {
			t.Errorf("%s: admitted %v, want %v", tc.name, got, tc.ok)
			continue
		}
		if tc.ok && (f.registered == nil || (f.registered.Permissions != nil) != tc.perms) {
			t.Errorf("%s: registered %+v, want restricted rights: %v", tc.name, f.registered, tc.perms)
		}
	}
}

// TestRightsFollowChanges: a subscriber connected before another was added gets the
// new rights without reconnecting: the newcomer's durable consumer is denied to it.
func TestRightsFollowChanges(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	kp, pub := newUser(t)
	_, botPub := newUser(t)
	if err := c.SetSubscribers(policy, []Subscriber{{Name: "siem", PublicKey: pub}}); err != nil {
		t.Fatal(err)
	}
	violations := make(chan string, 16)
	nc, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	next := "$JS.API.CONSUMER.MSG.NEXT.JFGUARD_EVENTS.bot"
	if err := nc.Publish(next, nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-violations:
		t.Fatalf("before bot exists: %s", v)
	default:
	}
	if err := c.SetSubscribers(policy, []Subscriber{{Name: "siem", PublicKey: pub}, {Name: "bot", PublicKey: botPub}}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(next, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-violations:
		if !strings.Contains(v, "Permissions Violation for Publish to \""+next+"\"") {
			t.Fatalf("violation %s", v)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the connection kept its old rights")
	}
	if !nc.IsConnected() {
		t.Fatal("the connection was closed instead of given its new rights")
	}
}
