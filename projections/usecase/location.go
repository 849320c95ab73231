package usecase

import (
	"net/netip"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// Geolocator says where an address is (geo.DB reads a MaxMind database). An
// address it does not cover is the zero Place.
type Geolocator interface {
	Locate(ip netip.Addr) (domain.Place, error)
}

// locateSignIns wraps a decision on a user: when it lets a session through
// (session_verified, whatever the method), the sign-in's place is decided on in
// the same command (domain.DecideLocation), so every way of signing in is
// compared with the user's history and none can skip it. The address is the
// event's, the one the gate resolved for the request (trusted proxies honoured).
// An adopted session is an administrator's act, not a sign-in from somewhere.
func (s *Service) locateSignIns(ec events.Context, decide func(u *domain.User, now time.Time) ([]events.Payload, error)) func(*domain.User, time.Time) ([]events.Payload, error) {
	ip, err := netip.ParseAddr(ec.IP)
	if err != nil {
		return decide
	}
	return func(u *domain.User, now time.Time) ([]events.Payload, error) {
		evs, err := decide(u, now)
		if !signsIn(evs) {
			return evs, err
		}
		in := domain.SignInPlace{IP: ip, Here: s.place(ip), Now: now}
		if last := u.Whereabouts.LastIP; last.IsValid() {
			in.Previous = s.place(last)
		}
		return append(evs, domain.DecideLocation(u, in)...), err
	}
}

// signsIn reports whether a decision lets a session of the user through.
func signsIn(evs []events.Payload) bool {
	for _, e := range evs {
		if sv, ok := e.(*events.SessionVerified); ok && sv.Reason != domain.ReasonAdopted {
			return true
		}
	}
	return false
}

// place looks an address up; without a database, or when the lookup fails (logged),
// the place is unknown and only the new-network check runs.
func (s *Service) place(ip netip.Addr) domain.Place {
	if s.d.Geo == nil {
		return domain.Place{}
	}
	p, err := s.d.Geo.Locate(ip)
	if err != nil {
		s.log.Warn("geolocation lookup failed", "err", err)
		return domain.Place{}
	}
	return p
}
