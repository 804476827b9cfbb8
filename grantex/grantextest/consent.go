package grantextest

import (
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// decidableLocked says whether a pending request can still be approved or
// denied: 0, or 410 with a message when it expired or was processed.
func (s *Server) decidableLocked(ar *authRequest) (int, string) {
	switch {
	case !s.now().Before(ar.expiresAt):
		return http.StatusGone, "Authorization request has expired"
	case ar.status != "pending":
		return http.StatusGone, "Authorization request has already been processed"
	}
	return 0, ""
}

// decide approves or denies a pending request. It returns the redirect the
// browser should follow ("" when the request had no redirectUri), the JSON
// answer of the consent API, or an error status and message.
func (s *Server) decide(id string, approve bool) (redirect string, resp map[string]any, status int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.authReqs[id]
	if ar == nil {
		return "", nil, http.StatusNotFound, "Authorization request not found"
	}
	if status, msg := s.decidableLocked(ar); status != 0 {
		return "", nil, status, msg
	}
	resp = map[string]any{}
	if ar.hasRedirect {
		resp["redirectUri"] = ar.redirectURI
	}
	if ar.hasState {
		resp["state"] = ar.state
	}
	params := url.Values{}
	if approve {
		s.approveLocked(ar)
		resp["code"] = ar.code
		params.Set("code", ar.code)
	} else {
		ar.status = "denied"
		params.Set("error", "access_denied")
	}
	if ar.hasState {
		params.Set("state", ar.state)
	}
	if ar.hasRedirect {
		redirect = addParams(ar.redirectURI, params)
	}
	return redirect, resp, 0, ""
}

// addParams sets params on raw's query as the page's URLSearchParams.set
// calls do: existing parameters are kept, same-named ones replaced.
func addParams(raw string, params url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// handleConsentInfo is GET /v1/consent/:id (public).
func (s *Server) handleConsentInfo(w http.ResponseWriter, r *http.Request) {
	v, status, msg := s.consentView(r.PathValue("id"))
	if status != 0 {
		s.writeError(w, status, errCode(status), msg)
		return
	}
	var desc any
	if v.AgentDescription != "" {
		desc = v.AgentDescription
	}
	descs := make([]string, len(v.Scopes))
	for i, sc := range v.Scopes {
		descs[i] = sc.Description
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": v.ID, "agentName": v.AgentName, "agentDid": v.AgentDID, "agentDescription": desc,
		"scopes": v.rawScopes, "scopeDescriptions": descs, "expiresAt": isoTime(v.ExpiresAt),
		"status": "pending", "fidoRequired": false,
	})
}

// handleConsentAPI is POST /v1/consent/:id/approve|deny: public, no body, no
// CSRF token, exactly as the real one.
func (s *Server) handleConsentAPI(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, resp, status, msg := s.decide(r.PathValue("id"), approve)
		if status != 0 {
			s.writeError(w, status, errCode(status), msg)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func errCode(status int) string {
	if status == http.StatusGone {
		return "GONE"
	}
	return "NOT_FOUND"
}

type scopeView struct{ Name, Description string }

type consentView struct {
	ID, AgentName, AgentDID, AgentDescription string
	Scopes                                    []scopeView
	rawScopes                                 []string
	ExpiresAt                                 time.Time
	ExpiresIn                                 string
}

func (s *Server) consentView(id string) (consentView, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar := s.authReqs[id]
	if ar == nil {
		return consentView{}, http.StatusNotFound, "Authorization request not found"
	}
	if status, msg := s.decidableLocked(ar); status != 0 {
		return consentView{}, status, msg
	}
	a := s.opts.Agents[ar.agentID]
	v := consentView{
		ID: ar.id, AgentName: a.Name, AgentDID: agentDID(ar.agentID), AgentDescription: a.Description,
		rawScopes: ar.scopes, ExpiresAt: ar.expiresAt,
		ExpiresIn: ar.expiresAt.Sub(s.now()).Round(time.Second).String(),
	}
	for _, sc := range ar.scopes {
		v.Scopes = append(v.Scopes, scopeView{Name: sc, Description: cmpOr(s.opts.ScopeDescriptions[sc], sc)})
	}
	return v, 0, ""
}

// The real page is static HTML plus JS calling the consent API; this one
// renders on the server and uses plain forms, so it works without JS and
// under the same CSP. Relative form actions keep it working when the
// handler is mounted under a prefix.
var pageTmpl = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
{{with .View}}<h1>Authorize {{.AgentName}}</h1>
<p>{{.AgentName}} ({{.AgentDID}}) is requesting access on your behalf.</p>
{{if .AgentDescription}}<p>{{.AgentDescription}}</p>{{end}}
<ul>{{range .Scopes}}<li title="{{.Name}}">{{.Description}}</li>{{end}}</ul>
<p>Expires in {{.ExpiresIn}}</p>
<form method="post" action="consent/deny"><input type="hidden" name="req" value="{{.ID}}"><button type="submit">Deny</button></form>
<form method="post" action="consent/approve"><input type="hidden" name="req" value="{{.ID}}"><button type="submit">Approve</button></form>
{{else}}<h1>{{.Title}}</h1><p>{{.Message}}</p>{{end}}
</body></html>
`))

func (s *Server) renderPage(w http.ResponseWriter, status int, title, msg string, v *consentView) {
	// The consent page's CSP; it replaces the API default.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct {
		Title, Message string
		View           *consentView
	}{title, msg, v})
}

// handleConsentPage is GET /consent?req=areq_…. Where the real page
// shows an error from its JS, this one answers the API's 404 or 410 status.
func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	v, status, msg := s.consentView(r.URL.Query().Get("req"))
	if status != 0 {
		s.renderPage(w, status, "Authorization unavailable", msg, nil)
		return
	}
	s.renderPage(w, http.StatusOK, "Authorize "+v.AgentName, "", &v)
}

// handleConsentForm is the page's Approve/Deny form target. It does what the
// real page's JS does after the consent API call: approve → redirectUri with
// code and state; deny → redirectUri with error=access_denied and state;
// without a redirectUri it only shows a message (the code is lost).
func (s *Server) handleConsentForm(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.renderPage(w, http.StatusBadRequest, "Bad request", "The form could not be read.", nil)
			return
		}
		redirect, _, status, msg := s.decide(r.PostForm.Get("req"), approve)
		switch {
		case status != 0:
			s.renderPage(w, status, "Authorization unavailable", msg, nil)
		case redirect != "":
			http.Redirect(w, r, redirect, http.StatusFound)
		case approve:
			s.renderPage(w, http.StatusOK, "Approved", "Approved. You can close this window.", nil)
		default:
			s.renderPage(w, http.StatusOK, "Denied", "Access denied. You can close this window.", nil)
		}
	}
}
