package notifiers

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jfguard/jfguard/events"
)

// planted fills a payload with a distinct marker in every string, and tells which
// markers were planted in fields that must never leave jfguard.
type planted struct {
	n       int
	secrets []string
	public  []string
}

// fill sets every field of v (recursively). A field is secret when it is sealed, a
// hash, a recovery code tag, or inside a secret field.
func (p *planted) fill(v reflect.Value, name string, secret bool) {
	sealed := v.Type() == reflect.TypeOf(events.Sealed(""))
	secret = secret || sealed || name == "hash" || strings.HasSuffix(name, "_hash") || name == "tag"
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		p.n++
		mark := fmt.Sprintf("mark%03dq", p.n)
		if sealed {
			mark = "v1.k" + mark + ".c2VhbGVk"
		}
		v.SetString(mark)
		if secret {
			p.secrets = append(p.secrets, mark)
		} else {
			p.public = append(p.public, mark)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(9)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			p.fill(s.Index(i), name, secret)
		}
		v.Set(s)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			p.fill(v.Field(i), tag, secret)
		}
	}
}

// aggID is a valid aggregate id for an aggregate kind.
func aggID(aggregate string) string {
	switch aggregate {
	case events.AggIP:
		return "203_0_113_7"
	case events.AggSystem:
		return "jfguard"
	}
	return "u1"
}

// TestAlertsNeverCarrySecrets: for every event type of the catalog, with every field
// filled, no rendering of its alert (title, text, Markdown, HTML, link, webhook body)
// contains a sealed value, a hash or a recovery code tag, while the webhook still
// carries every other field.
func TestAlertsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	d := Describer{NameOf: names(map[string]string{"u1": "alice"}), Link: func(p string) string { return "https://jf.example.com" + p }, Location: time.UTC}
	totalSecrets := 0
	for _, entry := range events.Catalog() {
		t.Run(string(entry.Type), func(t *testing.T) {
			zero, err := events.Decode(events.Event{Type: entry.Type, Data: []byte("{}"), V: 1})
			if err != nil {
				t.Fatal(err)
			}
			var pl planted
			pl.fill(reflect.ValueOf(zero).Elem(), "", false)
			ev, err := events.New(aggID(entry.Aggregate), time.Now(), events.Context{Actor: "u1", IP: "203.0.113.7", Device: devTV}, zero)
			if err != nil {
				t.Fatal(err)
			}
			a, ok := d.Describe(ev)
			if !ok {
				t.Fatalf("no alert for %s", entry.Type)
			}
			if a.Title == "" || a.Summary == "" || a.Priority < 1 || a.Priority > 5 {
				t.Fatalf("alert is not readable: %+v", a)
			}
			body, err := webhookBody(a)
			if err != nil {
				t.Fatal(err)
			}
			asJSON, _ := json.Marshal(a)
			renderings := map[string]string{
				"title": a.Title, "text": a.Text(), "markdown": a.Markdown(), "html": a.HTML(),
				"link": a.Link, "tags": strings.Join(a.Tags, ","), "json": string(asJSON), "webhook": string(body),
			}
			for _, secret := range pl.secrets {
				for where, s := range renderings {
					if strings.Contains(s, secret) {
						t.Errorf("%s of %s contains the secret %q", where, entry.Type, secret)
					}
				}
			}
			for _, public := range pl.public {
				if !strings.Contains(string(body), public) {
					t.Errorf("webhook body of %s lacks the safe value %q", entry.Type, public)
				}
			}
			totalSecrets += len(pl.secrets)
		})
	}
	if totalSecrets < 10 {
		t.Fatalf("only %d secret values planted over the catalog: the table does not exercise redaction", totalSecrets)
	}
}

// TestDescribeTellsWhoWhatWhereWhen: an alert names the user, says what happened in
// words, from which address and device, when (RFC 1123 with zone), how urgent, and
// links pairing requests to the page that approves them.
func TestDescribeTellsWhoWhatWhereWhen(t *testing.T) {
	t.Parallel()
	d := Describer{NameOf: names(map[string]string{"u1": "alice"}), Link: func(p string) string { return "https://jf.example.com" + p }, Location: time.UTC}
	at := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	mk := func(p events.Payload) events.Event {
		ev := events.Must("u1", at, events.Context{Actor: "u1", IP: "203.0.113.7", Device: devTV}, p)
		return ev
	}

	a, ok := d.Describe(mk(&events.ChallengeIssued{ChallengeID: "c1", TokenHash: "th", Token: "v1.x.y", Methods: []string{"totp", "passkey"}}))
	if !ok {
		t.Fatal("challenge_issued not described")
	}
	if miss, ok := hasAll(a.Text(), "alice", "second factor", "203.0.113.7", "Living room TV", "Jellyfin Android TV 0.18.1", "Mon, 02 Mar 2026 10:30:00 UTC", "totp, passkey"); !ok {
		t.Errorf("challenge alert lacks %q:\n%s", miss, a.Text())
	}
	if !strings.Contains(a.Title, "alice") || a.Link != "" {
		t.Errorf("challenge alert title %q link %q", a.Title, a.Link)
	}

	a, _ = d.Describe(mk(&events.PairingRequested{PairingID: "p1", DeviceID: "dev-1", DeviceName: "Living room TV", Client: "Swiftfin", Version: "1.2", ExpiresAt: at.Add(15 * time.Minute)}))
	if a.Link != "https://jf.example.com/jfguard/setup#pairings" {
		t.Errorf("pairing link = %q", a.Link)
	}
	if miss, ok := hasAll(a.Text(), "waits for approval", "Swiftfin 1.2", a.Link); !ok {
		t.Errorf("pairing alert lacks %q:\n%s", miss, a.Text())
	}

	a, _ = d.Describe(mk(&events.LockoutStarted{Until: at.Add(time.Hour), Failures: 5}))
	if a.Priority != 5 || a.Severity != SeverityCritical || strings.Join(a.Tags, ",") != "warning,lock" {
		t.Errorf("lockout: priority %d severity %s tags %v", a.Priority, a.Severity, a.Tags)
	}
	if !strings.Contains(a.Summary, "Mon, 02 Mar 2026 11:30:00 UTC") {
		t.Errorf("lockout summary lacks the end time: %s", a.Summary)
	}

	sys := events.Must("jfguard", at, events.Context{Actor: "admin"}, &events.SettingsChanged{Key: "smtp.password", Old: "hunter2", New: "hunter3", Where: "admin page"})
	a, _ = d.Describe(sys)
	if strings.Contains(a.Text(), "hunter") {
		t.Errorf("a credential setting's value is shown:\n%s", a.Text())
	}

	if _, ok := d.Describe(events.Event{ID: "x", Type: "not_a_type", Data: []byte("{}")}); ok {
		t.Error("an unknown type was described")
	}
	// Without a name lookup the user id stands in for the name.
	a, _ = Describe(mk(&events.RecoveryCodeUsed{Index: 3}), nil)
	if !strings.Contains(a.Title, "u1") || a.Link != "" {
		t.Errorf("Describe without lookups: title %q link %q", a.Title, a.Link)
	}
}

// TestClientChosenValuesStayText: a device name is whatever the client sends; it must
// not become a Markdown link, an HTML tag or an extra line in a header.
func TestClientChosenValuesStayText(t *testing.T) {
	t.Parallel()
	dev := &events.Device{Name: "[login](https://evil.example)\r\nTitle: forged <b>x</b>", Client: "c", Version: "1"}
	ev := events.Must("u1", time.Now(), events.Context{IP: "198.51.100.1", Device: dev}, &events.FactorFailed{Method: "totp", Reason: "wrong code"})
	a, _ := Describer{}.Describe(ev)
	if strings.Contains(a.Markdown(), "[login](") {
		t.Errorf("Markdown renders a client value as a link:\n%s", a.Markdown())
	}
	if strings.Contains(a.HTML(), "<b>") {
		t.Errorf("HTML renders a client value as markup:\n%s", a.HTML())
	}
	for _, f := range a.Facts {
		if strings.ContainsAny(f.Value, "\r\n") {
			t.Errorf("fact %s keeps a line break: %q", f.Label, f.Value)
		}
	}
	// A very long device name is cut, not the advice that follows it.
	long := events.Must("u1", time.Now(), events.Context{}, &events.PairingRequested{DeviceName: strings.Repeat("é", 3000)})
	a, _ = Describer{}.Describe(long)
	if !strings.HasSuffix(a.Summary, "change the password.") || len(a.Title) > maxValue+len("…") {
		t.Errorf("long device name: title %d bytes, summary %q", len(a.Title), a.Summary)
	}
}
