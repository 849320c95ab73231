package projections

import (
	"sort"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
)

// Summary is the state at an instant as people read it: who had which factors,
// sessions, trusted browsers and devices, who was locked out, which addresses were
// banned. Replay prints it.
type Summary struct {
	At       time.Time         `json:"at"`
	LastSeq  uint64            `json:"last_sequence"`
	Events   uint64            `json:"events"`
	Users    []UserSummary     `json:"users"`
	Bans     []BanSummary      `json:"bans"`
	Settings map[string]string `json:"settings,omitempty"`
}

// UserSummary is one user's security state.
type UserSummary struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	Admin          bool          `json:"admin"`
	Methods        []string      `json:"methods"`
	RecoveryLeft   int           `json:"recovery_codes_left"`
	Sessions       []SessionLine `json:"sessions"`
	Browsers       int           `json:"trusted_browsers"`
	Devices        []string      `json:"paired_devices"`
	PendingPairing int           `json:"pending_pairings"`
	AppPasswords   []string      `json:"app_passwords"`
	OpenChallenges int           `json:"open_challenges"`
	LockedUntil    *time.Time    `json:"locked_until,omitempty"`
	Forgotten      bool          `json:"forgotten,omitempty"`
}

// SessionLine is one verified session.
type SessionLine struct {
	Reason     string    `json:"reason"`
	VerifiedAt time.Time `json:"verified_at"`
	Client     string    `json:"client,omitempty"`
	IP         string    `json:"ip,omitempty"`
}

// BanSummary is a banned address.
type BanSummary struct {
	IP     string    `json:"ip"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Summarize describes the state at instant at; userID limits it to one user.
func Summarize(st *State, at time.Time, userID string) Summary {
	s := Summary{At: at, LastSeq: st.LastSeq, Settings: st.Settings}
	for _, c := range st.Counts {
		s.Events += c
	}
	for _, u := range st.Users {
		if userID != "" && u.ID != userID {
			continue
		}
		us := UserSummary{ID: u.ID, Name: u.Name, Admin: u.Admin, Methods: u.Methods(), RecoveryLeft: u.RecoveryLeft(), Forgotten: u.Forgotten}
		if us.Methods == nil {
			us.Methods = []string{}
		}
		for _, ss := range u.Sessions {
			us.Sessions = append(us.Sessions, SessionLine{ss.Reason, ss.VerifiedAt, ss.Device.Client, ss.IP})
		}
		sort.Slice(us.Sessions, func(i, j int) bool { return us.Sessions[i].VerifiedAt.Before(us.Sessions[j].VerifiedAt) })
		for _, b := range u.Browsers {
			if at.Before(b.ExpiresAt) {
				us.Browsers++
			}
		}
		for _, p := range u.Pairings {
			switch {
			case p.Status == domain.PairingPaired:
				us.Devices = append(us.Devices, strings.TrimSpace(p.DeviceName+" ("+p.Client+")"))
			case p.Status == domain.PairingPending && at.Before(p.ExpiresAt):
				us.PendingPairing++
			}
		}
		sort.Strings(us.Devices)
		for _, a := range u.AppPasswords {
			us.AppPasswords = append(us.AppPasswords, a.Label)
		}
		sort.Strings(us.AppPasswords)
		for _, c := range u.Challenges {
			if !c.Done && at.Before(c.ExpiresAt) {
				us.OpenChallenges++
			}
		}
		if u.Locked(at) {
			t := u.LockedUntil
			us.LockedUntil = &t
		}
		s.Users = append(s.Users, us)
	}
	sort.Slice(s.Users, func(i, j int) bool { return s.Users[i].Name < s.Users[j].Name })
	if userID == "" {
		for id, a := range st.Addresses {
			if a.Banned(at) {
				s.Bans = append(s.Bans, BanSummary{IP: events.IPFromAggregateID(id), Until: a.BannedUntil, Reason: a.BanReason})
			}
		}
		sort.Slice(s.Bans, func(i, j int) bool { return s.Bans[i].IP < s.Bans[j].IP })
	}
	return s
}
