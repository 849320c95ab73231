//go:build slow

package cluster

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/jfguard/jfguard/embed"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
	"github.com/jfguard/jfguard/notifiers"
	"github.com/jfguard/jfguard/test/jellyfin"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// jfguardPermissions are the rights docs/operations.md gives jfguard's own user on an
// external cluster, in an account of its own.
var jfguardPermissions = &server.Permissions{
	Publish:   &server.SubjectPermission{Allow: []string{"jfguard.>", "$JS.API.>", "$JS.ACK.>", "$KV.>"}},
	Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
}

func newUser(t *testing.T) (nkeys.KeyPair, string, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	return kp, pub, string(seed)
}

// startNodeAs starts a jfguard node on the cluster that authenticates with an nkey
// seed file (nats.nkey_file).
func startNodeAs(t *testing.T, upstream, natsURL, apiKey, masterKey, seed string) *cli.Main {
	t.Helper()
	seedFile := filepath.Join(t.TempDir(), "jfguard.nk")
	if err := os.WriteFile(seedFile, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startNode(t, upstream, natsURL, apiKey, masterKey, "nats.nkey_file", seedFile)
}

// deviceOf reads the device id of an event's envelope.
func deviceOf(t *testing.T, data []byte) (string, string) {
	t.Helper()
	var ev struct {
		Type   string `json:"type"`
		Device struct {
			ID string `json:"id"`
		} `json:"device"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Type, ev.Device.ID
}

// TestSlowClusterSubscriber: on an external three-server cluster where jfguard's
// nodes hold only the rights docs/operations.md lists and a subscriber holds the
// read-only rights jfguard gives its own subscribers, the subscriber reads the
// events both nodes wrote, from the start with an ordered consumer and with its
// durable consumer, and cannot publish events.
func TestSlowClusterSubscriber(t *testing.T) {
	_, nodePub, nodeSeed := newUser(t)
	subKP, subPub, _ := newUser(t)
	policy := broker.SubscriberPolicy{
		Stream: store.StreamName, Subjects: events.SubjectPrefix + ".>",
		Reserved: []string{notifiers.ConsumerPrefix + "ntfy", notifiers.ConsumerPrefix + "gotify", notifiers.ConsumerPrefix + "email"},
	}
	c := startAuthCluster(t, []*server.NkeyUser{
		{Nkey: nodePub, Permissions: jfguardPermissions},
		{Nkey: subPub, Permissions: broker.SubscriberPermissions(policy, "siem", nil)},
	})
	jf := jellyfin.New(jellyfin.Options{QuickConnect: true})
	jf.AddUser("alice", "alice-pw", false)
	apiKey := jf.CreateAPIKey("jfguard")
	up := httptest.NewServer(jf)
	defer up.Close()
	master := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	a := startNodeAs(t, up.URL, c.url(0)+","+c.url(1), apiKey, master, nodeSeed)
	b := startNodeAs(t, up.URL, c.url(2)+","+c.url(1), apiKey, master, nodeSeed)
	if code, _, body := post(t, a.URL()+"/Users/AuthenticateByName", mb("dev-a", ""), `{"Username":"alice","Pw":"alice-pw"}`); code != 200 {
		t.Fatalf("sign-in on node A: %d %s", code, body)
	}
	if code, _, body := post(t, b.URL()+"/Users/AuthenticateByName", mb("dev-b", ""), `{"Username":"alice","Pw":"alice-pw"}`); code != 200 {
		t.Fatalf("sign-in on node B: %d %s", code, body)
	}

	var errs []string
	errCh := make(chan string, 16)
	nc, err := nats.Connect(c.url(1), nats.Nkey(subPub, subKP.Sign), nats.CustomInboxPrefix("_INBOX_siem"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errCh <- err.Error() }))
	if err != nil {
		t.Fatalf("the subscriber cannot connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := func(cons jetstream.Consumer, ack bool) []string {
		var devices []string
		for range 60 {
			batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			for msg := range batch.Messages() {
				if typ, dev := deviceOf(t, msg.Data()); typ == "session_verified" {
					devices = append(devices, dev)
				}
				if ack {
					if err := msg.DoubleAck(ctx); err != nil {
						t.Fatalf("ack: %v", err)
					}
				}
			}
			if slices.Contains(devices, "dev-a") && slices.Contains(devices, "dev-b") {
				return devices
			}
		}
		t.Fatalf("the subscriber read sign-ins from %v, want both nodes'", devices)
		return nil
	}
	ordered, err := js.OrderedConsumer(ctx, store.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer on the cluster: %v", err)
	}
	read(ordered, false)
	durable, err := js.CreateOrUpdateConsumer(ctx, store.StreamName, jetstream.ConsumerConfig{Durable: "siem", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("durable consumer on the cluster: %v", err)
	}
	read(durable, true)

	subject := events.SubjectFor(events.AggSystem, "settings", "settings_changed")
	if err := nc.Publish(subject, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for want := `Permissions Violation for Publish to "` + subject + `"`; !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) }); {
		select {
		case e := <-errCh:
			errs = append(errs, e)
		case <-time.After(30 * time.Second):
			t.Fatalf("the cluster did not refuse the subscriber's publish (errors %v)", errs)
		}
	}
}
