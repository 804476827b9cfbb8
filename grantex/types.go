package grantex

import (
	"fmt"
	"time"
)

// AuthorizeParams is the body of POST /v1/authorize.
type AuthorizeParams struct {
	AgentID             string   `json:"agentId"`
	PrincipalID         string   `json:"principalId"`
	Scopes              []string `json:"scopes"`
	RedirectURI         string   `json:"redirectUri,omitempty"`
	State               string   `json:"state,omitempty"`
	ExpiresIn           string   `json:"expiresIn,omitempty"`
	Audience            string   `json:"audience,omitempty"`
	CodeChallenge       string   `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string   `json:"codeChallengeMethod,omitempty"`
}

// AuthRequest is the 201 answer of POST /v1/authorize. A
// non-empty Code means the request is already approved (sandbox or a policy
// allow): skip consent.
type AuthRequest struct {
	AuthRequestID  string    `json:"authRequestId"`
	ConsentURL     string    `json:"consentUrl"`
	ExpiresAt      time.Time `json:"expiresAt"`
	Sandbox        bool      `json:"sandbox,omitempty"`
	Code           string    `json:"code,omitempty"`
	PolicyEnforced bool      `json:"policyEnforced,omitempty"`
	Effect         string    `json:"effect,omitempty"`
}

// Token is the 201 answer of POST /v1/token and POST /v1/token/refresh.
type Token struct {
	GrantToken   string    `json:"grantToken"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Scopes       []string  `json:"scopes"`
	RefreshToken string    `json:"refreshToken"`
	GrantID      string    `json:"grantId"`
}

// Verification is the answer of POST /v1/tokens/verify.
type Verification struct {
	Valid     bool      `json:"valid"`
	GrantID   string    `json:"grantId,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	Principal string    `json:"principal,omitempty"`
	Agent     string    `json:"agent,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// APIError is a non-2xx answer from Grantex, with the error body
// {message, code, requestId} of the Grantex API.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
	// RetryAfter is the Retry-After header, when the server sent one.
	RetryAfter time.Duration
}

// Error formats the status, code, message and request id.
func (e *APIError) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("grantex: %d %s: %s (request %s)", e.StatusCode, e.Code, e.Message, e.RequestID)
	}
	return fmt.Sprintf("grantex: %d %s: %s", e.StatusCode, e.Code, e.Message)
}
