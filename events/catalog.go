package events

import (
	"fmt"
	fastjson "github.com/goccy/go-json"
	"reflect"
	"sort"
	"time"
)

// Payload is the type-specific data of an event. Every payload type is listed in the
// catalog below; docs/events.md is generated from it and checked by a test.
type Payload interface {
	EventType() Type
}

// Sealed is a value encrypted with its user's data key (see seal.Sealer). Destroying the key
// shreds every Sealed value of that user while the rest of the event stays readable.
type Sealed string

// Entry describes one event type for subscribers.
type Entry struct {
	Type      Type
	Aggregate string
	Summary   string
	proto     Payload
}

// Version is the version of the type's payload that this build writes; older
// versions are upcast when read (see upcast.go).
func (e Entry) Version() int { return currentVersion(e.Type) }

// Fields lists the payload's JSON fields with their Go types, for the catalog document.
func (e Entry) Fields() [][2]string {
	t := reflect.TypeOf(e.proto).Elem()
	var out [][2]string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("json")
		for j := 0; j < len(name); j++ {
			if name[j] == ',' {
				name = name[:j]
				break
			}
		}
		if name == "" || name == "-" {
			continue
		}
		out = append(out, [2]string{name, typeName(f.Type)})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(Sealed("")):
		return "sealed string"
	case t == reflect.TypeOf(time.Time{}):
		return "RFC 3339 time"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.Kind().String()
}

// Catalog returns every event type, sorted by aggregate then type.
func Catalog() []Entry {
	out := make([]Entry, len(catalog))
	copy(out, catalog)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Aggregate != out[j].Aggregate {
			return out[i].Aggregate < out[j].Aggregate
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// Lookup returns the catalog entry of a type.
func Lookup(typ Type) (Entry, bool) {
	e, ok := catalogByType[typ]
	return e, ok
}

// Decode returns the typed payload of an event, upcasting older versions.
func Decode(ev Event) (Payload, error) {
	if ev.decoded != nil {
		return ev.decoded, nil
	}
	entry, ok := catalogByType[ev.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownType, ev.Type)
	}
	v, current := max(ev.V, 1), currentVersion(ev.Type)
	if v > current {
		return nil, fmt.Errorf("event %s is %s version %d, newer than this jfguard understands (%d): upgrade jfguard", ev.ID, ev.Type, v, current)
	}
	data := ev.Data
	if v < current {
		var err error
		if data, err = upcast(ev.Type, v, data); err != nil {
			return nil, fmt.Errorf("event %s: %w", ev.ID, err)
		}
	}
	p := reflect.New(reflect.TypeOf(entry.proto).Elem()).Interface().(Payload)
	if err := fastjson.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s payload of event %s: %w", ev.Type, ev.ID, err)
	}
	return p, nil
}

// Predecode decodes the event's payload ahead of time, so that a later Decode (or
// Data) of the event returns it without decoding again. An event whose payload does
// not decode is left as it is, for Decode to report. Scans use it to spread the
// decoding of a replay over several goroutines.
func (e *Event) Predecode() {
	if p, err := Decode(*e); err == nil {
		e.decoded = p
	}
}

// Data decodes the payload of ev into a value of type T.
func Data[T Payload](ev Event) (T, error) {
	var zero T
	p, err := Decode(ev)
	if err != nil {
		return zero, err
	}
	v, ok := p.(T)
	if !ok {
		return zero, fmt.Errorf("event %s is %s, not %T", ev.ID, ev.Type, zero)
	}
	return v, nil
}

var catalogByType = map[Type]Entry{}

func init() {
	for _, e := range catalog {
		if e.proto.EventType() != e.Type {
			panic("catalog entry " + string(e.Type) + " has payload of type " + string(e.proto.EventType()))
		}
		if _, dup := catalogByType[e.Type]; dup {
			panic("duplicate catalog entry " + string(e.Type))
		}
		catalogByType[e.Type] = e
	}
	for typ := range upcasters {
		if _, ok := catalogByType[typ]; !ok {
			panic("upcasters for " + string(typ) + ", which is not in the catalog")
		}
	}
}
