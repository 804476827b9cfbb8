package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/limits"
	"github.com/mcpauth/mcpauth/mcpauthtest"
	"github.com/mcpauth/mcpauth/store"
	"github.com/mcpauth/mcpauth/store/sqlite"
)

// The clients every server knows: a public client that runs the code flow
// with PKCE and refreshes, and a confidential resource server that may
// introspect every token.
const (
	publicClient   = "bench"
	redirectURI    = "http://127.0.0.1:9/cb"
	introspector   = "rs"
	introspectorPW = "rs-secret-0123456789"
	scope          = "tools:read offline_access"
)

// Server kinds (-serve).
const (
	serveMCPAuth       = "mcpauth"        // memory stores
	serveMCPAuthSQLite = "mcpauth-sqlite" // store/sqlite in a temporary directory
	serveFosite        = "fosite"         // ory/fosite, HMAC opaque tokens, in-memory storage
)

// serve runs one server on 127.0.0.1:0 until stdin closes (the parent
// ended), printing its base URL on stdout. GET /_cpu answers this
// process's user+system CPU time in microseconds, so the parent measures
// the server's CPU alone.
func serve(kind string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	var h http.Handler
	var cleanup func()
	switch kind {
	case serveMCPAuth, serveMCPAuthSQLite:
		h, cleanup, err = mcpauthServer(base, kind == serveMCPAuthSQLite)
	case serveFosite:
		h, err = fositeServer()
	default:
		err = fmt.Errorf("unknown -serve %q", kind)
	}
	if err != nil {
		return err
	}
	if cleanup != nil {
		defer cleanup()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_cpu", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, cpuMicros())
	})
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		var b [1]byte
		os.Stdin.Read(b[:]) // EOF when the parent exits or closes the pipe
		srv.Close()
	}()
	// LC_PROF=dir: write this server's CPU profile to dir/<kind>.prof.
	if d := os.Getenv("LC_PROF"); d != "" {
		pf, err := os.Create(filepath.Join(d, kind+".prof"))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	fmt.Println(base)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func cpuMicros() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano()/1e3 + ru.Stime.Nano()/1e3
}

// mcpauthServer is mcpauth.NewServer with auto-approval (loopback issuer),
// rate limits off, on memory stores or on store/sqlite (the standalone
// server's default: WAL, synchronous=FULL).
func mcpauthServer(issuer string, onSQLite bool) (http.Handler, func(), error) {
	cfg := mcpauth.Config{
		Issuer: issuer, Scopes: []string{"tools:read"}, Authenticator: mcpauthtest.AutoApprove("alice"),
		RateLimits: &limits.RateLimits{Disabled: true}, Logger: slog.New(slog.DiscardHandler),
		StaticClients: []store.Client{
			{ID: publicClient, ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirectURI}}},
			{ID: introspector, ClientSecret: introspectorPW, ClientMetadata: store.ClientMetadata{RedirectURIs: []string{redirectURI}}},
		},
		Introspectors: []string{introspector},
	}
	cleanup := func() {}
	if onSQLite {
		dir, err := os.MkdirTemp("", "loadcompare-sqlite-")
		if err != nil {
			return nil, nil, err
		}
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		cfg.Clients, cfg.Grants, cfg.Keys = st, st, st
		cleanup = func() { st.Close(); os.RemoveAll(dir) }
	}
	srv, err := mcpauth.NewServer(cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return srv, func() { srv.Close(); cleanup() }, nil
}

// sha256Hasher compares client secrets as mcpauth does (SHA-256 digest,
// constant-time), instead of fosite's default bcrypt, so that neither side
// pays for a password hash on every introspection.
type sha256Hasher struct{}

func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

// fositeServer is ory/fosite composed for the same flows: authorization
// code with PKCE (auto-approved as alice), refresh with rotation and
// introspection, HMAC-SHA256 opaque tokens, fosite's in-memory storage.
func fositeServer() (http.Handler, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	cfg := &fosite.Config{
		AccessTokenLifespan: time.Hour, RefreshTokenLifespan: 30 * 24 * time.Hour, AuthorizeCodeLifespan: 10 * time.Minute,
		GlobalSecret: secret, ClientSecretsHasher: sha256Hasher{}, EnforcePKCE: true,
	}
	store := &fositeStore{MemoryStore: storage.NewMemoryStore()}
	rsSecret, _ := sha256Hasher{}.Hash(context.Background(), []byte(introspectorPW))
	store.Clients[publicClient] = &fosite.DefaultClient{ID: publicClient, Public: true, RedirectURIs: []string{redirectURI},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: []string{"tools:read", "offline_access"}}
	store.Clients[introspector] = &fosite.DefaultClient{ID: introspector, Secret: rsSecret, RedirectURIs: []string{redirectURI},
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"tools:read"}}
	p := compose.Compose(cfg, store, &compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(cfg)},
		compose.OAuth2AuthorizeExplicitFactory, compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory, compose.OAuth2PKCEFactory)

	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.NewAuthorizeRequest(ctx, r)
		if err != nil {
			p.WriteAuthorizeError(ctx, w, ar, err)
			return
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		resp, err := p.NewAuthorizeResponse(ctx, ar, &fosite.DefaultSession{Subject: "alice", Username: "alice"})
		if err != nil {
			p.WriteAuthorizeError(ctx, w, ar, err)
			return
		}
		p.WriteAuthorizeResponse(ctx, w, ar, resp)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := p.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err != nil {
			p.WriteAccessError(ctx, w, ar, err)
			return
		}
		resp, err := p.NewAccessResponse(ctx, ar)
		if err != nil {
			p.WriteAccessError(ctx, w, ar, err)
			return
		}
		p.WriteAccessResponse(ctx, w, ar, resp)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := p.NewIntrospectionRequest(ctx, r, &fosite.DefaultSession{})
		if err != nil {
			p.WriteIntrospectionError(ctx, w, err)
			return
		}
		p.WriteIntrospectionResponse(ctx, w, ir)
	})
	return mux, nil
}
