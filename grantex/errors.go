package grantex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrResponseTooLarge reports a success body larger than the client's limit
// (see [WithMaxResponseBytes]; Grantex bodies are small JSON). Grantex answers are a few KiB; anything
// bigger is a misconfigured base URL or a hostile server, never retried.
var ErrResponseTooLarge = errors.New("grantex: response body too large")

// ErrInvalidArgument reports a call refused locally, before any request was
// sent: an empty code, token, jti or grant id (all required by the Grantex API).
var ErrInvalidArgument = errors.New("grantex: invalid argument")

// NetworkError is a request that got no HTTP answer from Grantex (the SDK's
// NetworkError of the Grantex SDKs, plus whether it was sent): a dial,
// TLS, timeout or connection error, or a success body that could not be read.
// It wraps the transport error, so errors.Is(err, context.DeadlineExceeded)
// works.
type NetworkError struct {
	// Op is "METHOD /path".
	Op string
	// Unsent is true only when the request provably never reached Grantex
	// (the connection could not be dialled). When false the server may have
	// processed it: a single-use call has an unknown outcome.
	Unsent bool
	Err    error
}

// Error describes the failure and whether the request was sent.
func (e *NetworkError) Error() string {
	if e.Unsent {
		return fmt.Sprintf("grantex: %s: not sent: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("grantex: %s: %v", e.Op, e.Err)
}

// Unwrap returns the transport error.
func (e *NetworkError) Unwrap() error { return e.Err }

// maxMessageBytes bounds APIError.Message: it ends up in logs, and a server
// could send megabytes of it.
const maxMessageBytes = 1024

// parseError turns a non-2xx answer into an *APIError. It accepts the flat
// body {message, code, requestId} of the Grantex API, the nested commerce
// envelope {error:{code, message}}, Fastify's default {error:"Not Found",
// message} and anything else (non-JSON, empty, truncated), which yields a
// generic message. It never fails: every answer is an error to the caller.
func parseError(status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{StatusCode: status}
	var flat struct {
		Message   json.RawMessage `json:"message"`
		Code      json.RawMessage `json:"code"`
		RequestID json.RawMessage `json:"requestId"`
		Error     json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &flat) == nil {
		e.Message = jsonString(flat.Message)
		e.Code = jsonString(flat.Code)
		e.RequestID = jsonString(flat.RequestID)
		var nested struct {
			Message   json.RawMessage `json:"message"`
			Code      json.RawMessage `json:"code"`
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(flat.Error, &nested) == nil {
			e.Message = cmpOr(jsonString(nested.Message), e.Message)
			e.Code = cmpOr(jsonString(nested.Code), e.Code)
			e.RequestID = cmpOr(jsonString(nested.RequestID), e.RequestID)
		} else if e.Message == "" {
			// Fastify's default body: {"statusCode":404,"error":"Not Found","message":…}.
			e.Message = jsonString(flat.Error)
		}
	}
	if e.RequestID == "" {
		// Grantex sets no such header, but a proxy in front may.
		e.RequestID = h.Get("X-Request-Id")
	}
	if e.Message == "" {
		e.Message = "unexpected response"
		if t := http.StatusText(status); t != "" {
			e.Message = t
		}
	}
	e.Message = truncate(e.Message, maxMessageBytes)
	e.Code = truncate(e.Code, 128)
	e.RequestID = truncate(e.RequestID, 128)
	e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	return e
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). Invalid or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Cap at a day: beyond that the value is nonsense, and the
		// multiplication below must not overflow.
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0
// (the Grantex API documents the statuses per route).
func StatusCode(err error) int {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.StatusCode
	}
	return 0
}

// ErrorCode returns the Grantex error code (e.g. "BAD_REQUEST",
// "POLICY_DENIED") of an *APIError in err's chain, or "".
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Code
	}
	return ""
}

// RetryAfter returns the server's Retry-After of an *APIError in err's
// chain, or 0 (set on 429s).
func RetryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.RetryAfter
	}
	return 0
}

// IsRateLimited reports a 429 from any Grantex limiter (
// RATE_LIMITED on /v1/authorize, RATE_LIMIT_EXCEEDED per plan, or the per-IP
// limiter). An OAuth server maps it to temporarily_unavailable.
func IsRateLimited(err error) bool { return StatusCode(err) == http.StatusTooManyRequests }

// IsNotFound reports a 404: unknown agent, grant or token, or
// auth request.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsRetryable reports whether the same call may succeed later: a 429, 502,
// 503 or 504 answer (the SDK's retry set), or a network failure other than the caller's own
// cancellation. It says nothing about whether it is safe to resend a
// single-use call; see [NetworkError.Unsent] for that.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	switch StatusCode(err) {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	if ne, ok := errors.AsType[*NetworkError](err); ok {
		return !errors.Is(ne, context.Canceled)
	}
	return false
}

// IsOutcomeUnknown reports a network failure after the request may have
// reached Grantex. For ExchangeCode and RefreshToken this means the code or
// refresh token may already be consumed.
func IsOutcomeUnknown(err error) bool {
	ne, ok := errors.AsType[*NetworkError](err)
	return ok && !ne.Unsent
}
