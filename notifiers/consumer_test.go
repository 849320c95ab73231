package notifiers

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go/jetstream"
)

// startSignedStore is startStore with jfguard's event authenticator, as in production.
func startSignedStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	conn, err := broker.Start(broker.Options{StoreDir: dir, Sync: broker.SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	auth, err := events.NewAuthenticator("1", map[string][]byte{"1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), conn.NC, store.Options{Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSinkConsumerMadeBySomeoneElseIsReplaced: a subscriber may create consumers of
// any name, so it can make the consumer of a sink an administrator configures later
// — starting past every event, or shaped like jfguard's with the backlog already
// acknowledged. jfguard does not use it: it makes its own, and the sink gets the
// alerts of its catch-up window. Its own consumer, marked, is kept across a restart
// and a rotation of the event MAC key.
func TestSinkConsumerMadeBySomeoneElseIsReplaced(t *testing.T) {
	t.Parallel()
	for name, ackBacklog := range map[string]bool{"starts past every event": false, "backlog acknowledged": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// given an event, and a consumer named after a sink not configured yet,
			// made by someone else
			st := startSignedStore(t, t.TempDir())
			ctx := context.Background()
			lock := appendEvent(t, st, "u1", &events.LockoutStarted{Until: time.Now(), Failures: 5})
			stream, err := st.JetStream().Stream(ctx, store.StreamName)
			if err != nil {
				t.Fatal(err)
			}
			hourAgo := time.Now().Add(-time.Hour)
			planted := jetstream.ConsumerConfig{Durable: ConsumerPrefix + "later", AckPolicy: jetstream.AckExplicitPolicy,
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1 << 40}
			if ackBacklog {
				planted.DeliverPolicy, planted.OptStartSeq, planted.OptStartTime = jetstream.DeliverByStartTimePolicy, 0, &hourAgo
			}
			c, err := stream.CreateConsumer(ctx, planted)
			if err != nil {
				t.Fatal(err)
			}
			if ackBacklog {
				msgs, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				for m := range msgs.Messages() {
					if err := m.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			// when an administrator configures the sink, catching up an hour
			rc := newReceiver(t, nil)
			opts := Options{
				Webhooks:          []WebhookConfig{{Name: "later", URL: rc.URL, Events: []string{"lockout_started"}}},
				AllowPrivateHosts: []string{"127.0.0.1"},
				CatchUp:           time.Hour,
			}
			first := startNotifiers(t, st, opts)
			// then the sink gets the event, through a consumer jfguard made
			waitFor(t, "the lockout alert", 10*time.Second, func() bool { return len(rc.requests()) >= 1 })
			if r := rc.requests(); idOf(r[0]) != lock.ID {
				t.Fatalf("alert for %s, want %s", idOf(r[0]), lock.ID)
			}
			waitSettled(t, st, "later")
			first.Stop()
			mine, err := stream.Consumer(ctx, ConsumerPrefix+"later")
			if err != nil {
				t.Fatal(err)
			}
			// and jfguard's own is kept when it starts again, after a MAC key rotation
			rotated, err := events.NewAuthenticator("2", map[string][]byte{"1": bytes.Repeat([]byte{7}, 32), "2": bytes.Repeat([]byte{9}, 32)})
			if err != nil {
				t.Fatal(err)
			}
			st.SetAuthenticator(rotated)
			startNotifiers(t, st, opts)
			again, err := stream.Consumer(ctx, ConsumerPrefix+"later")
			if err != nil {
				t.Fatal(err)
			}
			if !again.CachedInfo().Created.Equal(mine.CachedInfo().Created) || again.CachedInfo().AckFloor.Stream == 0 {
				t.Errorf("jfguard's consumer was replaced on restart: created %v then %v, ack floor %d",
					mine.CachedInfo().Created, again.CachedInfo().Created, again.CachedInfo().AckFloor.Stream)
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%d alerts after the restart, want 1", n)
			}
		})
	}
}
