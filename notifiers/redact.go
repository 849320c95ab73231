package notifiers

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
)

var (
	sealedType = reflect.TypeOf(events.Sealed(""))
	timeType   = reflect.TypeOf(time.Time{})
)

// safeEvent is ev with its payload reduced to the fields that may leave jfguard.
// Webhooks carry the envelope to systems outside jfguard's trust: sealed values are
// encrypted but still per-user secrets, and hashes of tokens, codes and passwords are
// what an offline guessing attack needs, so neither is sent.
func safeEvent(ev events.Event, p events.Payload) (events.Event, error) {
	v := reflect.ValueOf(p)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	out := map[string]any{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, omitEmpty := jsonField(f)
		if name == "" || !f.IsExported() || secretField(name, f.Type) {
			continue
		}
		fv := v.Field(i)
		if omitEmpty && fv.IsZero() {
			continue
		}
		out[name] = fv.Interface()
	}
	data, err := json.Marshal(out)
	if err != nil {
		return events.Event{}, err
	}
	ev.Data = data
	return ev, nil
}

// jsonField returns a struct field's JSON name ("" when it is not encoded) and whether
// it is omitted when empty.
func jsonField(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(","+opts+",", ",omitempty,")
}

// secretField reports whether a payload field must not be sent: a sealed value, a
// hash, a recovery code tag, or a list or object holding any of them.
func secretField(name string, t reflect.Type) bool {
	if name == "hash" || strings.HasSuffix(name, "_hash") || name == "tag" {
		return true
	}
	return holdsSecret(t)
}

func holdsSecret(t reflect.Type) bool {
	switch {
	case t == sealedType:
		return true
	case t == timeType:
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsSecret(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _ := jsonField(f)
			if name != "" && secretField(name, f.Type) {
				return true
			}
		}
	}
	return false
}
