package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gregdhill/go-openrpc/types"
	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/events"
	"github.com/jfguard/jfguard/events/audit"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/jfguard/jfguard/projections"
)

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
	rpcInternalError  = -32603
	rpcNotFound       = -32004
	rpcConflict       = -32009
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *types.Error    `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// rpcError is an error with a JSON-RPC code.
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return e.msg }

func invalidParams(format string, args ...any) error {
	return &rpcError{rpcInvalidParams, fmt.Sprintf(format, args...)}
}

type rpcHandler func(ctx context.Context, params json.RawMessage) (any, error)

// rpcMethod is a control API method. Methods change state unless marked read-only:
// a new method is an account change until someone decides otherwise.
type rpcMethod struct {
	call     rpcHandler
	readOnly bool
}

// rpcMaxBody is the largest control API request body, a batch included.
const rpcMaxBody = 1 << 20

// rpcStepUp is the JSON-RPC error code of a refused state change: the session has no
// recent second factor (or is a device's); data says which, as the self-service API
// does.
const rpcStepUp = -32001

// LoadOpenRPC parses the OpenRPC document (docs/openrpc.json), for Options.OpenRPC.
func LoadOpenRPC(doc []byte) (*types.OpenRPCSpec1, error) {
	spec := types.NewOpenRPCSpec1()
	if err := json.Unmarshal(doc, spec); err != nil {
		return nil, fmt.Errorf("openrpc document: %w", err)
	}
	return spec, nil
}

// RPCMethods lists the methods the control API serves, sorted.
func (s *Server) RPCMethods() []string {
	var out []string
	for name := range s.rpcTable() {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// rpcTable is every control API method.
func (s *Server) rpcTable() map[string]rpcMethod {
	read := func(h rpcHandler) rpcMethod { return rpcMethod{call: h, readOnly: true} }
	change := func(h rpcHandler) rpcMethod { return rpcMethod{call: h} }
	return map[string]rpcMethod{
		"notify.test":        change(s.rpcNotifyTest),
		"notify.test_email":  change(s.rpcNotifyTestEmail),
		"notify.status":      read(s.rpcNotifyStatus),
		"rpc.discover":       read(s.rpcDiscover),
		"system.status":      read(s.rpcStatus),
		"users.list":         read(s.rpcUsersList),
		"users.get":          read(s.rpcUserGet),
		"users.reset":        change(s.rpcUserReset),
		"users.forget":       change(s.rpcUserForget),
		"users.revoke_all":   change(s.rpcUserRevokeAll),
		"passwords.release":  change(s.rpcReleasePasswordHold),
		"bans.list":          read(s.rpcBansList),
		"bans.add":           change(s.rpcBan),
		"bans.remove":        change(s.rpcUnban),
		"settings.get":       read(s.rpcSettingsGet),
		"settings.set":       change(s.rpcSettingsSet),
		"sessions.adopt":     change(s.rpcSessionsAdopt),
		"audit.checkpoint":   change(s.rpcAuditCheckpoint),
		"audit.query":        read(s.rpcAuditQuery),
		"audit.verify":       read(s.rpcAuditVerify),
		"replay.at":          read(s.rpcReplayAt),
		"audit.public_key":   read(s.rpcAuditPublicKey),
		"api_keys.usage":     read(s.rpcAPIKeyUsage),
		"devices.revoke":     change(s.rpcDeviceRevoke),
		"devices.preapprove": change(s.rpcDevicePreapprove),
		"keys.rotate":        change(s.rpcKeysRotate),
		"subscribers.add":    change(s.rpcSubscribersAdd),
		"subscribers.list":   read(s.rpcSubscribersList),
		"subscribers.remove": change(s.rpcSubscribersRemove),
	}
}

// handleRPC serves JSON-RPC 2.0 (single requests and batches) to administrators.
func (s *Server) handleRPC(c *gin.Context) {
	caller, ok := s.adminCaller(c.Request)
	if !ok && s.isAuditor(c.Request) {
		caller, ok = adminCaller{auditor: true}, true
	}
	if !ok {
		c.JSON(http.StatusForbidden, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcInvalidRequest, Message: "administrators only"}, ID: json.RawMessage("null")})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, rpcMaxBody))
	if err != nil {
		msg := "cannot read the request body: " + err.Error()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			msg = fmt.Sprintf("request body too large: the control API accepts at most %d bytes", tooLarge.Limit)
		}
		c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: msg}, ID: json.RawMessage("null")})
		return
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		var reqs []rpcRequest
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) == 0 {
			c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: "invalid batch"}, ID: json.RawMessage("null")})
			return
		}
		out := make([]rpcResponse, 0, len(reqs))
		for _, r := range reqs {
			out = append(out, s.rpcCall(c, caller, r))
		}
		c.JSON(http.StatusOK, out)
		return
	}
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		c.JSON(http.StatusOK, rpcResponse{JSONRPC: "2.0", Error: &types.Error{Code: rpcParseError, Message: "invalid JSON"}, ID: json.RawMessage("null")})
		return
	}
	resp := s.rpcCall(c, caller, req)
	status := http.StatusOK
	if resp.Error != nil && (resp.Error.Code == rpcStepUp || resp.Error.Code == rpcForbidden) {
		status = http.StatusForbidden
	}
	c.JSON(status, resp)
}

func (s *Server) rpcCall(c *gin.Context, caller adminCaller, req rpcRequest) rpcResponse {
	ctx := c.Request.Context()
	resp := rpcResponse{JSONRPC: "2.0", ID: req.ID}
	if resp.ID == nil {
		resp.ID = json.RawMessage("null")
	}
	if req.JSONRPC != "2.0" || req.Method == "" {
		resp.Error = &types.Error{Code: rpcInvalidRequest, Message: `not a JSON-RPC 2.0 request (need "jsonrpc":"2.0" and a method)`}
		return resp
	}
	h, ok := s.rpcTable()[req.Method]
	if !ok {
		resp.Error = &types.Error{Code: rpcMethodNotFound, Message: "no method " + req.Method + "; rpc.discover lists them"}
		return resp
	}
	if !h.readOnly && caller.auditor {
		resp.Error = &types.Error{Code: rpcForbidden, Message: msgAuditorReadOnly(req.Method)}
		return resp
	}
	if !h.readOnly && !caller.token {
		if err := s.authorizeAdmin(c, caller); err != nil {
			resp.Error = rpcRefusal(err)
			return resp
		}
	}
	res, err := h.call(ctx, req.Params)
	if err != nil {
		var re *rpcError
		switch {
		case errors.As(err, &re):
			resp.Error = &types.Error{Code: re.code, Message: re.msg}
		case errors.Is(err, domain.ErrNotFound):
			resp.Error = &types.Error{Code: rpcNotFound, Message: err.Error()}
		default:
			s.log.Error("control API", "method", req.Method, "err", err)
			resp.Error = &types.Error{Code: rpcInternalError, Message: err.Error()}
		}
		return resp
	}
	resp.Result = res
	return resp
}

// authorizeAdmin applies the step-up rule to an administrator's session before a
// state change: the same rule, decided by the domain, as every account change.
func (s *Server) authorizeAdmin(c *gin.Context, caller adminCaller) error {
	pol := s.Policy()
	addr := clientAddr(c)
	creds, _ := upstream.ExtractCredentials(c.Request)
	_, err := s.opts.Projector.ExecUser(c.Request.Context(), caller.userID, s.eventContext(caller.userID, addr, creds), func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return u.Authorize(domain.Caller{TokenHash: caller.tokenHash}, domain.ActionAdmin, pol, now)
	})
	return err
}

// rpcRefusal is the JSON-RPC error of a refused state change: the self-service
// API's answer as its data.
func rpcRefusal(err error) *types.Error {
	if body, ok := stepUpRefusal(err); ok {
		return &types.Error{Code: rpcStepUp, Message: body["message"].(string), Data: body}
	}
	return &types.Error{Code: rpcInternalError, Message: err.Error()}
}

// params decodes named parameters (an object) into T.
func params[T any](raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 || string(raw) == "null" {
		return v, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, invalidParams("params: %v", err)
	}
	return v, nil
}

func (s *Server) rpcDiscover(context.Context, json.RawMessage) (any, error) {
	if s.opts.OpenRPC == nil {
		return nil, errors.New("the OpenRPC document is not loaded")
	}
	return s.opts.OpenRPC, nil
}

func (s *Server) rpcStatus(ctx context.Context, _ json.RawMessage) (any, error) {
	last, err := s.opts.Store.LastSeq(ctx)
	if err != nil {
		return nil, err
	}
	var users, addrs int
	var forged uint64
	var counts map[string]uint64
	s.read(func(st *projections.State) {
		users, addrs, forged = len(st.Users), len(st.Addresses), st.ForgedTotal
		counts = make(map[string]uint64, len(st.Counts))
		for k, v := range st.Counts {
			counts[k] = v
		}
	})
	return map[string]any{
		"version": s.opts.Version, "last_sequence": last, "applied_sequence": s.opts.Projector.Applied(),
		"users": users, "addresses": addrs, "events_by_type": counts, "forged_events": forged,
	}, nil
}

type userSummary struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Admin        bool       `json:"admin"`
	Methods      []string   `json:"methods"`
	Sessions     int        `json:"sessions"`
	Browsers     int        `json:"trusted_browsers"`
	Devices      int        `json:"devices"`
	AppPasswords int        `json:"app_passwords"`
	LockedUntil  *time.Time `json:"locked_until,omitempty"`
	Forgotten    bool       `json:"forgotten,omitempty"`

	// The password step: held until, and wrong passwords in a row as jfguard saw them.
	PasswordHeldUntil *time.Time `json:"password_held_until,omitempty"`
	WrongPasswords    int        `json:"wrong_passwords,omitempty"`
}

func (s *Server) rpcUsersList(context.Context, json.RawMessage) (any, error) {
	now := s.now()
	var out []userSummary
	s.read(func(st *projections.State) {
		for _, u := range st.Users {
			us := userSummary{ID: u.ID, Name: u.Name, Admin: u.Admin, Methods: u.Methods(), Sessions: len(u.Sessions),
				Browsers: len(u.Browsers), AppPasswords: len(u.AppPasswords), Forgotten: u.Forgotten}
			for _, p := range u.Pairings {
				if p.Status == domain.PairingPaired {
					us.Devices++
				}
			}
			if u.Locked(now) {
				t := u.LockedUntil
				us.LockedUntil = &t
			}
			if u.PasswordHeld(now) {
				t := u.Password.HeldUntil
				us.PasswordHeldUntil = &t
			}
			us.WrongPasswords = u.Password.Consecutive
			if us.Methods == nil {
				us.Methods = []string{}
			}
			out = append(out, us)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []userSummary{}
	}
	return out, nil
}

type userGetParams struct {
	User string `json:"user"`
}

// userView is the setup page's overview of a user as an administrator sees it: the
// email address is left out, since only its owner may unseal it.
type userView struct {
	meView
	Email *struct {
		Confirmed bool `json:"confirmed"`
	} `json:"email,omitempty"`
}

// rpcUserGet is one user's overview as the setup page shows it to the user: factors,
// sessions, trusted browsers, paired devices, pairings waiting, app passwords and
// passkeys. users.list only counts these; the admin page needs each device to revoke
// it.
func (s *Server) rpcUserGet(_ context.Context, raw json.RawMessage) (any, error) {
	p, err := params[userGetParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" {
		return nil, invalidParams("user is required (a Jellyfin user name or id)")
	}
	uid, err := s.findUser(p.User)
	if err != nil {
		return nil, err
	}
	me, ok := s.buildMe(uid, "", "")
	if !ok {
		return nil, fmt.Errorf("%w: no user %q", domain.ErrNotFound, p.User)
	}
	me.Features = featuresView{Passkeys: s.passkeyStatus(), Email: s.opts.Mailer != nil}
	v := userView{meView: me}
	s.read(func(st *projections.State) {
		if u := st.Users[uid]; u != nil && u.Email != nil {
			v.Email = &struct {
				Confirmed bool `json:"confirmed"`
			}{u.Email.Confirmed}
		}
	})
	return v, nil
}

// findUser resolves a user by name or id.
func (s *Server) findUser(nameOrID string) (string, error) {
	var uid string
	s.read(func(st *projections.State) {
		if u := st.Users[nameOrID]; u != nil {
			uid = u.ID
		} else if u := st.UserByName(nameOrID); u != nil {
			uid = u.ID
		}
	})
	if uid == "" {
		return "", fmt.Errorf("%w: no user %q", domain.ErrNotFound, nameOrID)
	}
	return uid, nil
}

type userParams struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// rpcUserReset is account recovery: every factor, trusted browser and the lockout
// go, and the user is signed out everywhere (sessions, held sign-ins, app
// passwords, devices), so whoever had the account loses it too.
func (s *Server) rpcUserReset(ctx context.Context, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	r, err := s.revokeAll(ctx, uid, domain.RevokeOnReset, p.Reason, events.Context{Actor: "admin"}, &events.UserReset{Reason: p.Reason})
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "reset": true, "revoked": revokedCounts(r)}, nil
}

// rpcUserRevokeAll signs a user out everywhere (offboarding, a stolen device):
// every session, held sign-in, app password, paired device, pairing and trusted
// browser; the tokens are logged out at Jellyfin. Factors stay.
func (s *Server) rpcUserRevokeAll(ctx context.Context, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	r, err := s.revokeAll(ctx, uid, domain.RevokeByAdmin, p.Reason, events.Context{Actor: "admin"})
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "revoked": revokedCounts(r)}, nil
}

// rpcUserForget destroys a user's data key: sealed values become unreadable. The
// user is signed out everywhere first, and the held tokens are logged out at
// Jellyfin while they can still be unsealed.
func (s *Server) rpcUserForget(ctx context.Context, raw json.RawMessage) (any, error) {
	p, uid, err := s.userParam(raw)
	if err != nil {
		return nil, err
	}
	if _, err := s.revokeAll(ctx, uid, domain.RevokeOnForget, p.Reason, events.Context{Actor: "admin"}, &events.UserForgotten{Reason: p.Reason}); err != nil {
		return nil, err
	}
	if err := s.opts.Sealer.Destroy(ctx, uid); err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "forgotten": true}, nil
}

// userParam decodes {"user","reason"} and resolves the user.
func (s *Server) userParam(raw json.RawMessage) (userParams, string, error) {
	p, err := params[userParams](raw)
	if err != nil {
		return p, "", err
	}
	if p.User == "" {
		return p, "", invalidParams("user is required (a Jellyfin user name or id)")
	}
	uid, err := s.findUser(p.User)
	return p, uid, err
}

// banView is one ban as bans.list shows it: ip is the address, or the IPv6 prefix,
// the ban holds for; prefix is the same block in CIDR form (an IPv4 address is a /32).
type banView struct {
	IP     string    `json:"ip"`
	Prefix string    `json:"prefix"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

func (s *Server) rpcBansList(context.Context, json.RawMessage) (any, error) {
	now := s.now()
	out := []banView{}
	s.read(func(st *projections.State) {
		for id, a := range st.Addresses {
			if a.Banned(now) {
				ip := events.IPFromAggregateID(id)
				out = append(out, banView{IP: ip, Prefix: cidr(ip), Until: a.BannedUntil, Reason: a.BanReason})
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out, nil
}

// cidr writes an address or prefix as a prefix.
func cidr(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return ip
}

type banParams struct {
	IP       string `json:"ip"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// banTarget reads the ip parameter: an address stands for its block (its IPv6 /64,
// by default), a prefix must be a block.
func (s *Server) banTarget(v string) (netip.Prefix, netip.Addr, error) {
	block, addr, err := domain.ParseBanTarget(v, s.opts.IPv6Prefix)
	if err != nil {
		return block, addr, invalidParams("ip %v", strings.TrimPrefix(err.Error(), domain.ErrBanTarget.Error()+": "))
	}
	return block, addr, nil
}

// rpcBan bans the block of the given address (or the given prefix), and says which
// block that is.
func (s *Server) rpcBan(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[banParams](raw)
	if err != nil {
		return nil, err
	}
	block, addr, err := s.banTarget(p.IP)
	if err != nil {
		return nil, err
	}
	d := 24 * time.Hour
	if p.Duration != "" {
		if d, err = time.ParseDuration(p.Duration); err != nil || d <= 0 {
			return nil, invalidParams("duration %q is not a positive duration like 24h", p.Duration)
		}
	}
	reason := p.Reason
	if reason == "" {
		reason = "banned by an administrator"
	}
	_, err = s.opts.Projector.ExecAddress(ctx, domain.AddressKey(block), banContext(addr), func(a *domain.Address, now time.Time) ([]events.Payload, error) {
		return []events.Payload{&events.IPBanned{Until: now.Add(d), Reason: reason}}, nil
	})
	return map[string]any{"ip": banInput(block, addr), "prefix": block.String(), "banned": err == nil}, err
}

// rpcUnban lifts the ban on the block of the given address (or on the given prefix).
// For an address it also lifts a ban an older version of jfguard recorded on the
// address alone, and names the block of the first ban it lifted.
func (s *Server) rpcUnban(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[banParams](raw)
	if err != nil {
		return nil, err
	}
	block, addr, err := s.banTarget(p.IP)
	if err != nil {
		// A ban recorded under another security.ipv6_prefix is listed with its own
		// prefix, and lifted by it.
		listed, perr := netip.ParsePrefix(strings.TrimSpace(p.IP))
		if perr != nil || !s.isBanned(domain.AddressKey(listed.Masked())) {
			return nil, err
		}
		block = listed.Masked()
	}
	keys := []string{domain.AddressKey(block)}
	if addr.IsValid() {
		keys = domain.BanKeys(addr, s.opts.IPv6Prefix)
	}
	lifted := ""
	for _, key := range keys {
		_, err := s.opts.Projector.ExecAddress(ctx, key, banContext(addr), func(a *domain.Address, now time.Time) ([]events.Payload, error) {
			if !a.Banned(now) {
				return nil, domain.ErrNotFound
			}
			return []events.Payload{&events.IPUnbanned{Reason: p.Reason}}, nil
		})
		switch {
		case errors.Is(err, domain.ErrNotFound):
		case err != nil:
			return nil, err
		case lifted == "":
			lifted = cidr(events.IPFromAggregateID(key))
		}
	}
	if lifted == "" {
		return map[string]any{"ip": banInput(block, addr), "unbanned": false}, fmt.Errorf("%w: %s is not banned", domain.ErrNotFound, block)
	}
	return map[string]any{"ip": banInput(block, addr), "prefix": lifted, "unbanned": true}, nil
}

// isBanned reports whether the IP aggregate id is banned now.
func (s *Server) isBanned(id string) bool {
	now := s.now()
	var banned bool
	s.read(func(st *projections.State) { banned = st.Addresses[id].Banned(now) })
	return banned
}

// banInput is the address an administrator gave, or the prefix.
func banInput(block netip.Prefix, addr netip.Addr) string {
	if addr.IsValid() {
		return addr.String()
	}
	return events.IPFromAggregateID(domain.AddressKey(block))
}

// banContext names the administrator and, when one was given, the address.
func banContext(addr netip.Addr) events.Context {
	ec := events.Context{Actor: "admin"}
	if addr.IsValid() {
		ec.IP = addr.String()
	}
	return ec
}

func (s *Server) rpcSettingsGet(context.Context, json.RawMessage) (any, error) {
	p := s.Policy()
	out := map[string]string{}
	for _, k := range PolicyKeys() {
		out[k], _ = PolicyValue(p, k)
	}
	return out, nil
}

type settingParams struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (s *Server) rpcSettingsSet(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[settingParams](raw)
	if err != nil {
		return nil, err
	}
	cur := s.Policy()
	next := cur
	if err := ApplySetting(&next, p.Key, p.Value); err != nil {
		return nil, invalidParams("%v", err)
	}
	old, _ := PolicyValue(cur, p.Key)
	val, _ := PolicyValue(next, p.Key)
	if old == val {
		return map[string]any{"key": p.Key, "value": val, "changed": false}, nil
	}
	if _, err := s.opts.Projector.ExecSystem(ctx, "settings", events.Context{Actor: "admin"},
		&events.SettingsChanged{Key: p.Key, Old: old, New: val, Where: "control_api"}); err != nil {
		return nil, err
	}
	return map[string]any{"key": p.Key, "value": val, "changed": true}, nil
}

type adoptParams struct {
	Force bool `json:"force"`
}

// rpcSessionsAdopt marks the Jellyfin sessions that exist now as verified, once: the
// sessions of users who were signed in before jfguard was installed.
func (s *Server) rpcSessionsAdopt(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[adoptParams](raw)
	if err != nil {
		return nil, err
	}
	var done bool
	s.read(func(st *projections.State) { done = st.Counts[events.TypeSessionsAdopted] > 0 })
	if done && !p.Force {
		return nil, &rpcError{rpcConflict, "sessions were already adopted once; pass force to adopt again"}
	}
	devs, err := s.jf.Devices(ctx)
	if err != nil {
		return nil, err
	}
	adopted := 0
	for _, d := range devs {
		if d.AccessToken == "" || !events.ValidAggregateID(d.LastUserID) {
			continue
		}
		h := tokenHash(d.AccessToken)
		var known bool
		s.read(func(st *projections.State) { _, known = st.Tokens[h] })
		if known {
			continue
		}
		sealed, err := s.opts.Sealer.Seal(ctx, d.LastUserID, []byte(d.AccessToken))
		if err != nil {
			return nil, err
		}
		ec := events.Context{Actor: "admin", Device: &events.Device{ID: d.ID, Name: d.Name, Client: d.AppName, Version: d.AppVersion}}
		_, err = s.opts.Projector.ExecUser(ctx, d.LastUserID, ec, func(u *domain.User, now time.Time) ([]events.Payload, error) {
			var evs []events.Payload
			if !u.Known() && d.LastUser != "" {
				evs = append(evs, &events.UserDiscovered{Name: d.LastUser})
			}
			return append(evs, domain.NewSessionVerified(h, domain.ReasonAdopted, sealed)), nil
		})
		if err != nil {
			return nil, err
		}
		adopted++
	}
	if _, err := s.opts.Projector.ExecSystem(ctx, "sessions", events.Context{Actor: "admin"}, &events.SessionsAdopted{Count: adopted}); err != nil {
		return nil, err
	}
	return map[string]any{"adopted": adopted}, nil
}

func (s *Server) rpcAuditCheckpoint(ctx context.Context, _ json.RawMessage) (any, error) {
	if s.opts.Notary == nil {
		return nil, errors.New("this node does not write checkpoints")
	}
	if err := s.opts.Notary.Flush(ctx); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true}, nil
}

func (s *Server) rpcAuditPublicKey(context.Context, json.RawMessage) (any, error) {
	if s.opts.Notary == nil {
		return nil, errors.New("this node does not write checkpoints")
	}
	return map[string]any{"public_key": audit.FormatPublicKey(s.opts.Notary.PublicKey())}, nil
}

func (s *Server) rpcAPIKeyUsage(context.Context, json.RawMessage) (any, error) {
	return s.apiKeyUsage(), nil
}

type deviceParams struct {
	User     string `json:"user"`
	Pairing  string `json:"pairing"`
	DeviceID string `json:"device_id"`
	Client   string `json:"client"`
	Name     string `json:"name"`
}

// rpcDeviceRevoke removes a paired device and logs its session out.
func (s *Server) rpcDeviceRevoke(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[deviceParams](raw)
	if err != nil {
		return nil, err
	}
	uid, err := s.findUser(p.User)
	if err != nil {
		return nil, err
	}
	if err := s.revokeDevice(ctx, uid, p.Pairing, events.Context{Actor: "admin"}, func(d userDecision) userDecision { return d }); err != nil {
		return nil, err
	}
	return map[string]any{"revoked": true}, nil
}

// rpcDevicePreapprove approves a device for a user before it signs in: its next
// sign-in within the pairing window succeeds.
func (s *Server) rpcDevicePreapprove(ctx context.Context, raw json.RawMessage) (any, error) {
	p, err := params[deviceParams](raw)
	if err != nil {
		return nil, err
	}
	if p.DeviceID == "" || p.Client == "" {
		return nil, invalidParams("device_id and client are required (as the app sends them)")
	}
	uid, err := s.findUser(p.User)
	if err != nil {
		return nil, err
	}
	id := s.newID()[:16]
	pol := s.Policy()
	_, err = s.opts.Projector.ExecUser(ctx, uid, events.Context{Actor: "admin"}, func(u *domain.User, now time.Time) ([]events.Payload, error) {
		return []events.Payload{
			&events.PairingRequested{PairingID: id, DeviceID: p.DeviceID, DeviceName: p.Name, Client: p.Client, ExpiresAt: now.Add(pol.PairingTTL)},
			&events.PairingApproved{PairingID: id, Until: now.Add(pol.PairingWindow)},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"pairing": id, "approved_until": s.now().Add(pol.PairingWindow)}, nil
}

// userDecision is a decision on a user's state.
type userDecision = func(u *domain.User, now time.Time) ([]events.Payload, error)

// revokeDevice removes a paired device, revokes its session and logs it out. guard
// wraps the decision with the caller's authorization.
func (s *Server) revokeDevice(ctx context.Context, uid, pairingID string, ec events.Context, guard func(userDecision) userDecision) error {
	var token events.Sealed
	_, err := s.opts.Projector.ExecUser(ctx, uid, ec, guard(func(u *domain.User, now time.Time) ([]events.Payload, error) {
		p := u.Pairings[pairingID]
		if p == nil {
			return nil, fmt.Errorf("%w: no device %q", domain.ErrNotFound, pairingID)
		}
		evs := []events.Payload{&events.DeviceRevoked{PairingID: pairingID}}
		if ss := u.Sessions[p.TokenHash]; p.TokenHash != "" && ss != nil {
			token = ss.Token
			evs = append(evs, &events.SessionRevoked{TokenHash: p.TokenHash, Reason: "device_revoked"})
		}
		return evs, nil
	}))
	if err != nil {
		return err
	}
	s.logoutSealed(uid, token)
	return nil
}
