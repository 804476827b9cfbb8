// Package testop runs a real OpenID Connect provider in-process for tests:
// zitadel/oidc's op package with its example storage and login page
// (github.com/zitadel/oidc/v3/example/server). Tests only.
package testop

import (
	"net"
	"net/http/httptest"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// Client credentials registered at the provider.
const (
	ClientID     = "mcpauth"
	ClientSecret = "mcpauth-upstream-secret"
	// Password is every test user's password.
	Password = "verysecure"
)

// User is an account at the provider.
type User struct {
	ID            string
	Username      string
	Email         string
	EmailVerified bool
	First, Last   string
}

// Alice is the default user: a verified e-mail at example.com.
var Alice = User{ID: "alice-id", Username: "alice", Email: "alice@example.com", EmailVerified: true, First: "Alice", Last: "Liddell"}

// OP is a running provider.
type OP struct {
	*httptest.Server
	// Issuer is the provider's issuer URL.
	Issuer string
}

// Start runs a provider on a loopback port that accepts ClientID at
// redirectURIs and signs in users (default Alice). It stops with the test.
func Start(t testing.TB, redirectURIs []string, users ...User) *OP {
	t.Helper()
	return StartHost(t, "127.0.0.1", redirectURIs, users...)
}

// StartHost is Start with the issuer's host name: "localhost" puts the
// provider on another site than a server at 127.0.0.1, as in real life.
func StartHost(t testing.TB, host string, redirectURIs []string, users ...User) *OP {
	t.Helper()
	if len(users) == 0 {
		users = []User{Alice}
	}
	store := userStore{}
	for _, u := range users {
		store[u.ID] = &storage.User{ID: u.ID, Username: u.Username, Password: Password, FirstName: u.First, LastName: u.Last,
			Email: u.Email, EmailVerified: u.EmailVerified}
	}
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	issuer := "http://" + net.JoinHostPort(host, port)
	st := storage.NewStorageWithClients(store, map[string]*storage.Client{
		ClientID: storage.WebClient(ClientID, ClientSecret, redirectURIs...),
	})
	srv.Config.Handler = exampleop.SetupServer(issuer, st, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	return &OP{Server: srv, Issuer: issuer}
}

type userStore map[string]*storage.User

func (s userStore) GetUserByID(id string) *storage.User { return s[id] }
func (s userStore) GetUserByUsername(name string) *storage.User {
	for _, u := range s {
		if u.Username == name {
			return u
		}
	}
	return nil
}
func (s userStore) ExampleClientID() string { return "service" }
