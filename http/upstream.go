package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// jellyfinClient is jfguard's own client of the upstream Jellyfin: logging tokens out,
// asking who a token belongs to, listing API keys and devices, and minting sessions
// through Quick Connect with the admin API key.
type jellyfinClient struct {
	base   *url.URL
	hc     *http.Client
	apiKey string // the admin API key (a master key: never logged)
}

func newJellyfinClient(base *url.URL, apiKey string) *jellyfinClient {
	return &jellyfinClient{
		base:   base,
		apiKey: apiKey,
		hc: &http.Client{
			Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// jellyfinUser is the part of Jellyfin's UserDto jfguard uses.
type jellyfinUser struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Policy struct {
		IsAdministrator bool `json:"IsAdministrator"`
		IsDisabled      bool `json:"IsDisabled"`
	} `json:"Policy"`
}

// authResult is the part of Jellyfin's AuthenticationResult jfguard uses.
type authResult struct {
	User        jellyfinUser `json:"User"`
	AccessToken string       `json:"AccessToken"`
	ServerID    string       `json:"ServerId"`
}

// statusError is a non-2xx answer from Jellyfin.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("jellyfin answered %d: %s", e.Status, e.Body)
}

// authHeader builds a MediaBrowser authorization header the way Jellyfin's own web
// client does (values URL-encoded and quoted).
func authHeader(client, device, deviceID, version, token string) string {
	var b strings.Builder
	b.WriteString("MediaBrowser ")
	add := func(k, v string, comma bool) {
		if comma {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(url.QueryEscape(v))
		b.WriteString(`"`)
	}
	add("Client", client, false)
	add("Device", device, true)
	add("DeviceId", deviceID, true)
	add("Version", version, true)
	if token != "" {
		add("Token", token, true)
	}
	return b.String()
}

func (c *jellyfinClient) do(ctx context.Context, method, path string, query url.Values, header string, body any, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("jellyfin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("jellyfin %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(data[:min(len(data), 200)]))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("jellyfin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

const (
	ownClient   = "jfguard"
	ownDevice   = "jfguard"
	ownDeviceID = "jfguard-gateway"
)

func (c *jellyfinClient) tokenHeader(token string) string {
	return authHeader(ownClient, ownDevice, ownDeviceID, Version, token)
}

// Logout ends a token's session at Jellyfin.
func (c *jellyfinClient) Logout(ctx context.Context, token string) error {
	err := c.do(ctx, http.MethodPost, "/Sessions/Logout", nil, c.tokenHeader(token), nil, nil)
	var se *statusError
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return nil // already gone
	}
	return err
}

// Me asks Jellyfin who a token belongs to.
func (c *jellyfinClient) Me(ctx context.Context, token string) (jellyfinUser, error) {
	var u jellyfinUser
	err := c.do(ctx, http.MethodGet, "/Users/Me", nil, c.tokenHeader(token), nil, &u)
	return u, err
}

// HasAdminKey reports whether an admin API key is configured.
func (c *jellyfinClient) HasAdminKey() bool { return c.apiKey != "" }

// APIKeys lists Jellyfin's API keys (tokens with no user).
func (c *jellyfinClient) APIKeys(ctx context.Context) ([]string, error) {
	if c.apiKey == "" {
		return nil, errNoAdminKey
	}
	var res struct {
		Items []struct {
			AccessToken string `json:"AccessToken"`
		} `json:"Items"`
	}
	if err := c.do(ctx, http.MethodGet, "/Auth/Keys", nil, c.tokenHeader(c.apiKey), nil, &res); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(res.Items)+1)
	for _, it := range res.Items {
		if it.AccessToken != "" {
			keys = append(keys, it.AccessToken)
		}
	}
	return keys, nil
}

// DeviceSession is a signed-in device as Jellyfin lists it.
type DeviceSession struct {
	AccessToken string `json:"AccessToken"`
	ID          string `json:"Id"`
	Name        string `json:"Name"`
	AppName     string `json:"AppName"`
	AppVersion  string `json:"AppVersion"`
	LastUserID  string `json:"LastUserId"`
	LastUser    string `json:"LastUserName"`
}

// Devices lists every device with a session (admin key required).
func (c *jellyfinClient) Devices(ctx context.Context) ([]DeviceSession, error) {
	if c.apiKey == "" {
		return nil, errNoAdminKey
	}
	var res struct {
		Items []DeviceSession `json:"Items"`
	}
	err := c.do(ctx, http.MethodGet, "/Devices", nil, c.tokenHeader(c.apiKey), nil, &res)
	return res.Items, err
}

// User fetches a user by id with the admin key.
func (c *jellyfinClient) User(ctx context.Context, id string) (jellyfinUser, error) {
	var u jellyfinUser
	if c.apiKey == "" {
		return u, errNoAdminKey
	}
	err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, c.tokenHeader(c.apiKey), nil, &u)
	return u, err
}

var errNoAdminKey = errors.New("no Jellyfin admin API key configured (jellyfin.api_key_file)")

// Users lists Jellyfin's users: every user with the admin key; without it, the
// public list that sign-in screens show (users neither hidden nor disabled).
func (c *jellyfinClient) Users(ctx context.Context) ([]jellyfinUser, error) {
	var users []jellyfinUser
	if c.apiKey == "" {
		err := c.do(ctx, http.MethodGet, "/Users/Public", nil, c.tokenHeader(""), nil, &users)
		return users, err
	}
	err := c.do(ctx, http.MethodGet, "/Users", nil, c.tokenHeader(c.apiKey), nil, &users)
	return users, err
}

// UserPolicy reads a user's whole UserPolicy with the admin key, as Jellyfin wrote
// it, so it can be posted back with one field changed and nothing else lost.
func (c *jellyfinClient) UserPolicy(ctx context.Context, id string) (json.RawMessage, error) {
	if c.apiKey == "" {
		return nil, errNoAdminKey
	}
	var u struct {
		Policy json.RawMessage `json:"Policy"`
	}
	if err := c.do(ctx, http.MethodGet, "/Users/"+url.PathEscape(id), nil, c.tokenHeader(c.apiKey), nil, &u); err != nil {
		return nil, err
	}
	if len(u.Policy) == 0 || u.Policy[0] != '{' {
		return nil, errors.New("jellyfin GET /Users/{id}: no policy in the answer")
	}
	return u.Policy, nil
}

// SetUserPolicy replaces a user's UserPolicy with the admin key. Jellyfin replaces
// every field, InvalidLoginAttemptCount and IsDisabled included.
func (c *jellyfinClient) SetUserPolicy(ctx context.Context, id string, policy json.RawMessage) error {
	if c.apiKey == "" {
		return errNoAdminKey
	}
	return c.do(ctx, http.MethodPost, "/Users/"+url.PathEscape(id)+"/Policy", nil, c.tokenHeader(c.apiKey), policy, nil)
}

// QuickConnectEnabled asks whether Quick Connect is on.
func (c *jellyfinClient) QuickConnectEnabled(ctx context.Context) (bool, error) {
	var on bool
	err := c.do(ctx, http.MethodGet, "/QuickConnect/Enabled", nil, c.tokenHeader(""), nil, &on)
	return on, err
}

// AuthorizeQuickConnect authorizes a Quick Connect code for the user of token.
func (c *jellyfinClient) AuthorizeQuickConnect(ctx context.Context, token, code string) error {
	return c.do(ctx, http.MethodPost, "/QuickConnect/Authorize", url.Values{"code": {code}}, c.tokenHeader(token), nil, nil)
}

// MintSession creates a real Jellyfin session for a user through Quick Connect with
// the admin API key, carrying the app's own device headers (Jellyfin creates the
// token at Authorize time from the headers captured at Initiate). It returns the raw
// AuthenticationResult body, exactly what AuthenticateByName would have answered.
func (c *jellyfinClient) MintSession(ctx context.Context, userID, client, device, deviceID, version string) ([]byte, authResult, error) {
	if c.apiKey == "" {
		return nil, authResult{}, errNoAdminKey
	}
	appHeader := authHeader(client, device, deviceID, version, "")
	var qc struct {
		Secret string `json:"Secret"`
		Code   string `json:"Code"`
	}
	if err := c.do(ctx, http.MethodPost, "/QuickConnect/Initiate", nil, appHeader, nil, &qc); err != nil {
		return nil, authResult{}, fmt.Errorf("quick connect initiate: %w", err)
	}
	q := url.Values{"code": {qc.Code}, "userId": {userID}}
	if err := c.do(ctx, http.MethodPost, "/QuickConnect/Authorize", q, c.tokenHeader(c.apiKey), nil, nil); err != nil {
		return nil, authResult{}, fmt.Errorf("quick connect authorize: %w", err)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/Users/AuthenticateWithQuickConnect", nil, appHeader, map[string]string{"Secret": qc.Secret}, &raw); err != nil {
		return nil, authResult{}, fmt.Errorf("quick connect authenticate: %w", err)
	}
	var res authResult
	if err := json.Unmarshal(raw, &res); err != nil || res.AccessToken == "" {
		return nil, authResult{}, errors.New("quick connect authenticate: no access token in the answer")
	}
	return raw, res, nil
}
