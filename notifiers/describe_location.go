package notifiers

import (
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/events"
)

// describeLocation writes the location alerts: a sign-in from a new network, and
// two sign-ins too far apart for the time between them.
func describeLocation(p events.Payload, who string, v func(string) string) description {
	switch p := p.(type) {
	case *events.NewLocation:
		where := place(v(p.City), v(p.Country))
		summary := who + " signed in from a network they have not used before"
		if where != "" {
			summary += ", in " + where
		}
		return description{title: "Sign-in from a new network: " + who, summary: summary + ". If it was not them, sign them out everywhere and change their password.", priority: 4, tags: []string{"world_map", "warning"},
			facts: []Fact{{"Network", v(p.Network)}, {"Place", where}}}
	case *events.ImpossibleTravel:
		from, to := place(v(p.FromCity), v(p.FromCountry)), place(v(p.ToCity), v(p.ToCountry))
		elapsed := (time.Duration(p.ElapsedSeconds) * time.Second).String()
		return description{title: "Impossible travel: " + who, summary: who + " signed in from " + orNetwork(from, p.FromNetwork) + " and then from " + orNetwork(to, p.ToNetwork) + " " + elapsed + " later: no one travels " + strconv.FormatFloat(p.DistanceKm, 'f', 0, 64) + " km that fast. One of the two is probably someone else; sign them out everywhere and change their password.", priority: 5, tags: []string{"rotating_light", "world_map"},
			facts: []Fact{{"From", orNetwork(from, p.FromNetwork)}, {"To", orNetwork(to, p.ToNetwork)}, {"Distance", strconv.FormatFloat(p.DistanceKm, 'f', 0, 64) + " km"}, {"Time between", elapsed}, {"Speed", strconv.FormatFloat(p.SpeedKmh, 'f', 0, 64) + " km/h"}}}
	}
	return description{}
}

// place is "City, Country" with what is known of the two, "" when neither is.
func place(city, country string) string {
	var parts []string
	for _, s := range []string{city, country} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func orNetwork(place, network string) string {
	if place == "" {
		return "the network " + cleanTo(network, maxPart)
	}
	return place + " (" + cleanTo(network, maxPart) + ")"
}
