// Package ui renders the sign-in, consent and error pages: html/template,
// embedded assets, no external fetches, strict security headers.
package ui

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mcpauth/mcpauth/internal/display"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed style.css
var StyleCSS []byte

var pages = template.Must(template.New("").Funcs(template.FuncMap{"pageHead": pageHead}).ParseFS(templateFS, "templates/*.html"))

// head is what the shared layout needs: a title and the brand.
type head struct {
	Title string
	Brand
}

func pageHead(title string, b Brand) head { return head{Title: title, Brand: b} }

// Brand is the host's branding, from Config.ConsentUI.
type Brand struct {
	AppName string
	// AppLogo was validated by the server (https, or a data: image).
	AppLogo    template.URL
	PrivacyURL string
	TermsURL   string
	// AssetsURL is the absolute path of the stylesheet.
	AssetsURL string
}

// Host is a host name as the pages show it: ASCII (punycode), with a
// warning when it mixes scripts.
type Host = display.Host

// Login is the data of the sign-in page.
type Login struct {
	Brand
	Action     string
	RequestID  string
	CSRF       string
	Username   string
	Error      string
	ClientName string
	// Unverified marks a client the operator did not configure.
	Unverified bool
	// Passwords shows the username and password form.
	Passwords bool
	// Providers are the "Continue with …" links to upstream sign-in.
	Providers []Provider
}

// Provider is an upstream sign-in link on the login page.
type Provider struct {
	Name string
	URL  string
}

// Scope is one requested scope with its description.
type Scope struct {
	Name        string
	Description string
}

// Consent is the data of the consent page.
type Consent struct {
	Brand
	Action     string
	RequestID  string
	CSRF       string
	ClientName string
	ClientURI  string
	// ClientURIHost is the host of ClientURI, shown as the link's text.
	ClientURIHost Host
	// ClientIDHost is the host serving a client ID metadata document client's
	// metadata (its client_id URL): who vouches for the name.
	ClientIDHost Host
	// Unverified marks a client the operator did not configure: its name
	// and links are its own claims.
	Unverified   bool
	RedirectHost Host
	RedirectURI  string
	Scopes       []Scope
	Resource     string
	UserName     string
	// LoopbackOnly warns that the client's redirect stays on this device.
	LoopbackOnly bool
	// SignOutAction, when set, is where "Not you? Sign out" posts (req and
	// csrf as for the decision).
	SignOutAction string
}

// Error is the data of the error page.
type Error struct {
	Brand
	Title   string
	Message string
	Code    string
	// RedirectHost, when set, is where the application asked for the
	// answer: named so the user knows who sent them, never linked.
	RedirectHost Host
	// RetryURL, when set, offers to go back to the sign-in page (after an
	// upstream sign-in failed, to choose another account or provider).
	RetryURL string
}

// Render writes the named template with the page security headers. Extra
// form-action sources allow a form submission to end in a redirect to the
// client (browsers apply form-action to redirects).
func Render(w http.ResponseWriter, status int, name string, data any, formActions ...string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		slog.Error("mcpauth: rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SetPageHeaders(w, formActions...)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// SetPageHeaders sets the headers every HTML page carries.
func SetPageHeaders(w http.ResponseWriter, formActions ...string) {
	h := w.Header()
	actions := "'self'"
	for _, a := range formActions {
		if a != "" && !strings.ContainsAny(a, " ;,'") {
			actions += " " + a
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action "+actions+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}
