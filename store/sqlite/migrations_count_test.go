package sqlite

import (
	"testing"

	"github.com/mcpauth/mcpauth/store/internal/migrate"
)

// numMigrations is how many migrations the package embeds: what a migrated
// database's schema_migrations must hold, whoever adds the next one.
func numMigrations(t *testing.T) int {
	t.Helper()
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}
