package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jfguard/jfguard/http/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series.
type metrics struct {
	gate      *prometheus.CounterVec // requests by gate decision
	signIns   *prometheus.CounterVec // sign-in outcomes
	factors   *prometheus.CounterVec // second-factor outcomes
	apiKeyUse *prometheus.CounterVec // uses per API key (by key hash prefix)
	trust     *prometheus.CounterVec // trust cookies presented, by what checking them found
	clients   *prometheus.CounterVec // requests by how their client address was learned
	// clientSources are clients' counters by source, resolved once: every request
	// counts, so the label lookup is not made per request.
	clientSources map[string]prometheus.Counter
	// gatePass and gateNoToken are the gate's counters of the front's fast path,
	// resolved once.
	gatePass, gateNoToken prometheus.Counter
	// apiKeyCounters are apiKeyUse's counters by key, resolved once per key.
	apiKeyMu       sync.RWMutex
	apiKeyCounters map[string]prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		gate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_gate_requests_total", Help: "Requests through the gate, by decision.",
		}, []string{"decision"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_sign_ins_total", Help: "Password steps, by outcome.",
		}, []string{"outcome"}),
		factors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_factor_attempts_total", Help: "Second-factor attempts, by method and outcome.",
		}, []string{"method", "outcome"}),
		apiKeyUse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_api_key_requests_total", Help: "Requests made with Jellyfin API keys, by key id (first 8 hex of the key's SHA-256).",
		}, []string{"key"}),
		trust: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_trust_cookies_total", Help: "Trust cookies presented, by check: malformed and bad_mac are refused before any lookup; unknown and known are what the lookup found.",
		}, []string{"check"}),
		clients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jfguard_client_addresses_total",
			Help: "Requests by where their client address came from: direct (no proxy, no forwarding header), proxy (a trusted proxy that forwarded), " +
				"proxy_without_header (a trusted proxy that sent no forwarding header) and untrusted_header (forwarding headers from an address not in trusted_proxies). " +
				"Operator routes (rpc, healthz, readyz, metrics) are not counted.",
		}, []string{"source"}),
	}
	m.clientSources = map[string]prometheus.Counter{}
	for _, src := range []string{"direct", "proxy", "proxy_without_header", "untrusted_header"} {
		m.clientSources[src] = m.clients.WithLabelValues(src)
	}
	m.gatePass, m.gateNoToken = m.gate.WithLabelValues("pass"), m.gate.WithLabelValues("no_token")
	m.apiKeyCounters = map[string]prometheus.Counter{}
	reg.MustRegister(m.gate, m.signIns, m.factors, m.apiKeyUse, m.trust, m.clients)
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// apiKeyUsed counts a request made with the API key whose hash (hex) starts with
// prefix, the first 8 characters of it.
func (m *metrics) apiKeyUsed(prefix []byte) {
	m.apiKeyMu.RLock()
	c, ok := m.apiKeyCounters[string(prefix)]
	m.apiKeyMu.RUnlock()
	if !ok {
		key := string(prefix)
		c = m.apiKeyUse.WithLabelValues(key)
		m.apiKeyMu.Lock()
		m.apiKeyCounters[key] = c
		m.apiKeyMu.Unlock()
	}
	c.Inc()
}

func (s *Server) handleHealthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.opts.Version})
}

// handleReadyz is ready when the store answers, the projection has caught up and the
// extra checks pass.
func (s *Server) handleReadyz(c *gin.Context) {
	var problems []string
	last, err := s.opts.Store.LastSeq(c.Request.Context())
	if err != nil {
		problems = append(problems, "event store: "+err.Error())
	} else if applied := s.opts.Projector.Applied(); applied+1000 < last {
		problems = append(problems, "projections are catching up")
	}
	// Reading the stream's state can succeed where writing cannot (a server that
	// lost its cluster's quorum still answers some reads): a node is ready only when
	// it can record a decision.
	if err := s.writeProbe.check(c.Request.Context(), s.opts.Shared); err != nil {
		problems = append(problems, "event store: cannot write (lost quorum?): "+err.Error())
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if !s.jf.HasAdminKey() {
		problems = append(problems, "warning: no Jellyfin admin API key; API keys, app passwords and passkey sign-in are unavailable")
	}
	problems = append(problems, s.readiness.warnings(c.Request.Context(), s)...)
	for _, w := range s.opts.ReadyWarnings {
		problems = append(problems, "warning: "+w)
	}
	status := http.StatusOK
	for _, p := range problems {
		if len(p) < 8 || p[:8] != "warning:" {
			status = http.StatusServiceUnavailable
		}
	}
	c.JSON(status, gin.H{"ready": status == http.StatusOK, "problems": problems})
}

// writeProbe is readyz's write to the shared store, made at most once a second: the
// route needs no credential, so asking it often must not turn into replicated
// writes at the same rate.
type writeProbe struct {
	mu    sync.Mutex
	until time.Time
	last  error
}

const writeProbeTTL = time.Second

func (p *writeProbe) check(ctx context.Context, st writeProber) error {
	if st == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Now().Before(p.until) {
		return p.last
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	p.last, p.until = st.Probe(ctx), time.Now().Add(writeProbeTTL)
	return p.last
}

// upstreamReadiness asks Jellyfin what app passwords and passkey-only sign-in need:
// Quick Connect switched on, and the admin API key accepted. Neither makes jfguard
// unready (passwords and second factors still work), so both are warnings. The
// answer is kept for a while, so a probe every few seconds costs Jellyfin little.
type upstreamReadiness struct {
	mu    sync.Mutex
	until time.Time
	last  []string
}

// upstreamCheckTTL is how long an answer about Jellyfin's settings is kept.
const upstreamCheckTTL = 30 * time.Second

func (u *upstreamReadiness) warnings(ctx context.Context, s *Server) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := s.now()
	if now.Before(u.until) {
		return u.last
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []string
	if on, err := s.jf.QuickConnectEnabled(ctx); err != nil {
		out = append(out, "warning: cannot ask Jellyfin whether Quick Connect is on: "+err.Error())
	} else if !on {
		out = append(out, "warning: Quick Connect is off in Jellyfin (Dashboard → General); app passwords and passkey sign-in are unavailable")
	}
	if s.jf.HasAdminKey() {
		var se *upstream.StatusError
		if _, err := s.jf.APIKeys(ctx); errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden) {
			out = append(out, "warning: Jellyfin refuses the admin API key (jellyfin.api_key_file); API keys, app passwords and passkey sign-in are unavailable")
		} else if err != nil {
			out = append(out, "warning: cannot check the Jellyfin admin API key: "+err.Error())
		}
	}
	u.last, u.until = out, now.Add(upstreamCheckTTL)
	return out
}
