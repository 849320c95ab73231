// Command subscriber reads jfguard's event stream over NATS with a subscriber
// credential, the way a SIEM, a home automation or a chat bot would. Copy it into
// your own module and change what it does with each event.
//
//	jfguard subscribers add siem > siem.nk
//	go run . -url nats://127.0.0.1:4222 -name siem -seed-file siem.nk
//
// By default it reads every event from the first with an ordered consumer, then
// follows new ones. With -durable it uses a durable consumer named after the
// subscriber and acknowledges each event once handled, so after a restart it goes
// on where it stopped. The seed comes from -seed-file or JFGUARD_NKEY_SEED.
//
// It skips (and reports on stderr) a message without the Jfguard-Mac header:
// jfguard writes none, so someone else with write access to NATS did.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// MACHeader is the header that carries the MAC of every event jfguard writes.
const MACHeader = "Jfguard-Mac"

// Event is jfguard's envelope (docs/events.md); Data is the type's payload.
type Event struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	Aggregate   string          `json:"aggregate"`
	AggregateID string          `json:"aggregate_id"`
	Actor       string          `json:"actor,omitempty"`
	IP          string          `json:"ip,omitempty"`
	Data        json.RawMessage `json:"data"`
	V           int             `json:"v"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the program: flags in, one line per event out, an exit code back.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("subscriber", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "nats://127.0.0.1:4222", "jfguard's NATS address (its nats.listen setting)")
	name := fs.String("name", "", "the subscriber's name, as given to `jfguard subscribers add`")
	seedFile := fs.String("seed-file", "", "file holding the subscriber's nkey seed (default: $JFGUARD_NKEY_SEED)")
	durable := fs.Bool("durable", false, "use the durable consumer named after the subscriber, acknowledging each event")
	count := fs.Int("count", 0, "stop after this many events (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" {
		fmt.Fprintln(stderr, "subscriber: -name is required")
		return 2
	}
	if err := subscribe(ctx, *url, *name, *seedFile, getenv, *durable, *count, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "subscriber:", err)
		return 1
	}
	return 0
}

// subscribe connects with the subscriber's nkey and prints events until count of
// them were printed or ctx ends; skipped messages go to warn.
func subscribe(ctx context.Context, url, name, seedFile string, getenv func(string) string, durable bool, count int, out, warn io.Writer) error {
	seed := getenv("JFGUARD_NKEY_SEED")
	if seedFile != "" {
		b, err := os.ReadFile(seedFile)
		if err != nil {
			return err
		}
		seed = string(b)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(seed)))
	if err != nil {
		return fmt.Errorf("the nkey seed (from -seed-file or JFGUARD_NKEY_SEED): %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url,
		nats.Name("jfguard subscriber "+name),
		nats.Nkey(pub, kp.Sign),
		// jfguard lets a subscriber receive replies on its own inbox only.
		nats.CustomInboxPrefix("_INBOX_"+name),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}

	var cons jetstream.Consumer
	if durable {
		// The one durable consumer name reserved for this subscriber is its own.
		cons, err = js.CreateOrUpdateConsumer(ctx, "JFGUARD_EVENTS", jetstream.ConsumerConfig{
			Durable:       name,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
		})
	} else {
		cons, err = js.OrderedConsumer(ctx, "JFGUARD_EVENTS", jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
	}
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for n := 0; count == 0 || n < count; {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		if msg.Headers().Get(MACHeader) == "" {
			if err := skip(msg, warn); err != nil {
				return err
			}
		} else {
			if err := handle(msg, out); err != nil {
				return err
			}
			n++
		}
		if durable {
			// Acknowledged once handled (or skipped): a restart resumes after it.
			if err := msg.DoubleAck(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// skip reports a message that is not jfguard's. jfguard never applied it either, and
// records a forged_event_detected naming its sequence.
func skip(msg jetstream.Msg, warn io.Writer) error {
	meta, err := msg.Metadata()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(warn, "skipped %d on %s: no %s header, so not written by jfguard\n", meta.Sequence.Stream, msg.Subject(), MACHeader)
	return err
}

// handle prints one event: its stream sequence, time, type, aggregate and payload.
func handle(msg jetstream.Msg, out io.Writer) error {
	meta, err := msg.Metadata()
	if err != nil {
		return err
	}
	var ev Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		return fmt.Errorf("event %d on %s: %w", meta.Sequence.Stream, msg.Subject(), err)
	}
	_, err = fmt.Fprintf(out, "%d %s %s %s/%s %s\n", meta.Sequence.Stream, ev.Time.UTC().Format(time.RFC3339), ev.Type, ev.Aggregate, ev.AggregateID, ev.Data)
	return err
}
