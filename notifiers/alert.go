package notifiers

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jfguard/jfguard/events"
)

// Severity is how urgent an alert is, in words receivers and filters understand.
type Severity string

// Severities, from routine to act-now.
const (
	SeverityInfo     Severity = "info"
	SeverityNotice   Severity = "notice"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Fact is one labelled line of an alert ("IP address: 203.0.113.7"). Values come from
// events, often from what a client chose to call itself, so renderers escape them.
type Fact struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Alert is an event told for a person: what happened, to whom, from where and when,
// how urgent it is, and where to act. It carries only fields that are safe to send
// out of jfguard: never sealed values, token, code or password hashes, or recovery
// code tags. ID is the event id, the stable idempotency id of every delivery.
type Alert struct {
	ID       string      `json:"id"`
	Type     events.Type `json:"type"`
	Time     time.Time   `json:"time"`
	Title    string      `json:"title"`
	Summary  string      `json:"summary"`
	Facts    []Fact      `json:"facts,omitempty"`
	Severity Severity    `json:"severity"`
	// Priority is on ntfy's scale: 1 (min) to 5 (max); other sinks map it.
	Priority int      `json:"priority"`
	Tags     []string `json:"tags,omitempty"`
	// Link is an absolute URL where the reader can act, when there is one.
	Link string `json:"link,omitempty"`
	// UserID is the user the event is about, for sinks that also tell the user.
	UserID string `json:"-"`
	// Event is the envelope with its payload reduced to the safe fields.
	Event events.Event `json:"-"`
}

// Text renders the alert as plain text: the summary, then one fact per line.
func (a Alert) Text() string {
	var b strings.Builder
	b.WriteString(a.Summary)
	if len(a.Facts) > 0 {
		b.WriteString("\n")
	}
	for _, f := range a.Facts {
		b.WriteString("\n" + f.Label + ": " + f.Value)
	}
	if a.Link != "" {
		b.WriteString("\n\n" + a.Link)
	}
	return b.String()
}

// Markdown renders the alert for receivers that display Markdown (Gotify). Values are
// escaped so a device named "[login](https://evil.example)" stays text, not a link.
func (a Alert) Markdown() string {
	var b strings.Builder
	b.WriteString(escapeMarkdown(a.Summary))
	if len(a.Facts) > 0 {
		b.WriteString("\n")
	}
	for _, f := range a.Facts {
		b.WriteString("\n- **" + escapeMarkdown(f.Label) + ":** " + escapeMarkdown(f.Value))
	}
	if a.Link != "" {
		b.WriteString("\n\n[" + escapeMarkdown(a.Link) + "](<" + a.Link + ">)")
	}
	return b.String()
}

var htmlAlert = template.Must(template.New("alert").Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<p>{{.Summary}}</p>
{{if .Facts}}<table>{{range .Facts}}
<tr><th align="left">{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}
</table>{{end}}
{{if .Link}}<p><a href="{{.Link}}">{{.Link}}</a></p>{{end}}
</body></html>
`))

// HTML renders the alert as an HTML email body; the template escapes every value.
func (a Alert) HTML() string {
	var b bytes.Buffer
	if err := htmlAlert.Execute(&b, a); err != nil {
		return "<p>" + template.HTMLEscapeString(a.Text()) + "</p>"
	}
	return b.String()
}

// markdownSpecial are the characters that start Markdown syntax inside a line.
const markdownSpecial = "\\`*_{}[]()<>#|~!"

func escapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Limits of text taken from events: names and reasons are short, and a client-chosen
// device name must not fill a phone screen or push the useful part of a sentence out.
const (
	maxPart    = 80  // a value inside a title or summary
	maxValue   = 200 // a fact's value, a title
	maxSummary = 600 // a whole summary
)

// clean makes a value safe for a single line of any sink and bounds it to maxValue.
func clean(s string) string { return cleanTo(s, maxValue) }

// cleanTo removes control characters (they would break headers and forge lines) and
// surrounding space, and cuts s to at most limit bytes on a character boundary.
func cleanTo(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// severityOf maps a priority to its severity word.
func severityOf(priority int) Severity {
	switch {
	case priority >= 5:
		return SeverityCritical
	case priority == 4:
		return SeverityWarning
	case priority == 3:
		return SeverityNotice
	}
	return SeverityInfo
}

// Describer turns events into alerts. NameOf maps a Jellyfin user id to the user's
// name (empty when unknown); Link makes a jfguard path absolute with the public URL
// (empty when there is none); Location is the time zone alerts are written in.
type Describer struct {
	NameOf   func(userID string) string
	Link     func(path string) string
	Location *time.Location
}

// Describe turns ev into an alert with user ids shown as ids. It reports false for an
// event it cannot read (unknown type, newer version, undecodable payload).
func Describe(ev events.Event, link func(path string) string) (Alert, bool) {
	return Describer{Link: link}.Describe(ev)
}

// Describe turns ev into an alert: who, what in plain words, from which address and
// device, when, how urgent. It reports false for an event it cannot read.
func (d Describer) Describe(ev events.Event) (Alert, bool) {
	p, err := events.Decode(ev)
	if err != nil {
		return Alert{}, false
	}
	safe, err := safeEvent(ev, p)
	if err != nil {
		return Alert{}, false
	}
	a := Alert{ID: ev.ID, Type: ev.Type, Time: ev.Time, Event: safe}
	who := ""
	switch ev.Aggregate {
	case events.AggUser:
		a.UserID = ev.AggregateID
		who = cleanTo(d.name(ev.AggregateID), maxPart)
	case events.AggIP:
		if ev.IP == "" {
			ev.IP = events.IPFromAggregateID(ev.AggregateID)
		}
	}
	text := d.describe(ev, p, who)
	a.Title, a.Summary, a.Priority, a.Tags = clean(text.title), cleanTo(text.summary, maxSummary), text.priority, text.tags
	a.Severity = severityOf(a.Priority)
	if text.linkPath != "" && d.Link != nil {
		a.Link = d.Link(text.linkPath)
	}

	if who != "" {
		a.Facts = append(a.Facts, Fact{"User", who})
	}
	if ev.Actor != "" && ev.Actor != ev.AggregateID {
		a.Facts = append(a.Facts, Fact{"By", d.name(ev.Actor)})
	}
	a.Facts = append(a.Facts, text.facts...)
	if ev.IP != "" {
		a.Facts = append(a.Facts, Fact{"IP address", ev.IP})
	}
	if dev := ev.Device; dev != nil {
		if dev.Name != "" {
			a.Facts = append(a.Facts, Fact{"Device", dev.Name})
		}
		if app := strings.TrimSpace(dev.Client + " " + dev.Version); app != "" {
			a.Facts = append(a.Facts, Fact{"App", app})
		}
	}
	a.Facts = append(a.Facts, Fact{"When", d.when(ev.Time)})
	facts := a.Facts[:0]
	for _, f := range a.Facts {
		if f.Value = clean(f.Value); f.Value != "" {
			facts = append(facts, f)
		}
	}
	a.Facts = facts
	return a, true
}

// name is the user's name when known, else the id as it is.
func (d Describer) name(userID string) string {
	if d.NameOf != nil {
		if n := d.NameOf(userID); n != "" {
			return n
		}
	}
	return userID
}

// when writes an instant as RFC 1123 with its zone, the form mail clients and people
// read without thinking.
func (d Describer) when(t time.Time) string {
	loc := d.Location
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format(time.RFC1123)
}

// count writes "1 code" / "3 codes".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
