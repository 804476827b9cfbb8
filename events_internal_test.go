package mcpauth

import (
	"context"
	"testing"
)

// TestEmitWithoutListenersAllocatesNothing: with no OnEvent hook and no
// subscriber, emitting an event makes no event id (a random UUID) and
// allocates nothing; with a subscriber the event arrives with an id.
func TestEmitWithoutListenersAllocatesNothing(t *testing.T) {
	s, err := NewServer(Config{Issuer: "http://127.0.0.1:8080", Scopes: []string{"read"}, Authenticator: testAutoApprove("alice")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	e := Event{Type: EventTokenRefreshed, ClientID: "c", Subject: "alice", GrantID: "g"}
	if n := testing.AllocsPerRun(100, func() { s.emit(ctx, e) }); n != 0 {
		t.Errorf("emit with nobody listening: %v allocations, want 0", n)
	}
	ch, cancel := s.SubscribeEvents(1)
	defer cancel()
	s.emit(ctx, e)
	if got := <-ch; got.ID == "" || got.Time.IsZero() || got.GrantID != "g" {
		t.Errorf("subscribed event = %+v, want an id, a time and the fields", got)
	}
}
