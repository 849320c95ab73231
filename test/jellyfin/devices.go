package jellyfin

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// deviceInfoDto is Jellyfin's DeviceInfoDto: one signed-in device, that is one
// access token, with the client details it was issued to.
type deviceInfoDto struct {
	Name             string                `json:"Name"`
	AccessToken      string                `json:"AccessToken"`
	ID               string                `json:"Id"`
	LastUserName     string                `json:"LastUserName"`
	AppName          string                `json:"AppName"`
	AppVersion       string                `json:"AppVersion"`
	LastUserID       string                `json:"LastUserId"`
	DateLastActivity jfTime                `json:"DateLastActivity"`
	Capabilities     clientCapabilitiesDto `json:"Capabilities"`
}

type deviceInfoDtoQueryResult struct {
	Items            []deviceInfoDto `json:"Items"`
	TotalRecordCount int             `json:"TotalRecordCount"`
	StartIndex       int             `json:"StartIndex"`
}

// handleDevices is GET /Devices (administrators and API keys): every device
// with a live token, most recently active first, as Jellyfin's DeviceManager
// lists them. Jellyfin's userId parameter keeps the devices that user may
// access, not the devices the user signed in on; every stand-in user may
// access every device (EnableAllDevices), so it only has to be a GUID. API
// keys are not devices and are not listed.
func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request, req *request) {
	if raw, ok := queryValue(r, "userId"); ok && raw != "" {
		if _, valid := parseGUID(raw); !valid {
			writeValidationProblem(w, "userId", "The value '"+raw+"' is not valid.")
			return
		}
	}
	s.mu.Lock()
	items := make([]deviceInfoDto, 0, len(s.tokens))
	for _, d := range s.tokens {
		name := ""
		if u, ok := s.users[d.userID]; ok {
			name = u.name
		}
		items = append(items, deviceInfoDto{
			Name:             d.deviceName,
			AccessToken:      d.token,
			ID:               d.deviceID,
			LastUserName:     name,
			AppName:          d.appName,
			AppVersion:       d.appVersion,
			LastUserID:       d.userID,
			DateLastActivity: jfTime(d.lastActivity),
			Capabilities:     clientCapabilitiesDto{PlayableMediaTypes: []string{}, SupportedCommands: []string{}},
		})
	}
	s.mu.Unlock()
	slices.SortFunc(items, func(a, b deviceInfoDto) int {
		if c := time.Time(b.DateLastActivity).Compare(time.Time(a.DateLastActivity)); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.AccessToken, b.AccessToken)
	})
	writeJSON(w, http.StatusOK, deviceInfoDtoQueryResult{Items: items, TotalRecordCount: len(items)})
}
