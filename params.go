package mcpauth

// This file reads OAuth request parameters (RFC 6749 §3.1, §3.2).

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// singleValued are the parameters RFC 6749 §3.1 forbids repeating.
var singleValued = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
	"code_challenge_method", "grant_type", "code", "code_verifier", "refresh_token", "token", "token_type_hint",
	"client_secret", "req", "csrf", "decision", "username", "password"}

const formContentType = "application/x-www-form-urlencoded"

// readBody reads a request body into one buffer of its declared length
// (net/http holds a body to its Content-Length); io.ReadAll, which
// grows from 512 bytes, serves bodies of unknown length.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 || declared > maxFormBody {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, declared+1) // +1: room to see EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case len(b) == cap(b):
			rest, err := io.ReadAll(r)
			return append(b, rest...), err
		}
	}
}

// readParams reads OAuth parameters: the query for GET, else the body as
// application/x-www-form-urlencoded or, when allowJSON, an application/json
// object (which some clients send). Bodies are size-limited.
func readParams(w http.ResponseWriter, r *http.Request, allowJSON bool) (url.Values, error) {
	var v url.Values
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		var err error
		if v, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, oauth.InvalidRequest("the query string is malformed")
		}
	} else {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		body, err := readBody(http.MaxBytesReader(w, r.Body, maxFormBody), r.ContentLength)
		if oe := bodyTimeout(err); oe != nil {
			return nil, oe
		}
		if err != nil {
			return nil, oauth.InvalidRequest("the request body is unreadable or larger than %d bytes", maxFormBody)
		}
		switch {
		case mt == formContentType:
			if v, err = url.ParseQuery(string(body)); err != nil {
				return nil, oauth.InvalidRequest("the form body is malformed")
			}
		case mt == "application/json" && allowJSON:
			// encoding/json would silently turn invalid UTF-8 into U+FFFD.
			if !utf8.Valid(body) {
				return nil, oauth.InvalidRequest("the JSON body is not valid UTF-8")
			}
			if v, err = jsonParams(body); err != nil {
				return nil, err
			}
		case mt == "" && len(body) == 0:
			v = url.Values{}
		default:
			want := formContentType
			if allowJSON {
				want += " or application/json"
			}
			return nil, &oauth.Error{Code: "invalid_request", Description: "Content-Type must be " + want, Status: http.StatusUnsupportedMediaType}
		}
	}
	if err := cleanParams(v); err != nil {
		return nil, err
	}
	for _, k := range singleValued {
		if len(v[k]) > 1 {
			// v is returned with the error so /authorize can still redirect it
			// once client_id and redirect_uri are known to be sound.
			return v, oauth.InvalidRequest("parameter %s must not be repeated", k)
		}
	}
	return v, nil
}

// cleanParams refuses names and values that are not valid UTF-8 or contain
// NUL: no OAuth parameter has them (RFC 6749 Appendix A limits most to
// printable ASCII), and a store must never see them (PostgreSQL rejects both
// in text columns).
func cleanParams(v url.Values) error {
	for k, vs := range v {
		if !cleanText(k) {
			return oauth.InvalidRequest("a parameter name is not valid UTF-8 or contains NUL")
		}
		for _, x := range vs {
			if !cleanText(x) {
				return oauth.InvalidRequest("parameter %s is not valid UTF-8 or contains NUL", truncate(k, 64))
			}
		}
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 without NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// jsonParams flattens a JSON object of strings (numbers and booleans are
// accepted as their text; arrays of strings become repeated values).
func jsonParams(body []byte) (url.Values, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, oauth.InvalidRequest("the JSON body must be an object")
	}
	v := url.Values{}
	for k, x := range m {
		switch t := x.(type) {
		case string:
			v.Add(k, t)
		case float64:
			v.Add(k, strconv.FormatFloat(t, 'f', -1, 64))
		case bool:
			v.Add(k, strconv.FormatBool(t))
		case []any:
			for _, e := range t {
				s, ok := e.(string)
				if !ok {
					return nil, oauth.InvalidRequest("parameter %s must be a string or an array of strings", k)
				}
				v.Add(k, s)
			}
		case nil:
		default:
			return nil, oauth.InvalidRequest("parameter %s must be a string", k)
		}
	}
	return v, nil
}
