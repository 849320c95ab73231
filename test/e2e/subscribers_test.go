package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/events/seal"
	"github.com/jfguard/jfguard/events/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAnonymousBusClientIsRefused: the attack that opened this door. With nats.listen
// set, a plain nats.go client used to connect without credentials and publish a
// settings_changed event turning two-factor sign-in off. Now the connection itself
// is refused, and the policy stays as it was.
func TestAnonymousBusClientIsRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, busOptions(t))
	nc, err := nats.Connect(g.main.NATSURL(), nats.NoReconnect())
	if err == nil {
		attack, _ := json.Marshal(events.Must("settings", time.Now(), events.Context{Actor: "attacker"},
			&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"}))
		_ = nc.Publish(events.SubjectFor(events.AggSystem, "settings", "settings_changed"), attack)
		_ = nc.Flush()
		nc.Close()
		t.Fatal("an anonymous client connected to jfguard's NATS port")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	settings, rerr := g.rpc(t, "settings.get", nil)
	if rerr != nil || !strings.Contains(string(settings), `"security.enabled":"true"`) {
		t.Fatalf("settings after the attempt: %s %v", settings, rerr)
	}
	if n := g.eventTypes(t)["settings_changed"]; n != 0 {
		t.Fatalf("%d settings_changed events in the stream", n)
	}
}

// fetchUntil reads a consumer until the events read include every wanted type (or
// the reads run out), returning the types in stream order and the sequences.
func fetchUntil(t *testing.T, cons jetstream.Consumer, ack bool, want ...string) ([]string, []uint64) {
	t.Helper()
	var types []string
	var seqs []uint64
	for range 50 {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			ev, err := events.DecodeMsg(msg.Subject(), meta.Sequence.Stream, msg.Data())
			if err != nil {
				t.Fatal(err)
			}
			if msg.Subject() != events.SubjectFor(ev.Aggregate, ev.AggregateID, ev.Type) {
				t.Errorf("event %s on subject %s", ev.Type, msg.Subject())
			}
			types, seqs = append(types, string(ev.Type)), append(seqs, meta.Sequence.Stream)
			if ack {
				if err := msg.DoubleAck(context.Background()); err != nil {
					t.Fatalf("ack: %v", err)
				}
			}
		}
		if batch.Error() != nil {
			t.Fatalf("fetch: %v", batch.Error())
		}
		done := true
		for _, w := range want {
			done = done && slices.Contains(types, w)
		}
		if done {
			return types, seqs
		}
	}
	t.Fatalf("read %v, never all of %v", types, want)
	return nil, nil
}

// TestSubscriberReadsTheStream: a subscriber's credential reads the events from the
// start and live, with an ordered consumer, with a durable consumer named after it
// (acknowledging what it handled), and with a core subscription.
func TestSubscriberReadsTheStream(t *testing.T) {
	t.Parallel()
	g := startGateway(t, busOptions(t))
	seed := g.addSubscriber(t, "siem")
	b, err := g.connectSubscriber(t, "siem", seed)
	if err != nil {
		t.Fatalf("the subscriber cannot connect: %v", err)
	}
	ctx := context.Background()
	live := make(chan *nats.Msg, 256)
	if _, err := b.nc.ChanSubscribe(events.SubjectPrefix+".>", live); err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ordered, err := b.js.OrderedConsumer(ctx, store.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	types, seqs := fetchUntil(t, ordered, false, "node_started", "subscriber_added")
	if seqs[0] != 1 || !slices.IsSorted(seqs) {
		t.Errorf("the ordered consumer did not read from the start in order: %v", seqs)
	}

	g.signedIn(t, "bob", bobPassword, "bob-phone")
	more, _ := fetchUntil(t, ordered, false, "session_verified")
	if slices.Contains(types, "session_verified") || !slices.Contains(more, "session_verified") {
		t.Errorf("the live sign-in: first %v, then %v", types, more)
	}
	for seen := false; !seen; {
		select {
		case msg := <-live:
			seen = strings.HasSuffix(msg.Subject, ".session_verified")
		case <-time.After(10 * time.Second):
			t.Fatal("the core subscription did not get the sign-in")
		}
	}

	durable, err := b.js.CreateOrUpdateConsumer(ctx, store.StreamName, jetstream.ConsumerConfig{
		Durable: "siem", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatalf("durable consumer: %v", err)
	}
	all, _ := fetchUntil(t, durable, true, "node_started", "subscriber_added", "session_verified")
	info, err := durable.Info(ctx)
	if err != nil {
		t.Fatalf("durable consumer info: %v", err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream < 3 || len(all) < 3 {
		t.Errorf("after acknowledging %d events: %d pending acks, ack floor %d", len(all), info.NumAckPending, info.AckFloor.Stream)
	}
}

// TestSubscriberCannotWrite: a subscriber's credential reads and does nothing else.
// It cannot publish events (the old attack), write checkpoints, delete or purge the
// stream, delete consumers (its own included), touch the key stream in any way,
// read the replies to anyone else's requests, or use the consumers of jfguard's
// alerts or of another subscriber.
func TestSubscriberCannotWrite(t *testing.T) {
	t.Parallel()
	g := startGateway(t, busOptions(t))
	g.enrollAlice(t) // alice has a data key in JFGUARD_KEYS
	seed := g.addSubscriber(t, "siem")
	botSeed := g.addSubscriber(t, "bot")
	b, err := g.connectSubscriber(t, "siem", seed)
	if err != nil {
		t.Fatal(err)
	}
	bot, err := g.connectSubscriber(t, "bot", botSeed)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.js.CreateOrUpdateConsumer(ctx, store.StreamName, jetstream.ConsumerConfig{Durable: "siem", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := bot.js.CreateOrUpdateConsumer(ctx, store.StreamName, jetstream.ConsumerConfig{Durable: "bot", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	js := g.main.Store().JetStream()
	count := func(stream string) uint64 {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatalf("stream %s: %v", stream, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	before := map[string]uint64{}
	for _, s := range []string{store.StreamName, seal.KeysStream, audit.StreamName} {
		before[s] = count(s)
	}

	// The old attack, with a credential: a forged settings_changed, as a core
	// publish and as a JetStream publish.
	forged := events.Must("settings", time.Now(), events.Context{Actor: "attacker"},
		&events.SettingsChanged{Key: "security.enabled", Old: "true", New: "false", Where: "control_api"})
	data, _ := json.Marshal(forged)
	subject := events.SubjectFor(events.AggSystem, "settings", "settings_changed")
	if err := b.nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.Publish(quick(t), subject, data); err == nil {
		t.Error("a JetStream publish of an event was acknowledged")
	}
	b.refused(t, "Publish", subject)
	for _, s := range []string{"jfguard.events.user.u1.totp_removed", "jfguard.audit.checkpoint", "jfguard.keys.u1", "jfguard.anything"} {
		if err := b.nc.Publish(s, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		b.refused(t, "Publish", s)
	}

	// Deleting and purging.
	if err := b.js.DeleteStream(quick(t), store.StreamName); err == nil {
		t.Error("the subscriber deleted the event stream")
	}
	b.refused(t, "Publish", "$JS.API.STREAM.DELETE."+store.StreamName)
	if err := b.js.DeleteConsumer(quick(t), store.StreamName, "siem"); err == nil {
		t.Error("the subscriber deleted a consumer")
	}
	b.refused(t, "Publish", "$JS.API.CONSUMER.DELETE."+store.StreamName+".siem")
	for _, s := range []string{
		"$JS.API.STREAM.PURGE." + store.StreamName,
		"$JS.API.STREAM.MSG.DELETE." + store.StreamName,
		"$JS.API.STREAM.UPDATE." + store.StreamName,
		"$JS.API.STREAM.DELETE." + audit.StreamName,
	} {
		if err := b.nc.Publish(s, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		b.refused(t, "Publish", s)
	}

	// The key stream: not even its existence.
	if _, err := b.js.Stream(quick(t), seal.KeysStream); err == nil {
		t.Error("the subscriber looked the key stream up")
	}
	b.refused(t, "Publish", "$JS.API.STREAM.INFO."+seal.KeysStream)
	for _, s := range []string{
		"$JS.API.STREAM.MSG.GET." + seal.KeysStream,
		"$JS.API.DIRECT.GET." + seal.KeysStream,
		"$JS.API.STREAM.MSG.DELETE." + seal.KeysStream,
		"$JS.API.STREAM.PURGE." + seal.KeysStream,
		"$JS.API.STREAM.DELETE." + seal.KeysStream,
		"$JS.API.CONSUMER.CREATE." + seal.KeysStream + ".x",
	} {
		if err := b.nc.Publish(s, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		b.refused(t, "Publish", s)
	}

	// Subscriptions: other inboxes and the key subjects.
	for _, s := range []string{"_INBOX.>", "_INBOX_bot.>", "jfguard.keys.>", "jfguard.audit.>", "$JS.EVENT.>", ">"} {
		if _, err := b.nc.Subscribe(s, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		b.refused(t, "Subscription", s)
	}

	// Consumers that are not its own: jfguard's alert sinks', another subscriber's.
	for _, name := range []string{"jfguard-notify-ntfy", "jfguard-notify-email", "bot"} {
		if _, err := b.js.Consumer(quick(t), store.StreamName, name); err == nil {
			t.Errorf("the subscriber opened consumer %s", name)
		}
		b.refused(t, "Publish", "$JS.API.CONSUMER.INFO."+store.StreamName+"."+name)
		for _, s := range []string{
			"$JS.API.CONSUMER.MSG.NEXT." + store.StreamName + "." + name,
			"$JS.API.CONSUMER.CREATE." + store.StreamName + "." + name,
			"$JS.ACK." + store.StreamName + "." + name + ".1.1.1.1.0",
		} {
			if err := b.nc.Publish(s, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			b.refused(t, "Publish", s)
		}
	}

	// Nothing changed: no event, no checkpoint, no key; alice's key still opens her
	// authenticator, so she still gets her challenge.
	for _, s := range []string{store.StreamName, seal.KeysStream, audit.StreamName} {
		if n := count(s); n != before[s] {
			t.Errorf("stream %s went from %d to %d messages", s, before[s], n)
		}
	}
	if n := g.eventTypes(t)["settings_changed"]; n != 0 {
		t.Errorf("%d settings_changed events in the stream", n)
	}
	g.challenged(t, "alice-after")
	if !b.nc.IsConnected() {
		t.Error("the refusals closed the subscriber's connection")
	}
}

// TestRemovedSubscriberIsCutOff: removing a subscriber closes its open connection
// (rather than leaving it connected without rights) and refuses it from then on;
// the others keep reading.
func TestRemovedSubscriberIsCutOff(t *testing.T) {
	t.Parallel()
	g := startGateway(t, busOptions(t))
	seed := g.addSubscriber(t, "siem")
	otherSeed := g.addSubscriber(t, "bot")
	b, err := g.connectSubscriber(t, "siem", seed)
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.connectSubscriber(t, "bot", otherSeed)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "subscribers", "remove", "siem", "--server", g.url(), "--token", g.main.AdminToken())
	if code != 0 || !strings.Contains(out, "siem removed") {
		t.Fatalf("subscribers remove: exit %d: %s %s", code, out, errOut)
	}
	select {
	case <-b.closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the removed subscriber's connection is still open")
	}
	if _, err := g.connectSubscriber(t, "siem", seed); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("the removed subscriber connects again: %v", err)
	}
	if _, err := other.js.Stream(context.Background(), store.StreamName); err != nil {
		t.Fatalf("the other subscriber lost its access: %v", err)
	}
	g.expectEvents(t, "subscriber_added", "subscriber_removed")
}

// TestSubscribersCommandsOffline: add, list and remove work on a stopped jfguard's
// data directory; a subscriber added offline connects once jfguard starts; the seed
// is printed once, alone on stdout, and is nowhere in the data directory.
func TestSubscribersCommandsOffline(t *testing.T) {
	t.Parallel()
	g := startGateway(t, busOptions(t))
	dir := g.settings["data_dir"]
	if err := g.main.Close(); err != nil {
		t.Fatal(err)
	}
	g.main = nil

	code, out, errOut := runCLI(t, "subscribers", "add", "home-assistant", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("subscribers add offline: exit %d: %s", code, errOut)
	}
	seed := seedOf(t, out)
	if !strings.Contains(errOut, "_INBOX_home-assistant") || !strings.Contains(errOut, "docs/subscribers.md") {
		t.Errorf("no guidance on stderr: %s", errOut)
	}
	code, out, _ = runCLI(t, "subscribers", "add", "siem", "--data-dir", dir)
	if code != 0 {
		t.Fatal("second subscriber")
	}
	siemSeed := seedOf(t, out)
	for _, bad := range [][]string{{"home-assistant"}, {"Bad.Name"}, {"jfguard-x"}} {
		if code, out, errOut := runCLI(t, append([]string{"subscribers", "add", "--data-dir", dir}, bad...)...); code == 0 || out != "" || errOut == "" {
			t.Errorf("subscribers add %s: exit %d, stdout %q, stderr %q", bad[0], code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "subscribers", "remove", "siem", "--data-dir", dir); code != 0 {
		t.Fatalf("subscribers remove offline: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "subscribers", "remove", "nobody", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "nobody") {
		t.Errorf("removing an unknown subscriber: exit %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, "subscribers", "list", "--data-dir", dir, "--json")
	var list []struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Name != "home-assistant" || !strings.HasPrefix(list[0].PublicKey, "U") {
		t.Fatalf("subscribers list offline: exit %d: %s", code, out)
	}

	g.run(t)
	if _, err := g.connectSubscriber(t, "home-assistant", seed); err != nil {
		t.Fatalf("a subscriber added offline cannot connect after the start: %v", err)
	}
	if _, err := g.connectSubscriber(t, "siem", siemSeed); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("a subscriber removed offline connects: %v", err)
	}
	code, out, _ = runCLI(t, "subscribers", "list", "--server", g.url(), "--token", g.main.AdminToken())
	if code != 0 || !strings.Contains(out, "home-assistant") || !strings.Contains(out, list[0].PublicKey) || strings.Contains(out, "siem") {
		t.Fatalf("subscribers list --server: exit %d: %s", code, out)
	}

	// The seeds were printed and never stored: they are in none of the data
	// directory's files (stream blocks, snapshots, tokens), which do hold the public
	// key.
	if err := g.main.Close(); err != nil {
		t.Fatal(err)
	}
	g.main = nil
	publicKeyStored := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		publicKeyStored = publicKeyStored || bytes.Contains(b, []byte(list[0].PublicKey))
		for _, s := range []string{seed, siemSeed} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a subscriber's seed is stored in %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeyStored {
		t.Error("the public key is in no file: the search did not read the store")
	}
}
