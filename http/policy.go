package gateway

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections"
)

// policySetting is one policy key that can change at run time (settings_changed).
type policySetting struct {
	get func(p domain.Policy) string
	set func(p *domain.Policy, v string) error
}

func boolSetting(f func(p *domain.Policy) *bool) policySetting {
	return policySetting{
		get: func(p domain.Policy) string { return strconv.FormatBool(*f(&p)) },
		set: func(p *domain.Policy, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*f(p) = b
			return nil
		},
	}
}

func intSetting(min, max int, f func(p *domain.Policy) *int) policySetting {
	return policySetting{
		get: func(p domain.Policy) string { return strconv.Itoa(*f(&p)) },
		set: func(p *domain.Policy, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < min || n > max {
				return fmt.Errorf("%q is not a whole number from %d to %d", v, min, max)
			}
			*f(p) = n
			return nil
		},
	}
}

func durationSetting(min, max time.Duration, f func(p *domain.Policy) *time.Duration) policySetting {
	return policySetting{
		get: func(p domain.Policy) string { return f(&p).String() },
		set: func(p *domain.Policy, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < min || d > max {
				return fmt.Errorf("%q is not a duration from %s to %s (e.g. 15m)", v, min, max)
			}
			*f(p) = d
			return nil
		},
	}
}

// PolicySettings are the keys of the policy that settings_changed may set.
var PolicySettings = map[string]policySetting{
	"security.enabled":                boolSetting(func(p *domain.Policy) *bool { return &p.Enabled }),
	"security.require_all":            boolSetting(func(p *domain.Policy) *bool { return &p.RequireAll }),
	"security.lan_bypass":             boolSetting(func(p *domain.Policy) *bool { return &p.LANBypass }),
	"security.loopback_bypass":        boolSetting(func(p *domain.Policy) *bool { return &p.LoopbackBypass }),
	"security.trust_cookie_days":      intSetting(1, 365, func(p *domain.Policy) *int { return &p.TrustCookieDays }),
	"security.lockout_threshold":      intSetting(1, 100, func(p *domain.Policy) *int { return &p.LockoutThreshold }),
	"security.lockout_duration":       durationSetting(time.Minute, 7*24*time.Hour, func(p *domain.Policy) *time.Duration { return &p.LockoutDuration }),
	"security.challenge_max_failures": intSetting(1, 100, func(p *domain.Policy) *int { return &p.MaxChallengeFailures }),
	"security.ban_threshold":          intSetting(0, 10000, func(p *domain.Policy) *int { return &p.BanThreshold }),
	"security.ban_duration":           durationSetting(time.Minute, 365*24*time.Hour, func(p *domain.Policy) *time.Duration { return &p.BanDuration }),
	"security.step_up_window":         durationSetting(time.Minute, time.Hour, func(p *domain.Policy) *time.Duration { return &p.StepUpWindow }),

	"security.password_failures_per_ip_per_minute": intSetting(0, 1000, func(p *domain.Policy) *int { return &p.PasswordFailuresPerIP }),
	"security.password_hold_after":                 intSetting(0, 100, func(p *domain.Policy) *int { return &p.PasswordHoldAfter }),
	"security.password_hold_window":                durationSetting(time.Minute, 24*time.Hour, func(p *domain.Policy) *time.Duration { return &p.PasswordHoldWindow }),
	"security.password_hold_duration":              durationSetting(time.Minute, 7*24*time.Hour, func(p *domain.Policy) *time.Duration { return &p.PasswordHoldDuration }),
	"security.jellyfin_lockout_attempts":           intSetting(0, 100, func(p *domain.Policy) *int { return &p.JellyfinLockout }),
	"security.new_location_second_factor":          boolSetting(func(p *domain.Policy) *bool { return &p.NewLocationSecondFactor }),
	"security.lan_cidrs": {
		get: func(p domain.Policy) string {
			s := make([]string, len(p.LANCIDRs))
			for i, c := range p.LANCIDRs {
				s[i] = c.String()
			}
			return strings.Join(s, ",")
		},
		set: func(p *domain.Policy, v string) error {
			cidrs, err := ParseCIDRs(splitList(v))
			if err != nil {
				return err
			}
			p.LANCIDRs = cidrs
			return nil
		},
	},
	"security.admin_networks": {
		get: func(p domain.Policy) string { return strings.Join(domain.NetworkStrings(p.AdminNetworks), ",") },
		set: func(p *domain.Policy, v string) error {
			nets, err := domain.ParseNetworks(splitList(v))
			if err != nil {
				return err
			}
			p.AdminNetworks = nets
			return nil
		},
	},
}

// PolicyKeys lists the run-time policy keys, sorted.
func PolicyKeys() []string {
	keys := make([]string, 0, len(PolicySettings))
	for k := range PolicySettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PolicyValue renders one key of a policy.
func PolicyValue(p domain.Policy, key string) (string, bool) {
	s, ok := PolicySettings[key]
	if !ok {
		return "", false
	}
	return s.get(p), true
}

// ApplySetting sets one key on a policy, validating the value.
func ApplySetting(p *domain.Policy, key, value string) error {
	s, ok := PolicySettings[key]
	if !ok {
		return fmt.Errorf("%s is not a policy setting (known: %s)", key, strings.Join(PolicyKeys(), ", "))
	}
	if err := s.set(p, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// ParseCIDRs parses a list of CIDRs or single addresses.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR (like 192.168.0.0/16) or an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// effectivePolicy applies the recorded settings on top of the base policy. A stored
// value that no longer parses is ignored (the base stays), never half-applied.
func effectivePolicy(base domain.Policy, settings map[string]string) domain.Policy {
	p := base
	for _, k := range PolicyKeys() {
		if v, ok := settings[k]; ok {
			c := p
			if err := ApplySetting(&c, k, v); err == nil {
				p = c
			}
		}
	}
	return p
}

func (s *Server) refreshPolicy() {
	var p domain.Policy
	s.read(func(st *projections.State) { p = effectivePolicy(s.opts.BasePolicy, st.Settings) })
	s.policy.Store(&p)
}
