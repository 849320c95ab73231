package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/shared"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// buckets checks that the shared buckets (ceremonies, sign-in flows, Quick Connect
// exchanges, rate limits, turns) can be read and have the replicas nats.replicas
// asks for. jfguard creates or corrects them at start, so a missing or different
// bucket is a warning; one it cannot read fails, as every sign-in would. It
// returns the buckets that exist.
func (d *doctor) buckets(ctx context.Context, js jetstream.JetStream, replicas int) []string {
	if replicas < 1 {
		replicas = 1
	}
	var found []string
	good := 0
	for _, k := range shared.Kinds {
		got, err := bucketReplicas(ctx, js, k.Bucket)
		if err == nil {
			found = append(found, k.Bucket)
		}
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			d.warn("buckets", k.Bucket+" does not exist",
				"start jfguard: it creates its buckets at start (its NATS user needs $JS.API.STREAM.CREATE.KV_"+k.Bucket+", or $JS.API.>)")
		case err != nil:
			d.fail("buckets", fmt.Sprintf("cannot read %s: %v", k.Bucket, err),
				"allow jfguard's NATS user $JS.API.STREAM.INFO.KV_* (or $JS.API.>); without its buckets jfguard refuses every sign-in")
		case got != replicas:
			d.warn("buckets", fmt.Sprintf("%s has %d replica(s), nats.replicas is %d", k.Bucket, got, replicas),
				"start jfguard: it sets the buckets' replicas to nats.replicas at start (or nats stream edit KV_"+k.Bucket+" --replicas "+strconv.Itoa(replicas)+")")
		default:
			good++
		}
	}
	if good == len(shared.Kinds) {
		d.ok("buckets", fmt.Sprintf("the %d shared buckets exist with %d replica(s)", good, replicas))
	}
	return found
}

// bucketReplicas reads a key-value bucket's replicas.
func bucketReplicas(ctx context.Context, js jetstream.JetStream, bucket string) (int, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return 0, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("bucket %s: unexpected status %T", bucket, st)
	}
	return bs.StreamInfo().Config.Replicas, nil
}

// probeStream is the stream a probe says it expects. No stream has this name, so
// JetStream refuses to store the probe and answers "expected stream does not
// match" (error 10060) — but only after the server let the publish through.
const probeStream = "JFGUARD_DOCTOR_PROBE"

// errStreamNotMatch is JetStream's error code for a message whose
// Nats-Expected-Stream names another stream.
const errStreamNotMatch = 10060

// probeTimeout bounds the wait for JetStream's answer to one probe.
const probeTimeout = 5 * time.Second

// permissions checks that jfguard's NATS user may publish where jfguard writes —
// events, checkpoints, data keys and the shared buckets that exist (buckets
// reported the others) — and may receive the answers, by publishing to each a
// probe JetStream refuses to store (see probeStream). A pass proves the publish
// and subscribe permissions and that a stream listens on each subject; it writes
// nothing.
func (d *doctor) permissions(ctx context.Context, nc *nats.Conn, buckets []string) {
	id := rand.Text()
	subjects := []string{events.SubjectPrefix + ".doctor." + id + ".probe", "jfguard.audit.checkpoint", "jfguard.keys.doctor-" + id}
	for _, b := range buckets {
		subjects = append(subjects, "$KV."+b+".doctor-"+id)
	}
	var failed bool
	for _, s := range subjects {
		if f := publishProbe(ctx, nc, s); f != nil {
			failed = true
			d.fail("permissions", f.msg, f.fix)
		}
	}
	if !failed {
		d.ok("permissions", "jfguard's NATS user may publish events, checkpoints, data keys and shared-bucket writes, and JetStream answers on each (checked with probes it refuses to store)")
	}
}

// probeFailure is a failed probe: what went wrong and its fix.
type probeFailure struct{ msg, fix string }

// Fixes of failed probes.
const (
	fixPublish   = "allow jfguard's NATS user to publish to jfguard.> and $KV.> (docs/operations.md, External NATS server or cluster)"
	fixSubscribe = "allow jfguard's NATS user to subscribe to _INBOX.> (JetStream's answers come there)"
	fixNoStream  = "start jfguard once to create its streams and buckets, or restore them from a backup"
	fixJetStream = "check that the NATS server runs JetStream for jfguard's account, then run jfguard doctor again"
)

// publishProbe publishes one probe to subject and reads JetStream's answer. A
// permission violation comes back from the server before the answer to the
// flush, so it is known without waiting.
func publishProbe(ctx context.Context, nc *nats.Conn, subject string) *probeFailure {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return &probeFailure{fmt.Sprintf("cannot subscribe to %s: %v", inbox, err), fixSubscribe}
	}
	defer sub.Unsubscribe()
	msg := nats.NewMsg(subject)
	msg.Reply = inbox
	msg.Header.Set(jetstream.ExpectedStreamHeader, probeStream)
	if err := nc.PublishMsg(msg); err != nil {
		return &probeFailure{fmt.Sprintf("cannot publish to %s: %v", subject, err), fixPublish}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return &probeFailure{fmt.Sprintf("NATS did not answer after a publish to %s: %v", subject, err), fixJetStream}
	}
	if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
		switch {
		case strings.Contains(err.Error(), strconv.Quote(subject)):
			return &probeFailure{fmt.Sprintf("the NATS server refuses jfguard's publish to %s (permissions violation)", subject), fixPublish}
		case strings.Contains(err.Error(), inbox):
			return &probeFailure{fmt.Sprintf("the NATS server refuses jfguard's subscription to %s (permissions violation)", inbox), fixSubscribe}
		}
	}
	reply, err := sub.NextMsgWithContext(ctx)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return &probeFailure{fmt.Sprintf("no stream takes %s", subject), fixNoStream}
	case err != nil:
		return &probeFailure{fmt.Sprintf("no answer from JetStream to a publish to %s: %v", subject, err), fixJetStream}
	}
	var ack struct {
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil || ack.Error == nil || ack.Error.Code != errStreamNotMatch {
		return &probeFailure{fmt.Sprintf("unexpected answer from JetStream to the probe on %s: %q", subject, reply.Data), fixJetStream}
	}
	return nil
}
