package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jfguard/jfguard/domain"
	"github.com/jfguard/jfguard/projections/usecase"
)

// Network allowlists (domain/networks.go): a sign-in from outside the networks an
// account may sign in from is refused with this answer, whatever the method.
var errAnsOutsideNetworks = newAPIError(http.StatusForbidden, "network_not_allowed",
	"This account may not sign in from your network. Sign in from a network your administrator allows (at home, or over the VPN), or ask your administrator.")

type setNetworksParams struct {
	User     string    `json:"user"`
	Networks *[]string `json:"networks"`
}

// rpcUserSetNetworks sets the networks a user may sign in from (an empty list:
// anywhere); see usecase.Service.SetUserNetworks.
func (s *Server) rpcUserSetNetworks(ctx context.Context, admin usecase.Admin, raw json.RawMessage) (any, error) {
	p, err := params[setNetworksParams](raw)
	if err != nil {
		return nil, err
	}
	if p.User == "" {
		return nil, invalidParams("user is required (a Jellyfin user name or id)")
	}
	if p.Networks == nil {
		return nil, invalidParams(`networks is required: a list of CIDRs like ["192.0.2.0/24","2001:db8::/48"], or [] for anywhere`)
	}
	uid, kept, err := s.app.SetUserNetworks(ctx, admin, p.User, *p.Networks)
	if errors.Is(err, domain.ErrNetworkList) {
		return nil, invalidParams("%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": uid, "networks": kept}, nil
}
