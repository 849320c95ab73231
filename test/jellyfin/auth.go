package jellyfin

import (
	"net/http"
	"strings"
)

// caller is who sent a request, resolved from its credentials.
type caller struct {
	creds  Credentials
	user   *user   // a copy, set for a user's token
	device *device // a copy, set for a user's token
	apiKey *apiKey // a copy, set for an API key
}

func (c caller) authenticated() bool { return c.user != nil || c.apiKey != nil }

// admin reports whether the caller holds Jellyfin's Administrator role:
// administrators and every API key.
func (c caller) admin() bool { return c.apiKey != nil || (c.user != nil && c.user.admin) }

func (c caller) userID() string {
	if c.user != nil {
		return c.user.id
	}
	return ""
}

// identify resolves the request's token as Jellyfin's AuthorizationContext
// does: a user token fills in missing client details from the stored device
// and records a changed device name or version (except for Chromecast
// clients); an API key fills in the server's own details.
func (s *Server) identify(r *http.Request) caller {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := caller{creds: ReadCredentials(r, s.legacy)}
	if !c.creds.HasToken() {
		return c
	}
	if d, ok := s.tokens[c.creds.Token]; ok {
		u, ok := s.users[d.userID]
		if !ok {
			return c
		}
		if strings.TrimSpace(c.creds.Client) == "" {
			c.creds.Client = d.appName
		}
		if strings.TrimSpace(c.creds.DeviceID) == "" {
			c.creds.DeviceID = d.deviceID
		}
		mayUpdate := !strings.Contains(strings.ToLower(c.creds.Client), "chromecast")
		if strings.TrimSpace(c.creds.Device) == "" {
			c.creds.Device = d.deviceName
		} else if !equalFoldOrdinal(c.creds.Device, d.deviceName) && mayUpdate {
			d.deviceName = c.creds.Device
		}
		if strings.TrimSpace(c.creds.Version) == "" {
			c.creds.Version = d.appVersion
		} else if !equalFoldOrdinal(c.creds.Version, d.appVersion) && mayUpdate {
			d.appVersion = c.creds.Version
		}
		now := s.now()
		d.lastActivity = now
		u.lastActivity = now
		uc, dc := *u, *d
		c.user, c.device = &uc, &dc
		return c
	}
	if k, ok := s.apiKeys[c.creds.Token]; ok {
		kc := *k
		c.apiKey = &kc
		c.creds.Client = k.name
		if strings.TrimSpace(c.creds.DeviceID) == "" {
			c.creds.DeviceID = s.serverID
		}
		if strings.TrimSpace(c.creds.Device) == "" {
			c.creds.Device = s.serverName
		}
		if strings.TrimSpace(c.creds.Version) == "" {
			c.creds.Version = s.version
		}
	}
	return c
}
