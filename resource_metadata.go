package mcpauth

// This file implements OAuth 2.0 Protected Resource Metadata for the MCP
// server. See https://www.rfc-editor.org/rfc/rfc9728.html.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/internal/oauth"
)

// ProtectedResourceMetadataWellKnown is the RFC 9728 §3 well-known URI suffix.
const ProtectedResourceMetadataWellKnown = "/.well-known/oauth-protected-resource"

// ProtectedResource describes an MCP server for its RFC 9728 §2 metadata.
//
// Not supported: signed metadata (§2.2), DPoP and mTLS-bound tokens.
type ProtectedResource struct {
	// Resource (resource) is the MCP server's canonical URL, exactly as
	// clients connect to it and as tokens carry it in aud, e.g.
	// https://mcp.example.com/mcp (RFC 9728 §3.3: clients compare it byte
	// for byte). Required.
	Resource string
	// AuthorizationServers (authorization_servers) are the issuer
	// identifiers of the authorization servers clients may use (RFC 8414).
	// The MCP authorization spec requires at least one.
	AuthorizationServers []string
	// ScopesSupported (scopes_supported) are the scopes clients may request
	// for this resource. Recommended. offline_access is dropped: it is
	// asked of the authorization server, not of a resource.
	ScopesSupported []string
	// ResourceName (resource_name) is a human-readable name. Recommended.
	ResourceName string
	// ResourceDocumentation (resource_documentation) is a URL of developer documentation.
	ResourceDocumentation string
	// ResourcePolicyURI (resource_policy_uri) is a URL of the data-use policy.
	ResourcePolicyURI string
	// ResourceTOSURI (resource_tos_uri) is a URL of the terms of service.
	ResourceTOSURI string
	// MaxAge is the Cache-Control max-age of the document. Default 5 min;
	// negative sends no-store.
	MaxAge time.Duration
}

// protectedResourceDoc is the RFC 9728 §2 JSON document.
type protectedResourceDoc struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
	ResourcePolicyURI      string   `json:"resource_policy_uri,omitempty"`
	ResourceTOSURI         string   `json:"resource_tos_uri,omitempty"`
}

// ProtectedResourceMetadataHandler serves the RFC 9728 §3.2 metadata
// document of pr: GET and HEAD give 200 application/json with a short
// public Cache-Control; OPTIONS answers a CORS preflight (the document is
// public, RFC 9728 §3.1, so any origin may read it); other methods give
// 405 with Allow. bearer_methods_supported is ["header"]: tokens are only
// accepted in the Authorization header.
//
// Mount it at [ProtectedResourceMetadataPath](pr.Resource), which is where
// [RequireMCPAuth]'s challenges point by default. It panics if pr.Resource
// is not an absolute http(s) URL without a fragment.
func ProtectedResourceMetadataHandler(pr ProtectedResource) http.Handler {
	if err := checkResourceURL(pr.Resource); err != nil {
		panic(err)
	}
	doc := protectedResourceDoc{
		Resource:               pr.Resource,
		AuthorizationServers:   pr.AuthorizationServers,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           pr.ResourceName,
		ResourceDocumentation:  pr.ResourceDocumentation,
		ResourcePolicyURI:      pr.ResourcePolicyURI,
		ResourceTOSURI:         pr.ResourceTOSURI,
	}
	for _, s := range pr.ScopesSupported {
		if s != "offline_access" {
			doc.ScopesSupported = append(doc.ScopesSupported, s)
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	body = append(body, '\n')
	cacheControl := "no-store"
	if pr.MaxAge >= 0 {
		age := pr.MaxAge
		if age == 0 {
			age = 5 * time.Minute
		}
		cacheControl = "public, max-age=" + strconv.Itoa(int(age/time.Second))
	}
	contentLength := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", contentLength)
			h.Set("Cache-Control", cacheControl)
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				_, _ = w.Write(body)
			}
		case http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			oauth.Write(w, oauth.MethodNotAllowed("GET"))
		}
	})
}

func checkResourceURL(resource string) error {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("mcpauth: resource %q is not an absolute http(s) URL", resource)
	}
	if u.Fragment != "" || strings.Contains(resource, "#") {
		return fmt.Errorf("mcpauth: resource %q has a fragment (RFC 8707 §2)", resource)
	}
	return nil
}

// ProtectedResourceMetadataPath returns the path at which the metadata of
// resource is served (RFC 9728 §3.1): the well-known suffix is inserted
// between the host and the resource's path, so https://host/mcp gives
// /.well-known/oauth-protected-resource/mcp and https://host (or
// https://host/) gives /.well-known/oauth-protected-resource. A query is
// kept. MCP clients try this path-based form when the challenge carries no
// resource_metadata (MCP 2025-11-25 §Protected Resource Metadata
// Discovery Requirements).
func ProtectedResourceMetadataPath(resource string) (string, error) {
	if err := checkResourceURL(resource); err != nil {
		return "", err
	}
	u, _ := url.Parse(resource)
	p := ProtectedResourceMetadataWellKnown
	if path := u.EscapedPath(); path != "/" {
		p += path
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p, nil
}

// ProtectedResourceMetadataURL returns the absolute metadata URL of
// resource, for the resource_metadata challenge parameter (RFC 9728 §5.1):
// https://host/mcp gives https://host/.well-known/oauth-protected-resource/mcp.
func ProtectedResourceMetadataURL(resource string) (string, error) {
	p, err := ProtectedResourceMetadataPath(resource)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(resource)
	return u.Scheme + "://" + u.Host + p, nil
}
