// Package projections folds the event stream into the read models jfguard decides
// from: users (factors, challenges, sessions, browsers, pairings, app passwords),
// addresses (failures, bans), settings, and the indexes the gate needs for O(1)
// lookups. It keeps snapshots so a restart does not replay everything, and replays
// history to any instant.
package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/seal"
)

// Token statuses in the gate's index.
const (
	TokenVerified = 1
	TokenPending  = 2
	TokenRevoked  = 3
)

// TokenRef is what the gate knows about a Jellyfin token (by hash).
type TokenRef struct {
	UserID string
	Status int
	// Since is when the token reached its status (pruning forgets revoked tokens
	// after a while: Jellyfin has logged them out).
	Since time.Time
}

// Pruning: once per hour of event time the fold drops what can no longer matter,
// judged by the time of the event being folded, so a replay prunes exactly as the live
// fold did.
const (
	pruneEvery         = time.Hour
	forgetRevokedAfter = 30 * 24 * time.Hour
)

// State is every read model, folded up to LastSeq.
type State struct {
	Users     map[string]*domain.User
	Addresses map[string]*domain.Address
	Settings  map[string]string
	// FileSettings are the values the settings file had when last recorded.
	FileSettings map[string]string
	LastSeq      uint64
	LastTime     time.Time
	Counts       map[events.Type]uint64 // events folded, by type
	Skipped      uint64                 // events that did not decode

	Tokens       map[string]TokenRef // token hash → user and status
	Names        map[string]string   // lower-case user name → user id
	AppPasswords map[string]string   // app password id → user id
	// ChallengeUsers maps open challenges to their user.
	ChallengeUsers map[string]string
	// TrustCookies maps the hash of every trust cookie secret a browser holds or
	// held (see domain.Browser) to that browser, so a sign-in finds the browser of
	// a cookie in one lookup. A browser's hashes leave with the browser.
	TrustCookies map[string]TrustCookieRef

	// TrustKey is the trust-cookie key generation in force and the previous ones.
	TrustKey seal.TrustKeyState

	// Subscribers are the external systems that may read the stream over NATS.
	Subscribers map[string]Subscriber

	// Pending holds, per aggregate, the events of a command whose last event has not
	// arrived yet; Tails the sequence of the newest such event (a decision's expected
	// sequence must count it). Incomplete counts commands that never completed.
	Pending    map[string]*PendingCommand
	Tails      map[string]uint64
	Incomplete uint64
	// NextPrune is the event time at which the fold prunes next.
	NextPrune time.Time

	// Forged holds the events the fold refused for a missing or wrong MAC that no
	// forged_event_detected names yet, by sequence; ForgedTotal counts every one
	// ever refused.
	Forged      map[uint64]ForgedEvent
	ForgedTotal uint64
	// Replays finds authentic events appended again (events.ReplayGuard): they
	// are refused like forgeries.
	Replays events.ReplayGuard
}

// ForgedEvent is an event the fold refused: written around jfguard.
type ForgedEvent struct {
	Seq     uint64
	Subject string
	Type    string
	Reason  string
	Time    time.Time
}

// TrustCookieRef names the trusted browser a cookie secret was issued to.
type TrustCookieRef struct {
	UserID    string
	BrowserID string
}

// PendingCommand is a command of several events, applied when its last one arrives.
type PendingCommand struct {
	ID     string
	Events []events.Event
}

// NewState is the state before the first event.
func NewState() *State {
	return &State{
		Users:        map[string]*domain.User{},
		Addresses:    map[string]*domain.Address{},
		Settings:     map[string]string{},
		FileSettings: map[string]string{},
		Subscribers:  map[string]Subscriber{},
		Counts:       map[events.Type]uint64{},
		Tokens:       map[string]TokenRef{},
		Names:        map[string]string{},
		AppPasswords: map[string]string{},

		ChallengeUsers: map[string]string{},
		TrustCookies:   map[string]TrustCookieRef{},
		Pending:        map[string]*PendingCommand{},
		Tails:          map[string]uint64{},
		Forged:         map[uint64]ForgedEvent{},
	}
}

// AggregateVersion is the sequence of the newest event of an aggregate instance,
// applied or not: what an append expects as the aggregate's last.
func (s *State) AggregateVersion(aggregate, id string, applied uint64) uint64 {
	return max(applied, s.Tails[aggregate+"."+id])
}

// User returns a user by id, or nil.
func (s *State) User(id string) *domain.User { return s.Users[id] }

// UserByName finds a user by Jellyfin name, case-insensitively as Jellyfin does.
func (s *State) UserByName(name string) *domain.User {
	return s.Users[s.Names[strings.ToLower(name)]]
}

// Address returns an address by aggregate id, or nil.
func (s *State) Address(id string) *domain.Address { return s.Addresses[id] }

// Apply folds one event. The events of a command of several events are held until
// its last one arrives, then applied together; a command interrupted by another event
// of the same aggregate never completed and is dropped. Events that do not decode are
// counted and skipped: the stream is a record of facts and a fold must never stop.
func (s *State) Apply(ev events.Event) {
	if ev.Seq > s.LastSeq {
		s.LastSeq = ev.Seq
	}
	if ev.Time.After(s.LastTime) {
		s.LastTime = ev.Time
	}
	key := ev.Aggregate + "." + ev.AggregateID
	if ev.Auth == events.AuthValid && !ev.Stored.IsZero() && s.Replays.Replayed(ev.ID, ev.Time, ev.Stored) {
		ev.Auth = events.AuthReplayed
	}
	if ev.Auth == events.AuthMissing || ev.Auth == events.AuthInvalid || ev.Auth == events.AuthReplayed {
		// Written around jfguard: never applied, never part of a command. The
		// aggregate's position in the stream still moved, so the next append expects
		// it (otherwise one forged event would block every write to the aggregate).
		if agg, id, ok := events.AggregateOfSubject(ev.Subject); ok {
			k := agg + "." + id
			s.Tails[k] = max(s.Tails[k], ev.Seq)
		}
		s.Forged[ev.Seq] = ForgedEvent{Seq: ev.Seq, Subject: ev.Subject, Type: string(ev.Type), Reason: ev.Auth.String(), Time: ev.Time}
		s.ForgedTotal++
		return
	}
	if p := s.Pending[key]; p != nil && (ev.Cmd == nil || ev.Cmd.ID != p.ID) {
		delete(s.Pending, key)
		s.Incomplete++
	}
	if ev.Cmd != nil && ev.Cmd.N > 1 {
		p := s.Pending[key]
		if ev.Cmd.I == 1 {
			p = &PendingCommand{ID: ev.Cmd.ID}
		}
		if p == nil || len(p.Events) != ev.Cmd.I-1 || ev.Cmd.I > ev.Cmd.N {
			// A part without its predecessors: the command was cut short.
			delete(s.Pending, key)
			s.Tails[key] = ev.Seq
			s.Incomplete++
			return
		}
		if ev.Cmd.I < ev.Cmd.N {
			p.Events = append(p.Events, ev)
			s.Pending[key] = p
			s.Tails[key] = ev.Seq
			return
		}
		delete(s.Pending, key)
		delete(s.Tails, key)
		for _, pe := range p.Events {
			s.applyOne(pe)
		}
		s.applyOne(ev)
		return
	}
	delete(s.Tails, key)
	s.applyOne(ev)
}

// applyGroup is how many events ApplyAll warms the replay guard for at a time:
// their slots stay in the cache while the events are folded.
const applyGroup = 64

// ApplyAll folds evs in order, as Apply does each, the replay guard's slots for a
// group of events loaded together first: a rebuild's fastest path.
func (s *State) ApplyAll(evs []events.Event) {
	for group := range slices.Chunk(evs, applyGroup) {
		s.Replays.Warm(group)
		for _, ev := range group {
			s.Apply(ev)
		}
	}
}

// applyOne folds one event of a complete command.
func (s *State) applyOne(ev events.Event) {
	if ev.Time.After(s.NextPrune) {
		s.prune(ev.Time)
		s.NextPrune = ev.Time.Truncate(pruneEvery).Add(pruneEvery)
	}
	p, err := events.Decode(ev)
	if err != nil {
		s.Skipped++
		return
	}
	s.Counts[ev.Type]++
	switch ev.Aggregate {
	case events.AggUser:
		s.applyUser(ev, p)
	case events.AggIP:
		a := s.Addresses[ev.AggregateID]
		if a == nil {
			a = &domain.Address{ID: ev.AggregateID}
			s.Addresses[ev.AggregateID] = a
		}
		a.Evolve(ev, p)
	case events.AggSystem:
		switch e := p.(type) {
		case *events.ForgedEventDetected:
			delete(s.Forged, e.Seq)
		case *events.SettingsChanged:
			s.Settings[e.Key] = e.New
			if e.Where == "file" {
				s.FileSettings[e.Key] = e.New
			}
		case *events.TrustKeyRotated:
			s.TrustKey.Apply(e)
		}
		foldSubscriber(s.Subscribers, ev, p)
	}
}

func (s *State) applyUser(ev events.Event, p events.Payload) {
	u := s.Users[ev.AggregateID]
	if u == nil {
		u = domain.NewUser(ev.AggregateID)
		s.Users[ev.AggregateID] = u
	}
	// Index changes that need the state before the event.
	switch e := p.(type) {
	case *events.ChallengeBurned:
		if c := u.Challenges[e.ChallengeID]; c != nil {
			s.Tokens[c.TokenHash] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
		}
	case *events.ChallengeExpired:
		if c := u.Challenges[e.ChallengeID]; c != nil && !c.Verified {
			s.Tokens[c.TokenHash] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
		}
	case *events.UserDiscovered, *events.UserProfileChanged:
		delete(s.Names, strings.ToLower(u.Name))
	case *events.AppPasswordRevoked:
		delete(s.AppPasswords, e.ID)
	case *events.SignedOutEverywhere:
		for h := range u.Sessions {
			if h != e.KeptTokenHash {
				s.Tokens[h] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
			}
		}
		for id, c := range u.Challenges {
			if s.Tokens[c.TokenHash].Status == TokenPending {
				s.Tokens[c.TokenHash] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
			}
			delete(s.ChallengeUsers, id)
		}
		for id := range u.AppPasswords {
			delete(s.AppPasswords, id)
		}
	case *events.SessionVerified:
		// A device signing in again ends its earlier session at Jellyfin.
		if ev.Device != nil {
			for _, h := range u.SupersededSessions(*ev.Device, e.TokenHash) {
				delete(u.Sessions, h)
				s.Tokens[h] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
			}
		}
	}
	before := browsersOf(u)
	u.Evolve(ev, p)
	s.indexTrustCookies(u, before)
	switch e := p.(type) {
	case *events.UserDiscovered, *events.UserProfileChanged:
		s.Names[strings.ToLower(u.Name)] = u.ID
	case *events.ChallengeIssued:
		s.Tokens[e.TokenHash] = TokenRef{UserID: u.ID, Status: TokenPending, Since: ev.Time}
		s.ChallengeUsers[e.ChallengeID] = u.ID
	case *events.ChallengeExpired:
		delete(s.ChallengeUsers, e.ChallengeID)
	case *events.SessionVerified:
		s.Tokens[e.TokenHash] = TokenRef{UserID: u.ID, Status: TokenVerified, Since: ev.Time}
		if e.ChallengeID != "" {
			delete(s.ChallengeUsers, e.ChallengeID)
		}
	case *events.SessionRevoked:
		s.Tokens[e.TokenHash] = TokenRef{UserID: u.ID, Status: TokenRevoked, Since: ev.Time}
	case *events.AppPasswordCreated:
		s.AppPasswords[e.ID] = u.ID
	case *events.UserForgotten:
		for id, uid := range s.AppPasswords {
			if uid == u.ID {
				delete(s.AppPasswords, id)
			}
		}
	}
}

// prune drops what can no longer matter at now.
func (s *State) prune(now time.Time) {
	for id, a := range s.Addresses {
		if a.Idle(now) {
			delete(s.Addresses, id)
		}
	}
	for h, t := range s.Tokens {
		if t.Status == TokenRevoked && now.Sub(t.Since) > forgetRevokedAfter {
			delete(s.Tokens, h)
		}
	}
	for _, u := range s.Users {
		before := browsersOf(u)
		u.Prune(now)
		s.indexTrustCookies(u, before)
	}
}

// browsersOf copies the user's trusted browsers as they are before an event, for
// indexTrustCookies. The copies share the slices of replaced secrets, which the
// fold never changes in place.
func browsersOf(u *domain.User) []domain.Browser {
	if len(u.Browsers) == 0 {
		return nil
	}
	out := make([]domain.Browser, 0, len(u.Browsers))
	for _, b := range u.Browsers {
		out = append(out, *b)
	}
	return out
}

// indexTrustCookies brings the cookie index in line with the user's browsers
// after an event: the hashes of a new or changed browser point to it, and those
// of a browser that is gone (revoked, reset, expired, signed out everywhere) or
// that it no longer remembers are dropped. It reads the outcome rather than the
// event, so every way a browser can go is covered, including events added later.
func (s *State) indexTrustCookies(u *domain.User, before []domain.Browser) {
	for _, old := range before {
		b := u.Browsers[old.ID]
		if b != nil && b.SecretHash == old.SecretHash && len(b.Retired) == len(old.Retired) {
			continue
		}
		keep := map[string]bool{}
		if b != nil {
			keep[b.SecretHash] = true
			for _, h := range b.Retired {
				keep[h] = true
			}
		}
		for _, h := range append([]string{old.SecretHash}, old.Retired...) {
			if ref, ok := s.TrustCookies[h]; ok && !keep[h] && ref.UserID == u.ID && ref.BrowserID == old.ID {
				delete(s.TrustCookies, h)
			}
		}
	}
	for _, b := range u.Browsers {
		if b.SecretHash == "" {
			continue
		}
		if _, ok := s.TrustCookies[b.SecretHash]; !ok {
			s.TrustCookies[b.SecretHash] = TrustCookieRef{UserID: u.ID, BrowserID: b.ID}
		}
	}
}

// TrustCookie returns the browser a cookie secret (by hash) was issued to.
func (s *State) TrustCookie(hash string) (TrustCookieRef, bool) {
	ref, ok := s.TrustCookies[hash]
	return ref, ok
}
