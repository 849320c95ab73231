package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/store"
)

// Filter selects events for the audit timeline.
type Filter struct {
	UserID string        // events of this user (aggregate) or caused by them (actor)
	IP     string        // events from this address, or of its aggregates
	Types  []events.Type // event types; empty means all
	Since  time.Time     // inclusive
	Until  time.Time     // exclusive; zero means now
	Limit  int           // at most this many (the newest when Tail is set); 0 = no limit
	Tail   bool
	// IPAggregates are the IP aggregates that count as IP's (its block and the
	// address alone, domain.BanKeys); empty means the address's own.
	IPAggregates []string
}

// ofAddress reports whether an IP aggregate is the filtered address's.
func (f Filter) ofAddress(aggID string) bool {
	if len(f.IPAggregates) == 0 {
		return aggID == events.IPAggregateID(f.IP)
	}
	for _, id := range f.IPAggregates {
		if id == aggID {
			return true
		}
	}
	return false
}

// Match reports whether an event passes the filter (time aside).
func (f Filter) Match(ev events.Event) bool {
	if f.UserID != "" && !(ev.Aggregate == events.AggUser && ev.AggregateID == f.UserID) && ev.Actor != f.UserID {
		return false
	}
	if f.IP != "" && ev.IP != f.IP && !(ev.Aggregate == events.AggIP && f.ofAddress(ev.AggregateID)) {
		return false
	}
	if len(f.Types) > 0 {
		ok := false
		for _, t := range f.Types {
			if t == ev.Type {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Query returns the events that pass the filter, oldest first.
func Query(ctx context.Context, st *store.Store, f Filter) ([]events.Event, error) {
	for _, t := range f.Types {
		if _, ok := events.Lookup(t); !ok {
			return nil, fmt.Errorf("unknown event type %q (see docs/events.md)", t)
		}
	}
	filter := ""
	switch {
	case f.UserID != "" && !strings.ContainsAny(f.UserID, ".*> "):
		// Events caused by the user on other aggregates are rare; the subject filter
		// keeps the scan to the user's own when only the user is asked for.
		filter = events.AggregateSubject(events.AggUser, f.UserID)
	case len(f.Types) == 1:
		filter = events.SubjectPrefix + ".*.*." + string(f.Types[0])
	}
	var out []events.Event
	err := st.ScanTime(ctx, filter, f.Since, f.Until, func(ev events.Event) error {
		if !f.Match(ev) {
			return nil
		}
		out = append(out, ev)
		if f.Limit > 0 && len(out) > f.Limit {
			if f.Tail {
				out = out[1:]
			} else {
				out = out[:f.Limit]
				return errStopQuery
			}
		}
		return nil
	})
	if err != nil && err != errStopQuery {
		return nil, err
	}
	return out, nil
}

var errStopQuery = fmt.Errorf("query limit reached")

// ResolveUser finds a user id by Jellyfin name (or accepts an id), from the stream.
func ResolveUser(ctx context.Context, st *store.Store, nameOrID string) (string, error) {
	found := ""
	for _, typ := range []events.Type{events.TypeUserDiscovered, events.TypeUserProfileChanged} {
		err := st.ScanTime(ctx, events.SubjectPrefix+".user.*."+string(typ), time.Time{}, time.Time{}, func(ev events.Event) error {
			if ev.AggregateID == nameOrID {
				found = ev.AggregateID
				return nil
			}
			var name string
			switch p, _ := events.Decode(ev); e := p.(type) {
			case *events.UserDiscovered:
				name = e.Name
			case *events.UserProfileChanged:
				name = e.Name
			}
			if strings.EqualFold(name, nameOrID) {
				found = ev.AggregateID
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	if found == "" {
		return "", fmt.Errorf("no user %q in the event log", nameOrID)
	}
	return found, nil
}
