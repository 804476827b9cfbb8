// Package limits holds the authorization server's request-rate knobs: the
// per-endpoint, per-client-address rate limits ([RateLimits], set in
// mcpauth.Config.RateLimits) and the per-account back-off of failed
// sign-ins on the built-in login page ([LoginBackoff], in
// mcpauth.Config.LoginBackoff), with their defaults and the text forms the
// standalone server's flags read. Requests over a limit are answered 429
// Too Many Requests with Retry-After (RFC 6585 §4, RFC 9110 §10.2.3).
package limits

// This file defines the per-endpoint rate limits and the login back-off.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Endpoint names used as RateLimits keys.
const (
	EndpointAuthorize  = "authorize"
	EndpointToken      = "token"
	EndpointIntrospect = "introspect"
	EndpointRevoke     = "revoke"
	EndpointRegister   = "register"
	// EndpointLogin limits password attempts on the built-in login page per
	// client address (the page itself counts against EndpointDefault).
	EndpointLogin = "login"
	// EndpointDefault applies to every endpoint without its own entry.
	EndpointDefault = "default"
)

// Rate is Requests per Per, with a burst of Requests.
type Rate struct {
	Requests int
	Per      time.Duration
}

// String formats the rate as ParseRateLimits reads it, e.g. "10/1m0s".
func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Requests, r.Per) }

// RateLimits limits requests per endpoint and client address. IPv6 clients
// are counted by their /64 prefix (RFC 4291 §2.5.4), since one subscriber
// holds a whole /64.
type RateLimits struct {
	// Disabled turns rate limiting off (load tests, test suites).
	Disabled bool
	// Limits maps endpoint names (EndpointAuthorize, …, EndpointDefault) to a rate.
	Limits map[string]Rate
}

// DefaultRateLimits returns the default table: authorize 10/min,
// token 20/min, introspect 30/min, revoke 20/min, everything else 100/min;
// plus password attempts on the login page, 20/min.
func DefaultRateLimits() *RateLimits {
	return &RateLimits{Limits: map[string]Rate{
		EndpointLogin:      {20, time.Minute},
		EndpointAuthorize:  {10, time.Minute},
		EndpointToken:      {20, time.Minute},
		EndpointIntrospect: {30, time.Minute},
		EndpointRevoke:     {20, time.Minute},
		EndpointDefault:    {100, time.Minute},
	}}
}

// For returns the rate for an endpoint, falling back to EndpointDefault.
func (l *RateLimits) For(endpoint string) (Rate, bool) {
	if l == nil || l.Disabled {
		return Rate{}, false
	}
	if r, ok := l.Limits[endpoint]; ok {
		return r, r.Requests > 0
	}
	r, ok := l.Limits[EndpointDefault]
	return r, ok && r.Requests > 0
}

// ParseRateLimits reads "default", "off", or a comma-separated list of
// endpoint=N/period (period: s, m, h, or a Go duration), e.g. "token=60/m,default=200/m".
// Endpoints not listed keep the default table.
func ParseRateLimits(s string) (*RateLimits, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "default":
		return DefaultRateLimits(), nil
	case "off":
		return &RateLimits{Disabled: true}, nil
	}
	l := DefaultRateLimits()
	for _, part := range strings.Split(s, ",") {
		name, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("rate limit %q: want endpoint=N/period", part)
		}
		switch name {
		case EndpointAuthorize, EndpointToken, EndpointIntrospect, EndpointRevoke, EndpointRegister, EndpointLogin, EndpointDefault:
		default:
			return nil, fmt.Errorf("rate limit %q: unknown endpoint %q", part, name)
		}
		n, per, ok := strings.Cut(spec, "/")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 {
			return nil, fmt.Errorf("rate limit %q: want endpoint=N/period", part)
		}
		var d time.Duration
		switch per {
		case "s", "sec", "second":
			d = time.Second
		case "m", "min", "minute":
			d = time.Minute
		case "h", "hour":
			d = time.Hour
		default:
			if d, err = time.ParseDuration(per); err != nil || d <= 0 {
				return nil, fmt.Errorf("rate limit %q: bad period %q", part, per)
			}
		}
		l.Limits[name] = Rate{Requests: count, Per: d}
	}
	return l, nil
}

// LoginBackoff throttles password guessing per account name on the built-in
// login page (OWASP ASVS 4.0 §2.2.1, NIST SP 800-63B §5.2.2), whichever
// addresses the guesses come from: after Free consecutive failures, each
// further failure refuses the name for Base, then twice as long, up to Max.
// Unknown names are throttled alike, so the answer reveals nothing. Failures
// are forgotten after a success or 2×Max without one. While refused, even
// the right password is answered 429 with Retry-After.
type LoginBackoff struct {
	// Disabled turns per-account throttling off.
	Disabled bool
	// Free is how many consecutive failures cost nothing (0: none;
	// DefaultLoginBackoff: 5).
	Free int
	// Base is the first refusal. 0 means 1 s.
	Base time.Duration
	// Max caps the refusal. 0 means 15 min; at most 24 h.
	Max time.Duration
}

// DefaultLoginBackoff returns 5 free failures, then 1 s doubling up to 15 min.
func DefaultLoginBackoff() *LoginBackoff {
	return &LoginBackoff{Free: 5, Base: time.Second, Max: 15 * time.Minute}
}

// String formats the back-off as ParseLoginBackoff reads it.
func (b *LoginBackoff) String() string {
	if b.Disabled {
		return "off"
	}
	return fmt.Sprintf("free=%d,base=%s,max=%s", b.Free, b.Base, b.Max)
}

// ParseLoginBackoff reads "default", "off", or a comma-separated list of
// free=N, base=duration, max=duration (e.g. "free=3,max=1h"); what is not
// listed keeps its default.
func ParseLoginBackoff(s string) (*LoginBackoff, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "default":
		return DefaultLoginBackoff(), nil
	case "off":
		return &LoginBackoff{Disabled: true}, nil
	}
	b := DefaultLoginBackoff()
	for _, part := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		var err error
		switch {
		case !ok:
			err = errors.New("want free=N, base=duration or max=duration")
		case name == "free":
			b.Free, err = strconv.Atoi(v)
		case name == "base":
			b.Base, err = time.ParseDuration(v)
		case name == "max":
			b.Max, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown setting %q", name)
		}
		if err != nil {
			return nil, fmt.Errorf("login back-off %q: %v", part, err)
		}
	}
	if err := b.Check(); err != nil {
		return nil, fmt.Errorf("login back-off %q: %v", s, err)
	}
	return b, nil
}

// Check validates b after defaults are filled in.
func (b *LoginBackoff) Check() error {
	switch {
	case b.Disabled:
		return nil
	case b.Free < 0:
		return errors.New("free must not be negative")
	case b.Base <= 0 || b.Max <= 0:
		return errors.New("base and max must be positive")
	case b.Base > b.Max:
		return errors.New("base must not exceed max")
	case b.Max > 24*time.Hour:
		return errors.New("max must not exceed 24h")
	}
	return nil
}
