// Package oauth holds the OAuth 2.0 error type shared by every endpoint:
// RFC 6749 §5.2 JSON bodies, §4.1.2.1 redirect errors, and RFC 7591 §3.2.2.
package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error is an OAuth error response. Build one with the constructors; the
// zero value is not useful. Cause is logged, never sent.
type Error struct {
	Code        string
	Description string
	Status      int
	// NoRedirect marks errors that must be shown to the user agent instead of
	// redirected to a redirect_uri that could not be validated (RFC 6749 §4.1.2.1).
	NoRedirect bool
	RetryAfter time.Duration
	// BasicChallenge adds WWW-Authenticate: Basic to a 401 (RFC 6749 §5.2).
	BasicChallenge bool
	Cause          error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// LogValue keeps the cause in logs.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("error", e.Code), slog.String("description", e.Description), slog.Int("status", e.Status)}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
	}
	return slog.GroupValue(attrs...)
}

// WithCause returns a copy of e carrying cause for the logs.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

func newErr(code string, status int, format string, args ...any) *Error {
	desc := format
	if len(args) > 0 {
		desc = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Description: desc, Status: status}
}

// Constructors for the RFC 6749, 6750, 7009, 7591 and 8707 error codes.
func InvalidRequest(format string, args ...any) *Error {
	return newErr("invalid_request", http.StatusBadRequest, format, args...)
}
func InvalidClient(format string, args ...any) *Error {
	return newErr("invalid_client", http.StatusUnauthorized, format, args...)
}
func InvalidGrant(format string, args ...any) *Error {
	return newErr("invalid_grant", http.StatusBadRequest, format, args...)
}
func UnauthorizedClient(format string, args ...any) *Error {
	return newErr("unauthorized_client", http.StatusBadRequest, format, args...)
}
func UnsupportedGrantType(format string, args ...any) *Error {
	return newErr("unsupported_grant_type", http.StatusBadRequest, format, args...)
}
func UnsupportedResponseType(format string, args ...any) *Error {
	return newErr("unsupported_response_type", http.StatusBadRequest, format, args...)
}
func UnsupportedTokenType(format string, args ...any) *Error {
	return newErr("unsupported_token_type", http.StatusBadRequest, format, args...)
}
func InvalidScope(format string, args ...any) *Error {
	return newErr("invalid_scope", http.StatusBadRequest, format, args...)
}
func InvalidTarget(format string, args ...any) *Error {
	return newErr("invalid_target", http.StatusBadRequest, format, args...)
}
func AccessDenied(format string, args ...any) *Error {
	return newErr("access_denied", http.StatusForbidden, format, args...)
}
func InvalidClientMetadata(format string, args ...any) *Error {
	return newErr("invalid_client_metadata", http.StatusBadRequest, format, args...)
}
func InvalidRedirectURI(format string, args ...any) *Error {
	return newErr("invalid_redirect_uri", http.StatusBadRequest, format, args...)
}
func ServerError(format string, args ...any) *Error {
	return newErr("server_error", http.StatusInternalServerError, format, args...)
}
func TemporarilyUnavailable(retryAfter time.Duration, format string, args ...any) *Error {
	e := newErr("temporarily_unavailable", http.StatusServiceUnavailable, format, args...)
	e.RetryAfter = retryAfter
	return e
}
func TooManyRequests(retryAfter time.Duration) *Error {
	e := newErr("temporarily_unavailable", http.StatusTooManyRequests, "too many requests; retry later")
	e.RetryAfter = retryAfter
	return e
}
func MethodNotAllowed(allow string) *Error {
	return newErr("invalid_request", http.StatusMethodNotAllowed, "method not allowed; use %s", allow)
}

// As converts any error to *Error; anything that is not one becomes a
// server_error whose cause is kept for the logs only.
func As(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return ServerError("the server could not complete the request").WithCause(err)
}

// Write sends err as an RFC 6749 §5.2 JSON body with no-store caching.
func Write(w http.ResponseWriter, err error) {
	oe := As(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((oe.RetryAfter+time.Second-1)/time.Second)))
	}
	if oe.Status == http.StatusUnauthorized && oe.BasicChallenge {
		h.Set("WWW-Authenticate", `Basic realm="oauth", charset="UTF-8"`)
	}
	w.WriteHeader(oe.Status)
	body := map[string]string{"error": oe.Code}
	if oe.Description != "" {
		body["error_description"] = oe.Description
	}
	_ = json.NewEncoder(w).Encode(body)
}
