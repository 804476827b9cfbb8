package mcpauth
import (
 _ "github.com/go-jose/go-jose/v4"
 _ "golang.org/x/time/rate"
 _ "github.com/google/uuid"
 _ "golang.org/x/crypto/argon2"
 _ "golang.org/x/oauth2"
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "github.com/modelcontextprotocol/go-sdk/mcp"
 _ "github.com/modelcontextprotocol/go-sdk/auth"
)
