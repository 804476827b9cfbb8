package mcpauth

// This file bounds how long a request body may take to arrive.

import (
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// boundBodyRead gives r's body until d from now to arrive, by setting the
// connection's read deadline. net/http clears the deadline itself once the
// body has been read to its end (before it starts its background read), so
// a handler that works on after reading its body keeps its context.
// Requests without a body are left alone: their background read is already
// running, and a deadline there would cancel the request. So are d <= 0 and
// writers that cannot set deadlines (httptest recorders, wrappers without
// Unwrap).
func boundBodyRead(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// bodyTimeout is the error for a body that did not arrive within
// Config.BodyReadTimeout (RFC 6749 §5.2 format, HTTP 408), or nil when err
// is another read error.
func bodyTimeout(err error) *oauth.Error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return &oauth.Error{Code: "invalid_request", Description: "the request body did not arrive in time", Status: http.StatusRequestTimeout}
}
