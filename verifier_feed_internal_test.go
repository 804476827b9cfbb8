package mcpauth

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestFeedResetDropsCache: a feed that answers "reset" (the verifier's
// resume id is outside the server's retention) makes the Verifier drop
// every cached token and resume from the start.
func TestFeedResetDropsCache(t *testing.T) {
	send := make(chan string, 4)
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case msg := <-send:
				io.WriteString(w, msg)
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer feed.Close()
	v, err := NewVerifier(VerifierOptions{Issuer: "https://as.example", Audience: "https://rs.example",
		FeedURL: feed.URL, FeedToken: "op", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := time.Now()
	v.cache.put(tokenDigest("a"), &Grant{TokenID: "a", GrantID: "g", ExpiresAt: now.Add(time.Hour)}, now, v.cache.generation())
	if _, ok := v.cache.get(tokenDigest("a"), now); !ok {
		t.Fatal("token not cached")
	}
	v.feed.mu.Lock()
	v.feed.last = 41 // as if resuming
	v.feed.mu.Unlock()
	send <- "event: reset\ndata: {}\n\nevent: sync\ndata: {}\n\n"
	deadline := time.Now().Add(10 * time.Second)
	for !v.RevocationFeedStatus().Connected {
		if time.Now().After(deadline) {
			t.Fatal("feed never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := v.cache.get(tokenDigest("a"), now); ok {
		t.Error("cached token kept after a reset")
	}
	if id := v.RevocationFeedStatus().LastEventID; id != 0 {
		t.Errorf("last event id %d after reset, want 0", id)
	}
}
