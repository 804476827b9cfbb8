package main

// RFC 7662 introspection at the remote authorization server: the gateway's
// revocation check in -remote-issuer mode with -remote-client-id.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// introspectionTimeout bounds one metadata or introspection call.
	introspectionTimeout = 5 * time.Second
	// maxIntrospectionCache bounds the remembered answers.
	maxIntrospectionCache = 10000
	// maxIntrospectionBody bounds what is read of an answer.
	maxIntrospectionBody = 64 << 10
)

// remoteIntrospector asks the remote authorization server's introspection
// endpoint (RFC 7662 §2, found in its RFC 8414 metadata) whether a token
// that verified by signature is still active, so a token revoked there is
// refused here within ttl instead of working until it expires.
//
// It fails open: when the authorization server cannot be asked (down,
// slow, rate limiting, no introspection endpoint), the token's signature,
// expiry and audience, already checked, decide, and a warning is logged
// (at most once a minute). A refused answer ({"active":false}) is final.
type remoteIntrospector struct {
	issuer, clientID, secret string
	ttl                      time.Duration
	client                   *http.Client
	log                      *slog.Logger
	now                      func() time.Time

	mu       sync.Mutex
	endpoint string
	cache    map[[32]byte]introspected
	lastWarn time.Time
}

type introspected struct {
	active bool
	until  time.Time
}

func newRemoteIntrospector(issuer, clientID, secret string, ttl time.Duration, log *slog.Logger) *remoteIntrospector {
	return &remoteIntrospector{
		issuer: issuer, clientID: clientID, secret: secret, ttl: ttl, log: log, now: time.Now,
		client: &http.Client{Timeout: introspectionTimeout},
		cache:  map[[32]byte]introspected{},
	}
}

// errInactive: the authorization server says the token is not active.
var errInactive = errors.New("the access token is no longer active")

// check returns errInactive for a token the authorization server no
// longer vouches for, nil otherwise (including when it cannot be asked).
func (ri *remoteIntrospector) check(ctx context.Context, token string, exp time.Time) error {
	key := sha256.Sum256([]byte(token))
	now := ri.now()
	ri.mu.Lock()
	e, ok := ri.cache[key]
	ri.mu.Unlock()
	if ok && now.Before(e.until) {
		if !e.active {
			return errInactive
		}
		return nil
	}
	active, err := ri.introspect(ctx, token)
	if err != nil {
		if ctx.Err() == nil {
			ri.warn("gateway: cannot introspect at the remote authorization server; accepting the verified token", err)
		}
		return nil
	}
	// An active answer is reused for ttl (never past exp); an inactive one
	// until the token expires anyway: revocation is not undone.
	until := now.Add(ri.ttl)
	if !active || until.After(exp) {
		until = exp
	}
	ri.mu.Lock()
	if len(ri.cache) >= maxIntrospectionCache {
		for k, v := range ri.cache {
			if !now.Before(v.until) {
				delete(ri.cache, k)
			}
		}
		if len(ri.cache) >= maxIntrospectionCache {
			clear(ri.cache) // every answer still fresh: start over rather than grow
		}
	}
	ri.cache[key] = introspected{active: active, until: until}
	ri.mu.Unlock()
	if !active {
		return errInactive
	}
	return nil
}

func (ri *remoteIntrospector) warn(msg string, err error) {
	ri.mu.Lock()
	now := ri.now()
	quiet := now.Sub(ri.lastWarn) < time.Minute
	if !quiet {
		ri.lastWarn = now
	}
	ri.mu.Unlock()
	if !quiet {
		ri.log.Warn(msg, "issuer", ri.issuer, "err", err)
	}
}

// introspect makes one RFC 7662 request, authenticating with
// client_secret_basic (RFC 6749 §2.3.1: id and secret form-encoded).
func (ri *remoteIntrospector) introspect(ctx context.Context, token string) (bool, error) {
	endpoint, err := ri.introspectionEndpoint(ctx)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, introspectionTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(ri.clientID), url.QueryEscape(ri.secret))
	resp, err := ri.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody))
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection: status %d: %.200s", resp.StatusCode, body)
	}
	var ans struct {
		Active *bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Active == nil {
		return false, fmt.Errorf("introspection: not an RFC 7662 answer: %.200s", body)
	}
	return *ans.Active, nil
}

// introspectionEndpoint reads introspection_endpoint from the issuer's
// RFC 8414 metadata once, checking its issuer (RFC 8414 §3.3).
func (ri *remoteIntrospector) introspectionEndpoint(ctx context.Context) (string, error) {
	ri.mu.Lock()
	ep := ri.endpoint
	ri.mu.Unlock()
	if ep != "" {
		return ep, nil
	}
	iss, _ := url.Parse(ri.issuer)
	u := iss.Scheme + "://" + iss.Host + "/.well-known/oauth-authorization-server" + iss.EscapedPath()
	ctx, cancel := context.WithTimeout(ctx, introspectionTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ri.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var md struct {
		Issuer                string `json:"issuer"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("metadata %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxIntrospectionBody)).Decode(&md); err != nil {
		return "", fmt.Errorf("metadata %s: %w", u, err)
	}
	if md.Issuer != ri.issuer {
		return "", fmt.Errorf("metadata %s: issuer %q, want %q", u, md.Issuer, ri.issuer)
	}
	ep = md.IntrospectionEndpoint
	if pu, err := url.Parse(ep); ep == "" || err != nil || (pu.Scheme != "https" && !(pu.Scheme == "http" && isLoopback(pu.Hostname()))) {
		return "", fmt.Errorf("metadata %s: no usable introspection_endpoint (%q)", u, ep)
	}
	ri.mu.Lock()
	ri.endpoint = ep
	ri.mu.Unlock()
	return ep, nil
}

// requireActive refuses, with the RFC 6750 §3.1 invalid_token challenge,
// a verified request whose token the authorization server says is no
// longer active.
func (ri *remoteIntrospector) requireActive(next http.Handler, prmURL string, scopes []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := grantOfRequest(r)
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if g == nil || !strings.EqualFold(scheme, "Bearer") {
			next.ServeHTTP(w, r) // the proxy refuses a request without a grant
			return
		}
		if err := ri.check(r.Context(), strings.TrimSpace(token), g.ExpiresAt); err != nil {
			// Every token refused here usually means this gateway's client
			// is not among the authorization server's -introspector list.
			ri.log.InfoContext(r.Context(), "gateway: the authorization server says the token is not active (revoked, or this gateway is not one of its introspectors)",
				"sub", g.Subject, "client_id", g.ClientID)
			h := w.Header()
			h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q, scope=%q, resource_metadata=%q`,
				err.Error(), strings.Join(scopes, " "), prmURL))
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token", "error_description": err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}
