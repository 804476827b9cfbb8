package store_test

import (
	"testing"

	"github.com/mcpauth/mcpauth/store"
	"github.com/mcpauth/mcpauth/store/storetest"
)

// newMemoryStores hands the conformance suite fresh in-memory stores.
func newMemoryStores(testing.TB) storetest.Stores {
	clock := new(storetest.Clock)
	return storetest.Stores{
		Clients: store.NewMemoryClientStore(),
		Grants:  store.NewMemoryGrantStore(clock.Now),
		Keys:    store.NewMemoryKeyStore(),
		Now:     clock.Now,
		Advance: clock.Advance,
	}
}

func TestMemoryStores(t *testing.T) { storetest.Run(t, newMemoryStores) }

func BenchmarkMemoryStores(b *testing.B) { storetest.RunBenchmarks(b, newMemoryStores) }
