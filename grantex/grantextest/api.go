package grantextest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/grantex"
)

var (
	challengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	verifierRE  = regexp.MustCompile(`^[A-Za-z0-9\-._~]{43,128}$`)
	expiresInRE = regexp.MustCompile(`^(\d+)([smhd])$`)
)

// badRequest is a validation failure, answered 400 BAD_REQUEST.
type badRequest string

func (e badRequest) Error() string { return string(e) }

// decodeJSON reads a JSON body as Fastify does: JSON content type (else 415),
// at most 1 MiB (else 413), non-empty and well-formed (else 400). The
// generic error handler labels all of these BAD_REQUEST.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		s.writeError(w, http.StatusUnsupportedMediaType, "BAD_REQUEST", fmt.Sprintf("Unsupported Media Type: %s", r.Header.Get("Content-Type")))
		return false
	}
	body, err := readAll(w, r)
	if err != nil {
		s.writeError(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", "Request body is too large")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Body cannot be empty when content-type is set to 'application/json'")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("body/%s must be %s", te.Field, te.Value))
			return false
		}
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Body is not valid JSON")
		return false
	}
	return true
}

func readAll(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
}

// field checks a string field: presence when required and length in runes.
func field(name string, p *string, required bool, minLen, maxLen int) (string, error) {
	if p == nil {
		if required {
			return "", badRequest(fmt.Sprintf("body must have required property '%s'", name))
		}
		return "", nil
	}
	if n := len([]rune(*p)); n < minLen || n > maxLen {
		return "", badRequest(fmt.Sprintf("body/%s must be %d-%d characters", name, minLen, maxLen))
	}
	return *p, nil
}

// parseExpiresIn reads ^\d+[smhd]$.
func parseExpiresIn(v string) (time.Duration, error) {
	m := expiresInRE.FindStringSubmatch(v)
	if m == nil {
		return 0, badRequest("body/expiresIn must match pattern \"^\\d+[smhd]$\"")
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	// Bound to ~100 years so the arithmetic cannot overflow.
	if err != nil || n <= 0 || time.Duration(n) > 100*365*24*time.Hour/unit {
		return 0, badRequest("body/expiresIn is out of range")
	}
	return time.Duration(n) * unit, nil
}

// checkRedirect applies Grantex's redirectUri rules.
func (s *Server) checkRedirect(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return badRequest("redirectUri must be an absolute URL without userinfo")
	}
	if !s.opts.Production {
		return nil
	}
	host := u.Hostname()
	bad := u.Scheme != "https" || host == "localhost" || strings.HasSuffix(host, ".localhost")
	if a, err := netip.ParseAddr(host); err == nil {
		bad = bad || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
	}
	if bad {
		return badRequest("redirectUri must be an https URL on a public host")
	}
	return nil
}

func (s *Server) agentFor(dev Developer, agentID string) (Agent, bool) {
	a, ok := s.opts.Agents[agentID]
	if !ok || (a.DeveloperID != "" && a.DeveloperID != dev.ID) {
		return Agent{}, false
	}
	return a, true
}

// activeGrantsLocked counts a developer's active, unexpired grants.
func (s *Server) activeGrantsLocked(devID string) int {
	now := s.now()
	n := 0
	for _, g := range s.grants {
		if g.developerID == devID && g.status == "active" && now.Before(g.expiresAt) {
			n++
		}
	}
	return n
}

func (s *Server) overPlanLocked(devID string) bool {
	return s.opts.MaxActiveGrants > 0 && s.activeGrantsLocked(devID) >= s.opts.MaxActiveGrants
}

const planLimitMessage = "Active grant limit reached for your plan"

// handleAuthorize is POST /v1/authorize.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request, dev Developer) {
	if limit := s.opts.AuthorizeRateLimit; limit > 0 {
		if !s.limit(w, "authorize|"+dev.ID, limit, "RATE_LIMITED", "Rate limit exceeded") {
			return
		}
	}
	var req struct {
		AgentID             *string   `json:"agentId"`
		PrincipalID         *string   `json:"principalId"`
		Scopes              *[]string `json:"scopes"`
		RedirectURI         *string   `json:"redirectUri"`
		State               *string   `json:"state"`
		ExpiresIn           *string   `json:"expiresIn"`
		Audience            *string   `json:"audience"`
		CodeChallenge       *string   `json:"codeChallenge"`
		CodeChallengeMethod *string   `json:"codeChallengeMethod"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	ar := &authRequest{developerID: dev.ID, expiresIn: 24 * time.Hour}
	err := func() (err error) {
		if ar.agentID, err = field("agentId", req.AgentID, true, 1, 256); err != nil {
			return err
		}
		if ar.principalID, err = field("principalId", req.PrincipalID, true, 1, 256); err != nil {
			return err
		}
		if req.Scopes == nil {
			return badRequest("body must have required property 'scopes'")
		}
		if n := len(*req.Scopes); n < 1 || n > 100 {
			return badRequest("body/scopes must have 1-100 items")
		}
		for _, sc := range *req.Scopes {
			if strings.TrimSpace(sc) == "" || len([]rune(sc)) > 256 {
				return badRequest("body/scopes must be non-blank strings of at most 256 characters")
			}
		}
		ar.scopes = slices.Clone(*req.Scopes)
		if ar.redirectURI, err = field("redirectUri", req.RedirectURI, false, 1, 2048); err != nil {
			return err
		}
		if ar.hasRedirect = req.RedirectURI != nil; ar.hasRedirect {
			if err := s.checkRedirect(ar.redirectURI); err != nil {
				return err
			}
		}
		if ar.state, err = field("state", req.State, false, 0, 1024); err != nil {
			return err
		}
		ar.hasState = req.State != nil
		if req.ExpiresIn != nil {
			if ar.expiresIn, err = parseExpiresIn(*req.ExpiresIn); err != nil {
				return err
			}
		}
		if ar.audience, err = field("audience", req.Audience, false, 1, 1024); err != nil {
			return err
		}
		if (req.CodeChallenge == nil) != (req.CodeChallengeMethod == nil) {
			return badRequest("codeChallenge and codeChallengeMethod must be provided together")
		}
		if req.CodeChallenge != nil {
			if *req.CodeChallengeMethod != "S256" {
				return badRequest("codeChallengeMethod must be S256")
			}
			if !challengeRE.MatchString(*req.CodeChallenge) {
				return badRequest("codeChallenge must be a base64url-encoded SHA-256 digest (43 characters)")
			}
			ar.codeChallenge = *req.CodeChallenge
		}
		return nil
	}()
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	if _, ok := s.agentFor(dev, ar.agentID); !ok {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Agent not found")
		return
	}
	effect := ""
	if s.opts.Policy != nil {
		effect = s.opts.Policy(dev.ID, grantex.AuthorizeParams{
			AgentID: ar.agentID, PrincipalID: ar.principalID, Scopes: slices.Clone(ar.scopes),
			RedirectURI: ar.redirectURI, State: ar.state, Audience: ar.audience,
		})
	}
	if effect == PolicyDeny {
		s.writeError(w, http.StatusForbidden, "POLICY_DENIED", "Authorization denied by policy")
		return
	}

	now := s.now()
	s.mu.Lock()
	if s.overPlanLocked(dev.ID) {
		s.mu.Unlock()
		s.writeError(w, http.StatusPaymentRequired, "PLAN_LIMIT_EXCEEDED", planLimitMessage)
		return
	}
	ar.id = "areq_" + newULID(now)
	ar.expiresAt = now.Add(ar.expiresIn)
	ar.status = "pending"
	resp := struct {
		AuthRequestID  string  `json:"authRequestId"`
		ConsentURL     string  `json:"consentUrl"`
		ExpiresAt      isoTime `json:"expiresAt"`
		Sandbox        bool    `json:"sandbox,omitempty"`
		PolicyEnforced bool    `json:"policyEnforced,omitempty"`
		Effect         string  `json:"effect,omitempty"`
		Code           string  `json:"code,omitempty"`
	}{
		AuthRequestID: ar.id,
		ConsentURL:    s.publicURL + "/consent?req=" + url.QueryEscape(ar.id),
		ExpiresAt:     isoTime(ar.expiresAt),
	}
	switch {
	case dev.Mode == ModeSandbox:
		s.approveLocked(ar)
		resp.Sandbox, resp.Code = true, ar.code
	case effect == PolicyAllow:
		s.approveLocked(ar)
		resp.PolicyEnforced, resp.Effect, resp.Code = true, PolicyAllow, ar.code
	}
	s.authReqs[ar.id] = ar
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) approveLocked(ar *authRequest) {
	ar.status = "approved"
	ar.code = newULID(s.now())
	s.codes[ar.code] = ar.id
}

// handleSandboxDecision is POST /v1/authorize/:id/approve|deny, which only
// sandbox developers may call; live ones get 403 CONSENT_REQUIRED.
func (s *Server) handleSandboxDecision(approve bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, dev Developer) {
		if dev.Mode != ModeSandbox {
			s.writeError(w, http.StatusForbidden, "CONSENT_REQUIRED", "Live developers must obtain consent through the consent page")
			return
		}
		s.mu.Lock()
		ar := s.authReqs[r.PathValue("id")]
		if ar == nil || ar.developerID != dev.ID {
			s.mu.Unlock()
			s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Authorization request not found")
			return
		}
		if status, msg := s.decidableLocked(ar); status != 0 && !(approve && ar.status == "approved") {
			s.mu.Unlock()
			s.writeError(w, status, "GONE", msg)
			return
		}
		resp := map[string]any{"requestId": ar.id}
		switch {
		case approve && ar.status == "pending":
			s.approveLocked(ar)
		case !approve:
			ar.status = "denied"
		}
		resp["status"] = ar.status
		if approve {
			resp["code"] = ar.code
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	}
}

type tokenResponse struct {
	GrantToken   string   `json:"grantToken"`
	ExpiresAt    isoTime  `json:"expiresAt"`
	Scopes       []string `json:"scopes"`
	RefreshToken string   `json:"refreshToken"`
	GrantID      string   `json:"grantId"`
}

// handleToken is POST /v1/token: a single-use code, bound to agent
// and developer, PKCE-checked when authorize had a challenge.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		Code         *string `json:"code"`
		AgentID      *string `json:"agentId"`
		CodeVerifier *string `json:"codeVerifier"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	code, err := field("code", req.Code, true, 1, 512)
	if err == nil {
		_, err = field("agentId", req.AgentID, true, 1, 256)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.authReqs[s.codes[code]]
	if ar == nil || ar.agentID != *req.AgentID || ar.developerID != dev.ID || ar.status == "consumed" {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid code")
		return
	}
	if ar.status != "approved" {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Auth request not approved")
		return
	}
	if !now.Before(ar.expiresAt) {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Auth request expired")
		return
	}
	if ar.codeChallenge != "" {
		if req.CodeVerifier == nil || *req.CodeVerifier == "" {
			s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "codeVerifier is required for PKCE")
			return
		}
		sum := sha256.Sum256([]byte(*req.CodeVerifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if !verifierRE.MatchString(*req.CodeVerifier) || subtle.ConstantTimeCompare([]byte(got), []byte(ar.codeChallenge)) != 1 {
			// The real handler throws inside its transaction, which rolls
			// back: a wrong verifier does not burn the code.
			s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid codeVerifier")
			return
		}
	}
	if s.overPlanLocked(dev.ID) {
		s.writeError(w, http.StatusPaymentRequired, "PLAN_LIMIT_EXCEEDED", planLimitMessage)
		return
	}
	g := &grant{
		id: "grnt_" + newULID(now), developerID: dev.ID, agentID: ar.agentID, principalID: ar.principalID,
		scopes: ar.scopes, audience: ar.audience, status: "active", issuedAt: now, expiresAt: now.Add(ar.expiresIn),
	}
	s.grantTokenLocked(w, g, func() {
		s.grants[g.id] = g
		ar.status = "consumed"
	})
}

// grantTokenLocked signs a grant token for g and, only once that worked,
// commits the single-use effects and answers 201 with a new refresh token
// (the shape of the token and refresh answers).
func (s *Server) grantTokenLocked(w http.ResponseWriter, g *grant, commit func()) {
	tok, err := s.issueLocked(g, g.expiresAt)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "An unexpected error occurred")
		return
	}
	commit()
	writeJSON(w, http.StatusCreated, tokenResponse{
		GrantToken: tok, ExpiresAt: isoTime(g.expiresAt), Scopes: g.scopes,
		RefreshToken: s.newRefreshLocked(g), GrantID: g.id,
	})
}

// handleRefresh is POST /v1/token/refresh: single-use rotation, same
// grant, exp = the grant's original expiry.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		RefreshToken *string `json:"refreshToken"`
		AgentID      *string `json:"agentId"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	token, err := field("refreshToken", req.RefreshToken, true, 1, 512)
	if err == nil {
		_, err = field("agentId", req.AgentID, true, 1, 256)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := func(msg string) { s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", msg) }
	rt := s.refresh[token]
	switch {
	case rt == nil || rt.developerID != dev.ID:
		bad("Invalid refresh token")
		return
	case rt.agentID != *req.AgentID:
		bad("Agent mismatch")
		return
	case rt.used:
		bad("Refresh token already used")
		return
	case !now.Before(rt.expiresAt):
		bad("Refresh token expired")
		return
	}
	g := s.grants[rt.grantID]
	switch {
	case g.status == "revoked":
		bad("Grant has been revoked")
		return
	case g.status != "active":
		bad("Grant is not active")
		return
	case !now.Before(g.expiresAt):
		bad("Grant has expired")
		return
	}
	s.grantTokenLocked(w, g, func() { rt.used = true })
}

// handleVerify is POST /v1/tokens/verify.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		Token *string `json:"token"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	if req.Token == nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "body must have required property 'token'")
		return
	}
	s.mu.Lock()
	c, g, ok := s.checkTokenLocked(*req.Token)
	s.mu.Unlock()
	if !ok || c.Dev != dev.ID {
		writeJSON(w, http.StatusOK, map[string]bool{"valid": false})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Valid     bool     `json:"valid"`
		GrantID   string   `json:"grantId"`
		Scopes    []string `json:"scopes"`
		Principal string   `json:"principal"`
		Agent     string   `json:"agent"`
		ExpiresAt isoTime  `json:"expiresAt"`
	}{true, g.id, c.Scp, c.Sub, c.Agt, isoTime(time.Unix(c.Exp, 0))})
}

// handleRevoke is POST /v1/tokens/revoke: one jti only.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		JTI *string `json:"jti"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	jti, err := field("jti", req.JTI, true, 1, 512)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	s.mu.Lock()
	rec := s.tokens[jti]
	ok := rec != nil && !rec.revoked && rec.developerID == dev.ID
	if ok {
		rec.revoked = true
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Token not found or already revoked")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleGetGrant is GET /v1/grants/:id. Like the real query it does
// not read the depth column: delegationDepth is always 0.
func (s *Server) handleGetGrant(w http.ResponseWriter, r *http.Request, dev Developer) {
	s.mu.Lock()
	g := s.grants[r.PathValue("id")]
	if g == nil || g.developerID != dev.ID {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Grant not found")
		return
	}
	resp := map[string]any{
		"grantId": g.id, "agentId": g.agentID, "principalId": g.principalID, "developerId": g.developerID,
		"scopes": g.scopes, "status": g.status, "issuedAt": isoTime(g.issuedAt), "expiresAt": isoTime(g.expiresAt),
		"delegationDepth": 0,
	}
	if !g.revokedAt.IsZero() {
		resp["revokedAt"] = isoTime(g.revokedAt)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// handleDeleteGrant is DELETE /v1/grants/:id: revokes the grant and
// all its descendants, with their tokens and refresh tokens. An unknown,
// foreign or already revoked grant is 404.
func (s *Server) handleDeleteGrant(w http.ResponseWriter, r *http.Request, dev Developer) {
	now := s.now()
	s.mu.Lock()
	g := s.grants[r.PathValue("id")]
	if g == nil || g.developerID != dev.ID || g.status != "active" {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Grant not found")
		return
	}
	revoked := map[string]bool{}
	for queue := []string{g.id}; len(queue) > 0; queue = queue[1:] {
		cur := s.grants[queue[0]]
		if cur.status == "active" {
			cur.status, cur.revokedAt = "revoked", now
		}
		revoked[cur.id] = true
		queue = append(queue, cur.children...)
	}
	for _, t := range s.tokens {
		if revoked[t.grantID] {
			t.revoked = true
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// handleDelegate is POST /v1/grants/delegate.
func (s *Server) handleDelegate(w http.ResponseWriter, r *http.Request, dev Developer) {
	var req struct {
		ParentGrantToken *string   `json:"parentGrantToken"`
		SubAgentID       *string   `json:"subAgentId"`
		Scopes           *[]string `json:"scopes"`
		ExpiresIn        *string   `json:"expiresIn"`
	}
	if !s.decodeJSON(w, r, &req) {
		return
	}
	expiresIn := time.Hour
	err := func() (err error) {
		if _, err = field("parentGrantToken", req.ParentGrantToken, true, 1, 1<<16); err != nil {
			return err
		}
		if _, err = field("subAgentId", req.SubAgentID, true, 1, 256); err != nil {
			return err
		}
		if req.Scopes == nil || len(*req.Scopes) < 1 || len(*req.Scopes) > 100 {
			return badRequest("body/scopes must have 1-100 items")
		}
		if req.ExpiresIn != nil {
			expiresIn, err = parseExpiresIn(*req.ExpiresIn)
		}
		return err
	}()
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pc, parent, ok := s.checkTokenLocked(*req.ParentGrantToken)
	switch {
	case !ok:
		s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid, revoked or expired parent grant token")
		return
	case pc.Dev != dev.ID:
		s.writeError(w, http.StatusForbidden, "FORBIDDEN", "Parent grant belongs to another developer")
		return
	}
	if _, ok := s.agentFor(dev, *req.SubAgentID); !ok {
		s.writeError(w, http.StatusNotFound, "NOT_FOUND", "Sub-agent not found")
		return
	}
	for _, sc := range *req.Scopes {
		if !slices.Contains(pc.Scp, sc) {
			s.writeError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("Scope %q is not in the parent grant", sc))
			return
		}
	}
	depth := pc.DelegationDepth + 1
	if depth > s.opts.MaxDelegationDepth {
		s.writeError(w, http.StatusForbidden, "DELEGATION_DEPTH_EXCEEDED",
			fmt.Sprintf("Delegation depth %d exceeds the maximum of %d", depth, s.opts.MaxDelegationDepth))
		return
	}
	// Delegated tokens drop aud and inherit the root principal.
	g := &grant{
		id: "grnt_" + newULID(now), developerID: dev.ID, agentID: *req.SubAgentID, principalID: pc.Sub,
		scopes: slices.Clone(*req.Scopes), status: "active", issuedAt: now,
		expiresAt: minTime(time.Unix(pc.Exp, 0), now.Add(expiresIn)),
		parentID:  parent.id, parentAgentDID: pc.Agt, depth: depth,
	}
	tok, err := s.issueLocked(g, g.expiresAt)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "An unexpected error occurred")
		return
	}
	s.grants[g.id] = g
	parent.children = append(parent.children, g.id)
	writeJSON(w, http.StatusCreated, tokenResponse{
		GrantToken: tok, ExpiresAt: isoTime(g.expiresAt), Scopes: g.scopes,
		RefreshToken: s.newRefreshLocked(g), GrantID: g.id,
	})
}

// handleJWKS is GET /.well-known/jwks.json: public, no-store, the
// RS256 key and, unless omitted, the EdDSA key the real service also lists.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: string(jose.RS256), Use: "sig"},
	}}
	if s.edPub != nil {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.edPub, KeyID: s.edKid, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	writeJSON(w, http.StatusOK, set)
}

// handleHealth is GET /health.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "database": "ok", "redis": "ok"})
}
