package storetest

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/store"
)

// signingKey returns a key fixture; ExpiresAt stays zero as for a new key.
func signingKey(kid string, created time.Time) store.SigningKey {
	d := base64.RawURLEncoding.EncodeToString(blob("key " + kid))
	return store.SigningKey{
		ID:         kid,
		Algorithm:  "ES256",
		PrivateJWK: []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","d":"` + d + `"}`),
		CreatedAt:  created,
		SignFrom:   created.Add(10 * time.Minute),
	}
}

// listKeys lists the keys and fails on error.
func (e env) listKeys(t *testing.T) []store.SigningKey {
	t.Helper()
	keys, err := e.Keys.ListKeys(e.ctx)
	wantErr(t, "ListKeys", err, nil)
	return keys
}

// keyIDs returns the IDs of keys in order.
func keyIDs(keys []store.SigningKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// wantKeys fails unless keys are exactly want, in order.
func wantKeys(t *testing.T, op string, want, keys []store.SigningKey) {
	t.Helper()
	if !slices.Equal(keyIDs(keys), keyIDs(want)) {
		t.Fatalf("%s: key ids %q, want %q", op, keyIDs(keys), keyIDs(want))
	}
	for i := range want {
		wantRecord(t, op, &want[i], &keys[i])
	}
}

var keyTests = []testCase{
	{"Empty", func(t *testing.T, e env) {
		if keys := e.listKeys(t); len(keys) != 0 {
			t.Errorf("ListKeys on an empty store returned %d keys", len(keys))
		}
	}},
	{"AddList", func(t *testing.T, e env) {
		now := e.now()
		oldest, middle, newest := signingKey(id("kid"), now.Add(-48*time.Hour)),
			signingKey(id("kid"), now.Add(-24*time.Hour)), signingKey(id("kid"), now)
		// Added out of order: the list is sorted by CreatedAt, not insertion.
		for _, k := range []store.SigningKey{middle, newest, oldest} {
			wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, k), nil)
		}
		wantKeys(t, "ListKeys", []store.SigningKey{newest, middle, oldest}, e.listKeys(t))
		k := signingKey("x", now)
		allSet(t, &k, "ExpiresAt")
	}},
	{"AddConflict", func(t *testing.T, e env) {
		now := e.now()
		k := signingKey(id("kid"), now)
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, k), nil)
		dup := signingKey(k.ID, now.Add(time.Hour))
		dup.Algorithm, dup.PrivateJWK = "RS256", []byte(`{"kty":"RSA"}`)
		wantErr(t, "AddKey(same id)", e.Keys.AddKey(e.ctx, dup), store.ErrConflict)
		wantKeys(t, "ListKeys after a conflicting add", []store.SigningKey{k}, e.listKeys(t))
	}},
	{"Retire", func(t *testing.T, e env) {
		now := e.now()
		k, other := signingKey(id("kid"), now), signingKey(id("kid"), now.Add(-time.Hour))
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, k), nil)
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, other), nil)
		for _, step := range []struct {
			name     string
			at, want time.Time
		}{
			{"sets", now.Add(24 * time.Hour), now.Add(24 * time.Hour)},
			{"never later", now.Add(48 * time.Hour), now.Add(24 * time.Hour)},
			{"earlier", now.Add(time.Hour), now.Add(time.Hour)},
		} {
			wantErr(t, "RetireKey ("+step.name+")", e.Keys.RetireKey(e.ctx, k.ID, step.at), nil)
			k.ExpiresAt = step.want
			wantKeys(t, "ListKeys after RetireKey ("+step.name+")", []store.SigningKey{k, other}, e.listKeys(t))
		}
	}},
	{"Delete", func(t *testing.T, e env) {
		now := e.now()
		k, other := signingKey(id("kid"), now), signingKey(id("kid"), now.Add(-time.Hour))
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, k), nil)
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, other), nil)
		wantErr(t, "DeleteKey", e.Keys.DeleteKey(e.ctx, k.ID), nil)
		wantKeys(t, "ListKeys after DeleteKey", []store.SigningKey{other}, e.listKeys(t))
		// A deleted id is free again.
		wantErr(t, "AddKey(deleted id)", e.Keys.AddKey(e.ctx, k), nil)
		wantKeys(t, "ListKeys after re-adding", []store.SigningKey{k, other}, e.listKeys(t))
	}},
	{"Copies", func(t *testing.T, e env) {
		now := e.now()
		kid := id("kid")
		in := signingKey(kid, now)
		wantErr(t, "AddKey", e.Keys.AddKey(e.ctx, in), nil)
		in.PrivateJWK[0] = 'X'
		want := []store.SigningKey{signingKey(kid, now)}
		keys := e.listKeys(t)
		wantKeys(t, "ListKeys after mutating the added value", want, keys)
		keys[0].PrivateJWK[0] = 'X'
		wantKeys(t, "ListKeys after mutating a returned value", want, e.listKeys(t))
	}},
}
