// Package events is jfguard's event vocabulary: the event types and their catalog,
// the envelope and its codec, the upcasting of older payload versions, and the MAC
// every event carries (Jfguard-Mac). It does not depend on NATS: the JetStream
// store is in events/store, field sealing and the master keyring in events/seal,
// and audit integrity (hash chain, signed checkpoints, verify, key rotation) in
// events/audit.
package events

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"
)

// Aggregates: every event belongs to exactly one.
const (
	AggUser   = "user"
	AggIP     = "ip"
	AggSystem = "system"
)

// SubjectPrefix is the root of every event subject.
const SubjectPrefix = "jfguard.events"

// Device describes the client that caused an event, as it named itself.
type Device struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Client  string `json:"client,omitempty"`
	Version string `json:"version,omitempty"`
}

// Event is the envelope of every fact in the stream. Data holds the type-specific
// payload; Seq and Subject are filled when the event is read back from the stream.
type Event struct {
	ID          string          `json:"id"`
	Type        Type            `json:"type"`
	Time        time.Time       `json:"time"`
	Aggregate   string          `json:"aggregate"`
	AggregateID string          `json:"aggregate_id"`
	Actor       string          `json:"actor,omitempty"`
	IP          string          `json:"ip,omitempty"`
	Device      *Device         `json:"device,omitempty"`
	Data        json.RawMessage `json:"data"`
	// V is the version of the type's payload the event was written with.
	V int `json:"v"`
	// Cmd ties the events of one command together; absent for a command of one event.
	Cmd *CommandRef `json:"cmd,omitempty"`

	Seq     uint64 `json:"-"`
	Subject string `json:"-"`
	// Auth is what the store found about the event's MAC when it read it; Stored is
	// when the stream stored it (the server's time, which a writer cannot choose).
	Auth   Auth      `json:"-"`
	Stored time.Time `json:"-"`

	// decoded is the payload, when a scan decoded it ahead of time.
	decoded Payload
}

// CommandRef places an event in the command that produced it: event I of N of the
// command with this ID. A command counts only once its last event is in the stream.
type CommandRef struct {
	ID string `json:"id"`
	I  int    `json:"i"`
	N  int    `json:"n"`
}

// Context is who and where an event came from: the parts of the envelope that are
// not the payload.
type Context struct {
	Actor  string
	IP     string
	Device *Device
}

// ErrUnknownType is returned for an event type that is not in the catalog.
var ErrUnknownType = errors.New("unknown event type")

// New builds an envelope for payload p on the aggregate it belongs to. The caller
// supplies the time so domain code stays free of clocks.
func New(aggID string, now time.Time, c Context, p Payload) (Event, error) {
	entry, ok := catalogByType[p.EventType()]
	if !ok {
		return Event{}, fmt.Errorf("%w: %s", ErrUnknownType, p.EventType())
	}
	if !ValidAggregateID(aggID) {
		return Event{}, fmt.Errorf("aggregate id %q is not subject-safe", aggID)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s: %w", p.EventType(), err)
	}
	return Event{
		ID:          NewID(),
		Type:        p.EventType(),
		Time:        now.UTC(),
		Aggregate:   entry.Aggregate,
		AggregateID: aggID,
		Actor:       c.Actor,
		IP:          c.IP,
		Device:      c.Device,
		Data:        data,
		V:           currentVersion(p.EventType()),
	}, nil
}

// Must is New for payloads known to be valid; it panics on a programming error
// (an uncatalogued type or an unsafe id), never on user input.
func Must(aggID string, now time.Time, c Context, p Payload) Event {
	ev, err := New(aggID, now, c, p)
	if err != nil {
		panic(err)
	}
	return ev
}

// SubjectFor is the subject an event is published on.
func SubjectFor(aggregate, aggID string, typ Type) string {
	return SubjectPrefix + "." + aggregate + "." + aggID + "." + string(typ)
}

// AggregateSubject matches every event of one aggregate instance.
func AggregateSubject(aggregate, aggID string) string {
	return SubjectPrefix + "." + aggregate + "." + aggID + ".>"
}

// AggregateOfSubject reads the aggregate and its id from an event subject
// (jfguard.events.<aggregate>.<id>.<type>), whatever the message holds.
func AggregateOfSubject(subject string) (aggregate, id string, ok bool) {
	rest, found := strings.CutPrefix(subject, SubjectPrefix+".")
	if !found {
		return "", "", false
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// OnSubject reports whether subject is the one the event's envelope names, without
// building it.
func (e Event) OnSubject(subject string) bool {
	rest, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if ok {
		rest, ok = cutToken(rest, e.Aggregate)
	}
	if ok {
		rest, ok = cutToken(rest, e.AggregateID)
	}
	return ok && rest == string(e.Type)
}

// cutToken removes tok and the dot after it from the front of s. It compares in
// place: a rebuild checks every event's subject, and building tok+"." would
// allocate for every id longer than a few bytes.
func cutToken(s, tok string) (string, bool) {
	if len(s) <= len(tok) || s[len(tok)] != '.' || s[:len(tok)] != tok {
		return s, false
	}
	return s[len(tok)+1:], true
}

// PublishSubject is the subject this event is published on.
func (e Event) PublishSubject() string { return SubjectFor(e.Aggregate, e.AggregateID, e.Type) }

// ValidAggregateID reports whether id can be one token of a NATS subject.
func ValidAggregateID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c == '.' || c == '*' || c == '>' || c >= 0x7f {
			return false
		}
	}
	return true
}

// IPAggregateID turns an IP address or prefix into its subject-safe aggregate id.
// NATS splits subjects at dots and gives '*' and '>' meaning; a slash is a path
// separator wherever a name reaches the file system. So dots and the slash become
// underscores and colons stay: 192.0.2.1 is 192_0_2_1, the IPv6 prefix
// 2001:db8:1:2::/64 is 2001:db8:1:2::_64, and an IPv6 address stays as it is.
// IPFromAggregateID reverses it.
func IPAggregateID(ip string) string { return ipIDReplacer.Replace(ip) }

// ipIDReplacer writes IP aggregate ids; a Replacer is safe for concurrent use.
var ipIDReplacer = strings.NewReplacer(".", "_", "/", "_")

// AppendIPAggregateID appends IPAggregateID(p's text) to dst, allocating nothing
// when dst has room: the gate looks bans up with it on every request.
func AppendIPAggregateID(dst []byte, p netip.Prefix) []byte {
	start := len(dst)
	if p.IsSingleIP() {
		dst = p.Addr().AppendTo(dst)
	} else {
		dst = p.Masked().AppendTo(dst)
	}
	for i := start; i < len(dst); i++ {
		if dst[i] == '.' || dst[i] == '/' {
			dst[i] = '_'
		}
	}
	return dst
}

// IPFromAggregateID is the address or prefix an IP aggregate id stands for, written as
// netip writes them: 192.0.2.1, 2001:db8::1, or 2001:db8:1:2::/64. An IPv6 id has
// at most one underscore, before the prefix length; an IPv4 id has a fifth part
// only when it is a prefix.
func IPFromAggregateID(id string) string {
	if strings.Contains(id, ":") {
		if i := strings.LastIndexByte(id, '_'); i >= 0 {
			return id[:i] + "/" + id[i+1:]
		}
		return id
	}
	parts := strings.Split(id, "_")
	if len(parts) == 5 {
		return strings.Join(parts[:4], ".") + "/" + parts[4]
	}
	return strings.Join(parts, ".")
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a random 128-bit identifier in lower-case base32.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return idEncoding.EncodeToString(b[:])
}

// DecodeMsg turns a stream message into an event.
func DecodeMsg(subject string, seq uint64, data []byte) (Event, error) {
	var ev Event
	if err := fastjson.Unmarshal(data, &ev); err != nil {
		return Event{}, fmt.Errorf("decode event at sequence %d: %w", seq, err)
	}
	ev.Seq, ev.Subject = seq, subject
	return ev, nil
}
