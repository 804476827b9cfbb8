package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		header     string
		headerWant string
	}{
		{"invalid_request", InvalidRequest("missing %s", "code"), 400, "invalid_request", "", ""},
		{"basic challenge", func() error { e := InvalidClient("bad"); e.BasicChallenge = true; return e }(), 401, "invalid_client", "WWW-Authenticate", `Basic realm="oauth", charset="UTF-8"`},
		{"retry after", TemporarilyUnavailable(1500*time.Millisecond, "down"), 503, "temporarily_unavailable", "Retry-After", "2"},
		{"too many", TooManyRequests(30 * time.Second), 429, "temporarily_unavailable", "Retry-After", "30"},
		{"plain error hides its cause", errors.New("db password is hunter2"), 500, "server_error", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, tc.err)
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || body["error"] != tc.code {
				t.Fatalf("got (%d, %q), want (%d, %q)", rec.Code, body["error"], tc.status, tc.code)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("headers: %v", rec.Header())
			}
			if tc.header != "" && rec.Header().Get(tc.header) != tc.headerWant {
				t.Fatalf("%s: %q, want %q", tc.header, rec.Header().Get(tc.header), tc.headerWant)
			}
			if body["error_description"] == "db password is hunter2" {
				t.Fatal("an internal cause reached the wire")
			}
		})
	}
	if rec := httptest.NewRecorder(); true {
		Write(rec, InvalidClient("x"))
		if rec.Header().Get("WWW-Authenticate") != "" || rec.Code != http.StatusUnauthorized {
			t.Fatal("no Basic challenge unless Basic was used")
		}
	}
}
