package domain

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/jfguard/jfguard/events"
)

// MaxKnownNetworks is how many networks a user's history keeps: the most recently
// used ones. A network that fell off the end counts as new again, which costs at
// most one extra alert; keeping every network ever seen would grow the state of a
// user without bound (a phone on mobile data changes /24 often).
const MaxKnownNetworks = 64

// ImpossibleSpeedKmh is the speed between two sign-ins above which the travel
// between them is impossible: faster than an airliner.
const ImpossibleSpeedKmh = 1000

// MinTravelKm is the distance below which two sign-ins are never impossible
// travel, however close in time: city-level geolocation is often off by tens of
// kilometres, and two networks of the same city a minute apart are not a journey.
const MinTravelKm = 100

// SignInNetwork is the network a sign-in's address is counted in for new-location
// alerts: its /24 for IPv4 (and IPv4-mapped IPv6), its /48 for IPv6, the block
// one site or one provider's customer usually holds. An invalid address has none.
func SignInNetwork(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p
}

// KnownNetwork is a network a user signed in from, and when last.
type KnownNetwork struct {
	Prefix   netip.Prefix
	LastSeen time.Time
}

// Whereabouts is the user's sign-in history for location checks: the networks
// used most recently (oldest first, at most MaxKnownNetworks) and the last sign-in.
type Whereabouts struct {
	Networks   []KnownNetwork
	LastIP     netip.Addr
	LastSignIn time.Time
}

// evolve records a session_verified's address. Adopted sessions are skipped: the
// address is the administrator's, not where the user signed in.
func (w *Whereabouts) evolve(ev events.Event, p events.Payload) {
	sv, ok := p.(*events.SessionVerified)
	if !ok || sv.Reason == ReasonAdopted {
		return
	}
	ip, err := netip.ParseAddr(ev.IP)
	if err != nil {
		return
	}
	n := SignInNetwork(ip)
	w.Networks = slices.DeleteFunc(w.Networks, func(k KnownNetwork) bool { return k.Prefix == n })
	w.Networks = append(w.Networks, KnownNetwork{Prefix: n, LastSeen: ev.Time})
	if over := len(w.Networks) - MaxKnownNetworks; over > 0 {
		w.Networks = slices.Delete(w.Networks, 0, over)
	}
	w.LastIP, w.LastSignIn = ip.Unmap(), ev.Time
}

func (w Whereabouts) clone() Whereabouts {
	w.Networks = slices.Clone(w.Networks)
	return w
}

// IsNewNetwork reports whether a sign-in from ip is from a network the user has a
// history without: false for a user with no history at all (nothing to compare
// with) and for an address the network of which cannot be told.
func (u *User) IsNewNetwork(ip netip.Addr) bool {
	n := SignInNetwork(ip)
	if !n.IsValid() || len(u.Whereabouts.Networks) == 0 {
		return false
	}
	return !slices.ContainsFunc(u.Whereabouts.Networks, func(k KnownNetwork) bool { return k.Prefix == n })
}

// newLocationNeedsFactor: the policy asks for the second factor on a new network,
// so a trusted browser's cookie is not enough there.
func (u *User) newLocationNeedsFactor(pol Policy, ip netip.Addr) bool {
	return pol.NewLocationSecondFactor && u.IsNewNetwork(ip)
}

// Place is where an address is, as a geolocation database says; the zero Place is
// an unknown one.
type Place struct {
	Country, City string
	Lat, Lon      float64
	// Located: the database gave coordinates (0,0 is a place too).
	Located bool
}

// SignInPlace is what the caller looked up for a sign-in: its address and place,
// and the place of the user's previous sign-in (the caller looks up
// Whereabouts.LastIP), unknown without a geolocation database.
type SignInPlace struct {
	IP       netip.Addr
	Here     Place
	Previous Place
	Now      time.Time
}

// DecideLocation decides what a successful sign-in's place says about the account:
// a network the user never used (new_location), and a journey from the previous
// sign-in faster than ImpossibleSpeedKmh (impossible_travel). The first sign-in a
// user has (no history) raises neither: there is nothing to compare it with, and
// an alert on every new account's first sign-in would teach people to ignore them.
func DecideLocation(u *User, in SignInPlace) []events.Payload {
	var out []events.Payload
	if u.IsNewNetwork(in.IP) {
		out = append(out, &events.NewLocation{
			Network: SignInNetwork(in.IP).String(), Country: in.Here.Country, City: in.Here.City,
		})
	}
	w := u.Whereabouts
	if !w.LastIP.IsValid() || !in.Here.Located || !in.Previous.Located {
		return out
	}
	km := DistanceKm(in.Previous, in.Here)
	elapsed := in.Now.Sub(w.LastSignIn)
	if ImpossibleTravel(km, elapsed) {
		out = append(out, &events.ImpossibleTravel{
			FromNetwork: SignInNetwork(w.LastIP).String(), FromCountry: in.Previous.Country, FromCity: in.Previous.City,
			ToNetwork: SignInNetwork(in.IP).String(), ToCountry: in.Here.Country, ToCity: in.Here.City,
			DistanceKm: math.Round(km), ElapsedSeconds: int64(max(elapsed, 0) / time.Second),
			SpeedKmh: math.Round(SpeedKmh(km, elapsed)),
		})
	}
	return out
}

// earthRadiusKm is the mean radius of the Earth.
const earthRadiusKm = 6371.0088

// DistanceKm is the great-circle distance between two places (haversine formula).
func DistanceKm(a, b Place) float64 {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLon := rad(b.Lat-a.Lat), rad(b.Lon-a.Lon)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(h, 1)))
}

// SpeedKmh is the speed of covering km in elapsed. Less than a second (or a clock
// that went back) counts as one second, so the speed stays a finite number.
func SpeedKmh(km float64, elapsed time.Duration) float64 {
	return km / max(elapsed, time.Second).Hours()
}

// ImpossibleTravel reports whether covering km in elapsed is faster than anyone
// travels: at least MinTravelKm, faster than ImpossibleSpeedKmh.
func ImpossibleTravel(km float64, elapsed time.Duration) bool {
	return km >= MinTravelKm && SpeedKmh(km, elapsed) > ImpossibleSpeedKmh
}
