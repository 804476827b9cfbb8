package mcpauth

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

func TestResourceMetadataHandler(t *testing.T) {
	h := ProtectedResourceMetadataHandler(ProtectedResource{
		Resource:             testAudience,
		AuthorizationServers: []string{"https://auth.example.com"},
		ScopesSupported:      []string{"tools:read", "offline_access", "files"},
		ResourceName:         "Example MCP",
	})
	tests := []struct {
		method     string
		wantStatus int
		wantHeader map[string]string
		wantBody   bool
	}{
		{"GET", 200, map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}, true},
		{"HEAD", 200, map[string]string{"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}, false},
		{"OPTIONS", 204, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS"}, false},
		{"POST", 405, map[string]string{"Allow": "GET, HEAD, OPTIONS"}, false},
		{"PUT", 405, map[string]string{"Allow": "GET, HEAD, OPTIONS"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, "/.well-known/oauth-protected-resource/mcp", nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !tt.wantBody {
				if tt.method != "POST" && tt.method != "PUT" && w.Body.Len() != 0 {
					t.Errorf("body = %q, want none", w.Body)
				}
				return
			}
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"resource":                 testAudience,
				"authorization_servers":    []any{"https://auth.example.com"},
				"scopes_supported":         []any{"tools:read", "files"},
				"bearer_methods_supported": []any{"header"},
				"resource_name":            "Example MCP",
			}
			got, _ := json.Marshal(doc)
			exp, _ := json.Marshal(want)
			if string(got) != string(exp) {
				t.Errorf("document = %s\nwant       %s", got, exp)
			}
		})
	}
}

func TestResourceMetadataCacheControl(t *testing.T) {
	for _, tt := range []struct {
		age  time.Duration
		want string
	}{{0, "public, max-age=300"}, {time.Hour, "public, max-age=3600"}, {-1, "no-store"}} {
		h := ProtectedResourceMetadataHandler(ProtectedResource{Resource: testAudience, MaxAge: tt.age})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if got := w.Header().Get("Cache-Control"); got != tt.want {
			t.Errorf("MaxAge %v: Cache-Control %q, want %q", tt.age, got, tt.want)
		}
	}
}

func TestResourceMetadataPath(t *testing.T) {
	tests := []struct {
		resource, path, url string
	}{
		{"https://mcp.example.com/mcp", "/.well-known/oauth-protected-resource/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"},
		{"https://mcp.example.com", "/.well-known/oauth-protected-resource", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"https://mcp.example.com/", "/.well-known/oauth-protected-resource", "https://mcp.example.com/.well-known/oauth-protected-resource"},
		{"http://127.0.0.1:8080/a/b/mcp", "/.well-known/oauth-protected-resource/a/b/mcp", "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b/mcp"},
		{"https://mcp.example.com/mcp?tenant=1", "/.well-known/oauth-protected-resource/mcp?tenant=1", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=1"},
		{"https://mcp.example.com/a%20b", "/.well-known/oauth-protected-resource/a%20b", "https://mcp.example.com/.well-known/oauth-protected-resource/a%20b"},
		{"https://mcp.example.com/mcp#frag", "", ""},
		{"/mcp", "", ""},
		{"mcp.example.com/mcp", "", ""},
		{"ftp://mcp.example.com/mcp", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		p, err := ProtectedResourceMetadataPath(tt.resource)
		u, err2 := ProtectedResourceMetadataURL(tt.resource)
		if p != tt.path || u != tt.url || (err == nil) != (tt.path != "") || (err2 == nil) != (tt.url != "") {
			t.Errorf("%q: got (%q, %q, %v), want (%q, %q)", tt.resource, p, u, err, tt.path, tt.url)
		}
	}
}

func TestResourceMetadataHandlerPanicsOnBadResource(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a resource with a fragment")
		}
	}()
	ProtectedResourceMetadataHandler(ProtectedResource{Resource: "https://x/mcp#a"})
}
