package events_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/events"
)

var update = flag.Bool("update", false, "rewrite docs/events.md from the catalog")

// renderCatalog writes the event catalog as the Markdown subscribers read.
func renderCatalog() string {
	var b strings.Builder
	b.WriteString(`# Event catalog

Every fact jfguard records is an event in the JetStream stream ` + "`JFGUARD_EVENTS`" + `, published on
` + "`jfguard.events.<aggregate>.<id>.<type>`" + `. This file is generated from the code's catalog
(` + "`go test ./events -run TestCatalogDoc -update`" + `) and a test fails when the two differ:
it is a contract for subscribers.

## Envelope

Every event is a JSON object:

| field | meaning |
|---|---|
| ` + "`id`" + ` | unique event id (also the ` + "`Nats-Msg-Id`" + `, so a publish is idempotent) |
| ` + "`type`" + ` | the event type below |
| ` + "`time`" + ` | when it happened (RFC 3339, UTC) |
| ` + "`aggregate`" + ` | ` + "`user`, `ip` or `system`" + ` |
| ` + "`aggregate_id`" + ` | the Jellyfin user id; for ` + "`ip`" + `, the block of addresses counted as one client, with dots and the slash written as underscores: an IPv4 address (` + "`192_0_2_1`" + `) or an IPv6 prefix of ` + "`security.ipv6_prefix`" + ` bits (` + "`2001:db8:1:2::_64`" + `; an IPv6 address alone, as in streams from before prefixes, is written as is: ` + "`2001:db8::1`" + `); for ` + "`system`" + `, a name |
| ` + "`actor`" + ` | who caused it: a user id, ` + "`admin`" + `, ` + "`jfguard`" + ` or ` + "`settings file`" + ` |
| ` + "`ip`" + ` | the client address, when a request caused it |
| ` + "`device`" + ` | ` + "`{id, name, client, version}`" + ` as the client named itself, when known |
| ` + "`data`" + ` | the payload below |
| ` + "`v`" + ` | the version of the type's payload (1 unless its section below says otherwise); jfguard upcasts older versions when it reads them, and a subscriber that reads ` + "`data`" + ` itself checks ` + "`v`" + ` |
| ` + "`cmd`" + ` | present when one command produced several events: ` + "`{id, i, n}`" + `, this is event i of n of command id |

A command's events are published one after the other on the same aggregate, each
expecting the previous one as the aggregate's last event, so nothing else comes in
between. **A command counts only once its last event (` + "`i == n`" + `) is in the stream**; a
command cut short (its writer stopped half way, or lost a race for its last event) is
followed by another event of the aggregate and is to be ignored. jfguard's own
projections do exactly that.

Every event jfguard writes carries a ` + "`Jfguard-Mac`" + ` message header: ` + "`<key id>:<base64url nonce and tag>`" + `, a GMAC
(AES-256-GCM) of the stored JSON keyed from jfguard's master keyring; the event must also sit on the
subject its envelope names. jfguard never applies an event whose MAC is missing or wrong, nor a copy
of an authentic event appended again (stored more than 15 minutes after its ` + "`time`" + `, or with the
id of an event stored before it, within 15 minutes of the later of that event's ` + "`time`" + ` and its storing): it
records ` + "`forged_event_detected`" + ` instead, and
` + "`jfguard audit verify`" + ` names it. Subscribers cannot check the MAC (only jfguard nodes hold the
key); they can rely on ` + "`forged_event_detected`" + `, on ` + "`jfguard audit verify`" + `, and over HTTP on the
event feed and ` + "`audit.query`" + `, which mark each event ` + "`\"authentic\": true`" + ` or ` + "`false`" + ` with the reason it was refused.

Secrets never appear in clear. A **sealed string** is encrypted (AES-256-GCM) with the user's data
key; after ` + "`user_forgotten`" + ` it can no longer be decrypted while the rest of the event stays
readable. Codes and passwords appear only as slow hashes; tokens only as SHA-256 hashes.

To subscribe, create a consumer on ` + "`JFGUARD_EVENTS`" + ` with a filter such as
` + "`jfguard.events.*.*.factor_failed`" + ` (one type), ` + "`jfguard.events.user.<id>.>`" + ` (one user) or
` + "`jfguard.events.>`" + ` (everything). Signed audit checkpoints are in ` + "`JFGUARD_AUDIT`" + `.

## Changing an event

An event, once in the stream, is never changed. Prefer a new type for a new fact.
When an existing type must change in a way old events cannot be read as they are (a
field becomes required, a meaning changes, a field is renamed or split), its version
goes up by one and jfguard gains an upcaster from the previous version, kept for as
long as the stream can hold such events (for ever). Adding an optional field whose
absence means what old events meant needs no new version. Types at a version above 1
say so below, with what changed in the upcaster's note in ` + "`events/upcast.go`" + `.

`)
	agg := ""
	for _, e := range events.Catalog() {
		if e.Aggregate != agg {
			agg = e.Aggregate
			fmt.Fprintf(&b, "## Aggregate `%s`\n\n", agg)
		}
		fmt.Fprintf(&b, "### `%s`\n\n%s\n\nSubject: `jfguard.events.%s.<id>.%s`\n\n", e.Type, e.Summary, e.Aggregate, e.Type)
		if v := e.Version(); v > 1 {
			fmt.Fprintf(&b, "Version: %d (older versions are upcast when read).\n\n", v)
		}
		fields := e.Fields()
		if len(fields) == 0 {
			b.WriteString("No payload fields.\n\n")
			continue
		}
		b.WriteString("| field | type |\n|---|---|\n")
		for _, f := range fields {
			fmt.Fprintf(&b, "| `%s` | %s |\n", f[0], f[1])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestCatalogDocMatchesCode keeps docs/events.md and the Go catalog identical.
func TestCatalogDocMatchesCode(t *testing.T) {
	const path = "../docs/events.md"
	want := renderCatalog()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run: go test ./events -run TestCatalogDoc -update)", path, err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the event catalog in the code; run: go test ./events -run TestCatalogDoc -update", path)
	}
	for _, e := range events.Catalog() {
		if !strings.Contains(string(got), "### `"+string(e.Type)+"`") {
			t.Errorf("event type %s is not documented", e.Type)
		}
	}
}
