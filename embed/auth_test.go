package embed

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

func startEmbedded(t *testing.T) *Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c, err := Start(Options{StoreDir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
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
// credentials on its client port, nor one with a key it does not know; jfguard's own
// key is limited to in-process connections.
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
	if c.internalKey == "" || strings.HasPrefix(c.internalKey, "S") {
		t.Fatalf("jfguard's key %q is not a public key", c.internalKey)
	}
	if len(c.serverOpts.Nkeys) != 1 || c.serverOpts.Nkeys[0].AllowedConnectionTypes == nil {
		t.Fatalf("jfguard's user is not limited to in-process connections: %+v", c.serverOpts.Nkeys)
	}
}

// TestAnonymousInProcessConnectionIsRefused: code in jfguard's process gets no
// anonymous connection either. (The server refuses it on a pipe both sides write to
// at once, which ends with the server's write deadline, 10 seconds.)
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
		t.Fatal("jfguard's own connection did not survive the reload")
	}
}

// TestBadSubscriberEntriesDoNotLockOthersOut: a key that is not a user's public
// key, or one used twice, is left out and reported; the rest still connect.
func TestBadSubscriberEntriesDoNotLockOthersOut(t *testing.T) {
	t.Parallel()
	c := startEmbedded(t)
	kp, pub := newUser(t)
	err := c.SetSubscribers(policy, []Subscriber{{Name: "a", PublicKey: "not-a-key"}, {Name: "b", PublicKey: pub}, {Name: "c", PublicKey: pub}, {Name: "d", PublicKey: c.internalKey}})
	if err == nil || !strings.Contains(err.Error(), "not a NATS user public key") || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("SetSubscribers: %v", err)
	}
	nc, err := nats.Connect(c.ClientURL(), nats.Nkey(pub, kp.Sign), nats.NoReconnect())
	if err != nil {
		t.Fatalf("a good subscriber cannot connect: %v", err)
	}
	nc.Close()
}
