package mcpauth_test

import (
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store/storetest"
)

// newMemoryStores hands the conformance suite fresh in-memory stores.
func newMemoryStores(testing.TB) storetest.Stores {
	clock := new(storetest.Clock)
	return storetest.Stores{
		Clients: mcpauth.NewMemoryClientStore(),
		Grants:  mcpauth.NewMemoryGrantStore(clock.Now),
		Keys:    mcpauth.NewMemoryKeyStore(),
		Now:     clock.Now,
		Advance: clock.Advance,
	}
}

func TestMemoryStores(t *testing.T) { storetest.Run(t, newMemoryStores) }

func BenchmarkMemoryStores(b *testing.B) { storetest.RunBenchmarks(b, newMemoryStores) }
