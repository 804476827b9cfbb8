#!/usr/bin/env bash
# Protect an MCP server written in TypeScript with mcp-auth-server, run as a
# gateway in front of it, and a second mcp-auth-server as the authorization
# server. See README.md beside this script.
#
#   bash examples/gateway/run.sh        (from the repository root; Ctrl-C stops all three)
#
# Needs Go and Node 22 with the TypeScript MCP SDK: npm ci --prefix interop.
set -euo pipefail
cd "$(dirname "$0")/../.."

AS_ADDR=${AS_ADDR:-127.0.0.1:9000}        # the authorization server
GW_ADDR=${GW_ADDR:-127.0.0.1:8080}        # the gateway: what MCP clients connect to
UPSTREAM_PORT=${UPSTREAM_PORT:-3000}      # the TypeScript MCP server, loopback only
NODE=${NODE:-interop/node_modules/.bin/node}
PASSWORD=${PASSWORD:-gateway-demo-password}

if [[ ! -x $NODE ]]; then
  echo "no Node 22 at $NODE: run npm ci --prefix interop (or set NODE)" >&2
  exit 1
fi
bin=$(mktemp -d)/mcp-auth-server
go build -o "$bin" ./cmd/mcp-auth-server
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

# 1. Any MCP server speaking streamable HTTP; it knows nothing of OAuth and
#    reads the caller from X-Mcp-Auth-Subject. It listens on 127.0.0.1 only.
PORT=$UPSTREAM_PORT "$NODE" interop/ts_upstream_server.mjs &
pids+=($!)

# 2. The authorization server: issues tokens for the gateway's URL too.
"$bin" -addr "$AS_ADDR" -store memory: -user "alice:$PASSWORD" -demo-mcp=false \
  -resource "http://$GW_ADDR/mcp" &
pids+=($!)

# 3. The gateway: verifies the authorization server's tokens, proxies /mcp.
"$bin" -addr "$GW_ADDR" -remote-issuer "http://$AS_ADDR" \
  -upstream "http://127.0.0.1:$UPSTREAM_PORT/mcp" &
pids+=($!)

echo
echo "Connect an MCP client to http://$GW_ADDR/mcp and sign in as alice / $PASSWORD;"
echo "then call the whoami tool: the TypeScript server reports the identity the gateway sent."
wait -n
