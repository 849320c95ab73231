package events

import (
	"encoding/json"
	"fmt"
	"sort"
)

// An event, once in the stream, is never changed. When a payload type must change in
// a way old readers or new deciders cannot take as it is (a field becomes required, a
// meaning changes, a field is renamed or split), its version goes up by one and an
// upcaster turns the previous version's data into the new one. Decode runs the chain
// from the version an event was written with to the current one, so the fold, the
// audit tools and replay only ever see current payloads. Adding an optional field
// whose absence means exactly what old events meant needs no new version.
//
// The rule for changing an event, for whoever changes one:
//  1. Prefer a new event type for a new fact.
//  2. For a change to an existing type: raise its Version in the catalog, add the
//     upcaster from the previous version to the upcasters table below, and add a row
//     to the upcasting test reading an event of the previous version.
//  3. Never remove an upcaster: the stream keeps every version ever written.

// Upcaster turns the data of an event of one version into the data of the next.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// upcasters holds, per type, the upcaster from version i+1 to i+2 at index i.
var upcasters = map[Type][]Upcaster{
	TypeSessionVerified: {sessionVerifiedV1toV2},
}

// sessionVerifiedV1toV2 adds the session's assurance level, which version 1 did not
// record: it is the level the session's reason gave when version 1 was written.
// This table is history and never changes; new reasons are written with version 2
// and carry their level.
func sessionVerifiedV1toV2(data json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var reason string
	_ = json.Unmarshal(m["reason"], &reason)
	level := "aal1"
	switch reason {
	case "challenge", "passkey_sign_in", "trusted_browser":
		level = "aal2"
	case "app_password", "pairing", "quick_connect":
		level = "device"
	}
	m["assurance"], _ = json.Marshal(level)
	return json.Marshal(m)
}

// upcast brings data written with version v of typ to the current version.
func upcast(typ Type, v int, data json.RawMessage) (json.RawMessage, error) {
	chain := upcasters[typ]
	for ; v < currentVersion(typ); v++ {
		next, err := chain[v-1](data)
		if err != nil {
			return nil, fmt.Errorf("upcast %s from version %d: %w", typ, v, err)
		}
		data = next
	}
	return data, nil
}

// currentVersion is the version of typ that this build writes: one more than the
// number of its upcasters.
func currentVersion(typ Type) int { return len(upcasters[typ]) + 1 }

// Versioned lists the types written at a version above 1, sorted, for the catalog
// document.
func Versioned() []string {
	var out []string
	for typ := range upcasters {
		out = append(out, string(typ))
	}
	sort.Strings(out)
	return out
}
