// An MCP server written with the TypeScript SDK (streamable HTTP, stateful
// sessions) that knows nothing of OAuth: it is meant to run behind
// `mcp-auth-server -upstream`, which verifies the token and passes the
// grant in X-Mcp-Auth-* headers. Its tools report what arrived, so a test
// can see that the bearer token never does.
//
//   PORT=3000 node ts_upstream_server.mjs     (prints UPSTREAM_URL=…)
//
// It listens on 127.0.0.1 only: the identity headers are trusted because
// nothing but the gateway on this machine can reach the server.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

const MAX_BODY = 1 << 20;
const transports = new Map(); // Mcp-Session-Id → transport
const owners = new Map(); // Mcp-Session-Id → the subject that opened it

// identity is what the gateway said about the caller of this request.
function identity(headers) {
  const h = headers ?? {};
  return {
    subject: h['x-mcp-auth-subject'] ?? null,
    client_id: h['x-mcp-auth-client-id'] ?? null,
    scopes: (h['x-mcp-auth-scopes'] ?? '').split(' ').filter(Boolean),
    grant_id: h['x-mcp-auth-grant-id'] ?? null,
    authorization_received: 'authorization' in h,
    cookie_received: 'cookie' in h,
    // Any other header of the X-Mcp-Auth- namespace, however spelled:
    // a spoofed one that got through would show here.
    other_identity_headers: Object.keys(h).filter((k) => {
      const n = k.toLowerCase().replaceAll('_', '-');
      return n.startsWith('x-mcp-auth-') && !['x-mcp-auth-subject', 'x-mcp-auth-client-id', 'x-mcp-auth-scopes', 'x-mcp-auth-grant-id'].includes(n);
    }),
  };
}

function newServer() {
  const server = new McpServer({ name: 'ts-upstream', version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('whoami', {
    description: 'Report the identity headers the gateway sent, and whether a token or cookie arrived.',
  }, async (extra) => {
    const id = identity(extra.requestInfo?.headers);
    return { content: [{ type: 'text', text: JSON.stringify(id) }] };
  });
  server.registerTool('echo', {
    description: 'Echo a message, after a progress notification on the response stream.',
    inputSchema: { message: z.string() },
  }, async ({ message }, extra) => {
    await server.sendLoggingMessage({ level: 'info', data: `echoing for ${identity(extra.requestInfo?.headers).subject}` }, extra.sessionId);
    return { content: [{ type: 'text', text: message }] };
  });
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function jsonRpcError(res, status, message) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

const httpServer = http.createServer(async (req, res) => {
  try {
    if (new URL(req.url, 'http://upstream').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const subject = req.headers['x-mcp-auth-subject'];
    if (!subject) {
      // Only the gateway may call: it always names the caller.
      jsonRpcError(res, 401, 'no X-Mcp-Auth-Subject: call through the gateway');
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (sid) {
      const transport = transports.get(sid);
      if (!transport) {
        jsonRpcError(res, 404, 'session not found');
        return;
      }
      // A session belongs to the user who opened it (MCP: bind session
      // ids to the user), so a leaked session id is no use to another.
      if (owners.get(sid) !== subject) {
        jsonRpcError(res, 403, 'this session belongs to another user');
        return;
      }
      await transport.handleRequest(req, res);
      return;
    }
    if (req.method !== 'POST') {
      jsonRpcError(res, 400, 'no Mcp-Session-Id');
      return;
    }
    const body = JSON.parse(await readBody(req));
    if (!isInitializeRequest(body)) {
      jsonRpcError(res, 400, 'no Mcp-Session-Id, and not an initialize request');
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports.set(id, transport);
        owners.set(id, subject);
      },
    });
    transport.onclose = () => {
      transports.delete(transport.sessionId);
      owners.delete(transport.sessionId);
    };
    await newServer().connect(transport);
    await transport.handleRequest(req, res, body);
  } catch (err) {
    console.error('ts-upstream:', err);
    if (!res.headersSent) jsonRpcError(res, 400, String(err.message ?? err));
  }
});

httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`UPSTREAM_URL=http://127.0.0.1:${httpServer.address().port}/mcp`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    httpServer.close();
    httpServer.closeAllConnections();
    process.exit(0);
  });
}
