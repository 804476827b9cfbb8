package mcpauth_test

import (
	"testing"

	"github.com/mcpauth/mcpauth"
	"github.com/mcpauth/mcpauth/store/storetest"
)

// newMemoryStores hands the conformance suite fresh in-memory stores.
func newMemoryStores(testing.TB) storetest.Stores {
	return storetest.Stores{
		Clients: mcpauth.NewMemoryClientStore(),
		Grants:  mcpauth.NewMemoryGrantStore(nil),
		Keys:    mcpauth.NewMemoryKeyStore(),
	}
}

func TestMemoryStores(t *testing.T) { storetest.Run(t, newMemoryStores) }

func BenchmarkMemoryStores(b *testing.B) { storetest.RunBenchmarks(b, newMemoryStores) }
