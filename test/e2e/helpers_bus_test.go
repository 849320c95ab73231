package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// busOptions start a gateway whose embedded NATS server listens on a free loopback
// port, for subscribers.
func busOptions(t *testing.T) options {
	t.Helper()
	return options{settings: map[string]string{"nats.listen": freeLoopbackAddr(t)}, freeNATSPort: true}
}

// freeLoopbackAddr is a loopback address whose port was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runCLI runs a jfguard command in process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := cli.Run(ctx, args, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// addSubscriber creates a subscriber through the running gateway's control API with
// the real command and returns its seed, checking that stdout holds the seed alone.
func (g *testGateway) addSubscriber(t *testing.T, name string) string {
	t.Helper()
	code, out, errOut := runCLI(t, "subscribers", "add", name, "--server", g.url(), "--token", g.main.AdminToken())
	if code != 0 {
		t.Fatalf("subscribers add %s: exit %d: %s", name, code, errOut)
	}
	return seedOf(t, out)
}

// seedOf checks that a command printed exactly one line, a user nkey seed, and
// returns it.
func seedOf(t *testing.T, stdout string) string {
	t.Helper()
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("stdout is not one line: %q", stdout)
	}
	seed := strings.TrimSuffix(stdout, "\n")
	if !strings.HasPrefix(seed, "SU") {
		t.Fatalf("stdout %q is not a user nkey seed", stdout)
	}
	if _, err := nkeys.FromSeed([]byte(seed)); err != nil {
		t.Fatalf("stdout %q does not parse as a seed: %v", stdout, err)
	}
	return seed
}

// busClient is a subscriber's connection to jfguard's NATS port, recording the
// permission violations the server reports.
type busClient struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	mu     sync.Mutex
	errs   []string
	closed chan struct{}
}

// connectSubscriber connects with a subscriber's seed and its own inbox prefix.
func (g *testGateway) connectSubscriber(t *testing.T, name, seed string) (*busClient, error) {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	b := &busClient{closed: make(chan struct{})}
	nc, err := nats.Connect(g.main.NATSURL(),
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix("_INBOX_"+name),
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.mu.Lock()
			b.errs = append(b.errs, err.Error())
			b.mu.Unlock()
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	b.nc = nc
	b.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return b, nil
}

// refused waits until the server has reported a permissions violation for subject
// (a publish or a subscription).
func (b *busClient) refused(t *testing.T, kind, subject string) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", kind, subject)
	eventually(t, "the server refuses "+kind+" to "+subject, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			if strings.Contains(e, want) {
				return true
			}
		}
		return false
	})
}

// quick is a context for an API request the server is expected to drop: a refused
// request gets no answer, so it ends with the deadline (the refusal itself is
// checked with refused).
func quick(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// sseEvent is one server-sent event of the feed.
type sseEvent struct {
	id   uint64
	typ  string
	data string
}

// readSSE reads events from a feed until it has n of them.
func readSSE(t *testing.T, body io.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var cur sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.id != 0 {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			id, err := strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
			if err != nil {
				t.Fatalf("feed id %q", line)
			}
			cur.id = id
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(out) < n {
		t.Fatalf("the feed ended after %d of %d events: %v", len(out), n, sc.Err())
	}
	return out
}
