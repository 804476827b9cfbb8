package mcpauth

import (
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
	// EndpointDefault applies to every endpoint without its own entry.
	EndpointDefault = "default"
)

// Rate is Requests per Per, with a burst of Requests.
type Rate struct {
	Requests int
	Per      time.Duration
}

func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Requests, r.Per) }

// RateLimits limits requests per endpoint and client IP.
type RateLimits struct {
	// Disabled turns rate limiting off (load tests, test suites).
	Disabled bool
	// Limits maps endpoint names (EndpointAuthorize, …, EndpointDefault) to a rate.
	Limits map[string]Rate
}

// DefaultRateLimits returns the original package's table: authorize 10/min,
// token 20/min, introspect 30/min, revoke 20/min, everything else 100/min.
func DefaultRateLimits() *RateLimits {
	return &RateLimits{Limits: map[string]Rate{
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
		case EndpointAuthorize, EndpointToken, EndpointIntrospect, EndpointRevoke, EndpointRegister, EndpointDefault:
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
