package mcpauth

// This file serves the audit stream: the server's audit events (see
// EventType) as Server-Sent Events (WHATWG HTML §9.2), for operators and
// SIEM forwarders holding an audit:read token or the operator secret.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// AuditReadScope is the scope a bearer token needs to read the audit stream.
const AuditReadScope = "audit:read"

// AuditStreamPath is the path below the issuer where the standalone server
// serves [Server.AuditStreamHandler], advertised as the "audit_stream"
// extension (see [Server.AddExtension]).
const AuditStreamPath = "/events/stream"

// Defaults for [AuditStreamOptions].
const (
	defaultAuditHeartbeat = 15 * time.Second
	defaultAuditBuffer    = 256
)

// AuditStreamOptions configure [Server.AuditStreamHandler].
type AuditStreamOptions struct {
	// Verifier checks bearer tokens, which must carry [AuditReadScope]. Nil
	// means a Verifier that checks tokens in process against this Server,
	// with the issuer as the audience: tokens requested without a resource
	// indicator (or with resource set to the issuer).
	Verifier *Verifier
	// OperatorSecret, when not empty, is accepted in place of a token
	// (Authorization: Bearer <secret>), compared in constant time. Use a
	// long random value.
	OperatorSecret string
	// Heartbeat is how often a comment line is sent to keep idle
	// connections (and the proxies in between) open. Default 15 s.
	Heartbeat time.Duration
	// Buffer is how many events a subscriber may fall behind before it is
	// dropped: its response ends and the server never waits for it.
	// Default 256.
	Buffer int
	// WriteTimeout bounds each write to a subscriber; one that does not
	// take its bytes in time is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// Logger receives connects, drops and refusals. Default the Server's logger.
	Logger *slog.Logger
}

// AuditStreamHandler returns the audit stream: GET answers 200
// text/event-stream and then, until the client goes away, one SSE message
// per audit event:
//
//	id: <event id>
//	event: <event type, e.g. token.issued>
//	data: <the Event as JSON>
//
// with a comment line (": heartbeat") every Heartbeat. Events carry ids,
// subjects and scopes, never a token, code or secret. Only events that
// happen while a client is connected are sent; Last-Event-ID is ignored.
//
// The caller must present Authorization: Bearer with either an access
// token carrying [AuditReadScope] (401 invalid_token when it is not valid,
// 403 insufficient_scope when it lacks the scope) or the operator secret; no
// credentials give 401 with a Bearer challenge. A subscriber that falls
// Buffer events behind is dropped: the server closes its channel and the
// response ends, so a slow reader never slows the server down.
func (s *Server) AuditStreamHandler(opts AuditStreamOptions) http.Handler {
	h := &auditStream{s: s, opts: opts, log: opts.Logger}
	if h.opts.Heartbeat <= 0 {
		h.opts.Heartbeat = defaultAuditHeartbeat
	}
	if h.opts.Buffer <= 0 {
		h.opts.Buffer = defaultAuditBuffer
	}
	if h.opts.WriteTimeout <= 0 {
		h.opts.WriteTimeout = 10 * time.Second
	}
	if h.log == nil {
		h.log = s.log
	}
	if opts.OperatorSecret != "" {
		sum := sha256.Sum256([]byte(opts.OperatorSecret))
		h.secret = sum[:]
	}
	return h
}

type auditStream struct {
	s      *Server
	opts   AuditStreamOptions
	log    *slog.Logger
	secret []byte // SHA-256 of the operator secret, nil when none

	verifierOnce sync.Once
	verifier     *Verifier
	verifierErr  error
}

func (h *auditStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		oauth.Write(w, oauth.MethodNotAllowed("GET"))
		return
	}
	who, ok := h.authorize(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	events, cancel := h.s.SubscribeEvents(h.opts.Buffer)
	defer cancel()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The subscription exists before the first byte, so a client that has
	// read the opening comment misses no later event.
	if !h.write(w, rc, ": mcpauth audit stream\nretry: 5000\n\n") {
		return
	}
	h.log.InfoContext(r.Context(), "mcpauth: audit stream connected", "by", who)

	tick := time.NewTicker(h.opts.Heartbeat)
	defer tick.Stop()
	var buf strings.Builder
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if !h.write(w, rc, ": heartbeat\n\n") {
				return
			}
		case e, ok := <-events:
			if !ok {
				// The bus dropped us for falling behind: end the response so
				// the client reconnects and knows it missed events.
				h.log.WarnContext(r.Context(), "mcpauth: audit stream subscriber dropped: too slow", "by", who)
				h.write(w, rc, ": dropped: too slow\n\n")
				return
			}
			buf.Reset()
			if err := formatEvent(&buf, e); err != nil {
				h.log.ErrorContext(r.Context(), "mcpauth: audit event not encodable", "err", err)
				continue
			}
			if !h.write(w, rc, buf.String()) {
				return
			}
		}
	}
}

// write sends one chunk and flushes it within WriteTimeout.
func (h *auditStream) write(w http.ResponseWriter, rc *http.ResponseController, chunk string) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout)) // unsupported writers just block
	// Clear it afterwards: an idle stream must not hit it (HTTP/2 resets a
	// stream when its deadline passes, write or no write).
	defer rc.SetWriteDeadline(time.Time{})
	if _, err := w.Write([]byte(chunk)); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// formatEvent writes e as one SSE message. Ids and types never hold line
// breaks, and compact JSON has none, so each field is a single line.
func formatEvent(b *strings.Builder, e Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b.WriteString("id: ")
	b.WriteString(oneLine(e.ID))
	b.WriteString("\nevent: ")
	b.WriteString(oneLine(string(e.Type)))
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return nil
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// authorize checks the caller's credentials and answers the refusal
// itself. who describes the caller for logs (never the credential).
func (h *auditStream) authorize(w http.ResponseWriter, r *http.Request) (who string, ok bool) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		h.refuse(w, r, http.StatusUnauthorized, "", "missing bearer token")
		return "", false
	}
	if len(values) > 1 {
		h.refuse(w, r, http.StatusBadRequest, "invalid_request", "more than one Authorization header")
		return "", false
	}
	token, err := parseBearer(values[0])
	switch {
	case errors.Is(err, errNotBearer):
		h.refuse(w, r, http.StatusUnauthorized, "", "missing bearer token: the Bearer scheme is required")
		return "", false
	case err != nil:
		h.refuse(w, r, http.StatusBadRequest, "invalid_request", "malformed Authorization header")
		return "", false
	}
	if h.secret != nil {
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], h.secret) == 1 {
			return "operator", true
		}
	}
	v, err := h.getVerifier()
	if err != nil {
		h.log.ErrorContext(r.Context(), "mcpauth: audit stream cannot verify tokens", "err", err)
		oauth.Write(w, oauth.ServerError("tokens cannot be verified"))
		return "", false
	}
	g, err := v.Verify(r.Context(), token)
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			h.refuse(w, r, http.StatusUnauthorized, "invalid_token", te.Description)
			return "", false
		}
		if r.Context().Err() == nil {
			h.log.WarnContext(r.Context(), "mcpauth: audit stream cannot verify tokens", "err", err)
		}
		oauth.Write(w, oauth.TemporarilyUnavailable(5*time.Second, "access tokens cannot be verified right now; retry later"))
		return "", false
	}
	if !g.Allows(AuditReadScope) {
		h.refuse(w, r, http.StatusForbidden, "insufficient_scope", "the token lacks the "+AuditReadScope+" scope")
		return "", false
	}
	return "client " + g.ClientID + " for " + g.Subject, true
}

func (h *auditStream) getVerifier() (*Verifier, error) {
	if h.opts.Verifier != nil {
		return h.opts.Verifier, nil
	}
	h.verifierOnce.Do(func() {
		h.verifier, h.verifierErr = NewVerifier(VerifierOptions{Local: h.s, Audience: h.s.Issuer(), Logger: h.log})
	})
	return h.verifier, h.verifierErr
}

// refuse answers an RFC 6750 §3 challenge naming the scope the stream needs.
func (h *auditStream) refuse(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	h.log.DebugContext(r.Context(), "mcpauth: audit stream refused", "status", status, "error", code, "description", desc)
	w.Header().Set("WWW-Authenticate", bearerChallenge(code, desc, AuditReadScope, ""))
	bodyCode := code
	if bodyCode == "" {
		bodyCode = "invalid_token"
	}
	oauth.Write(w, &oauth.Error{Code: bodyCode, Description: desc, Status: status})
}
