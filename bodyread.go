package mcpauth

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// boundBodyRead gives r's body until d from now to arrive, by setting the
// connection's read deadline, and clears the deadline once the body has
// been read to its end. Clearing matters: once the body is consumed the
// server reads the connection in the background, and a deadline expiring
// there would cancel the request's context while the handler still works.
// Requests without a body, d <= 0 and writers that cannot set deadlines
// (httptest recorders, wrappers without Unwrap) are left alone.
func boundBodyRead(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody clears the read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
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
