// The official TypeScript MCP SDK's client against mcp-auth-server: its
// OAuth client provider discovers the authorization server from the 401,
// registers dynamically, the user signs in and approves in headless
// Chromium, the SDK redeems the code, and tools/call whoami succeeds.
//
// Environment: MCP_URL, ISSUER, USERNAME, PASSWORD, PORT (for the loopback
// redirect URI), ARTIFACTS_DIR (screenshots). With PROVIDER the user signs
// in at that upstream provider ("Continue with <PROVIDER>") and the token's
// subject must be EXPECT_SUB; LABEL names the screenshots.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { authorize, launch } from './browser.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const mcpURL = env('MCP_URL');
const issuer = env('ISSUER');
const username = env('USERNAME');
const redirectURL = `http://127.0.0.1:${env('PORT')}/callback`;

// An in-memory OAuthClientProvider, as a desktop MCP client keeps one.
class MemoryProvider {
  constructor() {
    this.authorizationURL = undefined;
  }
  get redirectUrl() { return redirectURL; }
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK interop test',
      redirect_uris: [redirectURL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.savedTokens; }
  saveTokens(tokens) { this.savedTokens = tokens; }
  redirectToAuthorization(url) { this.authorizationURL = url; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

// Every request the SDK makes, to show it followed the discovery chain.
const requests = [];
const recordingFetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const res = await fetch(input, init);
  requests.push(`${init?.method ?? 'GET'} ${url.split('?')[0]} ${res.status}`);
  return res;
};

const provider = new MemoryProvider();
let transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider, fetch: recordingFetch });
const client = new Client({ name: 'mcpauth-interop', version: '1.0.0' });
await assert.rejects(client.connect(transport), UnauthorizedError, 'connect without a token must ask for authorization');

const expectSeen = (pattern, what) => assert.ok(requests.some((r) => pattern.test(r)), `${what} not seen in:\n${requests.join('\n')}`);
expectSeen(/^POST .*\/mcp 401$/, 'the 401 from the MCP server');
expectSeen(/^GET .*\/\.well-known\/oauth-protected-resource\/mcp 200$/, 'protected resource metadata discovery');
expectSeen(/^GET .*\/\.well-known\/oauth-authorization-server 200$/, 'authorization server metadata discovery');
expectSeen(/^POST .*\/register 201$/, 'dynamic client registration');
assert.ok(provider.client?.client_id, 'registered client_id');
assert.ok(provider.authorizationURL, 'the SDK asked to open the authorization URL');
const authURL = new URL(provider.authorizationURL);
assert.equal(`${authURL.origin}${authURL.pathname}`, `${issuer}/authorize`);
assert.equal(authURL.searchParams.get('resource'), mcpURL, 'resource indicator');
assert.equal(authURL.searchParams.get('code_challenge_method'), 'S256');

// The loopback redirect target a desktop client listens on (RFC 8252 §7.3).
const callbackServer = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('Signed in. You can close this window.');
});
await new Promise((resolve, reject) => {
  callbackServer.once('error', reject);
  callbackServer.listen(Number(env('PORT')), '127.0.0.1', resolve);
});

const browser = await launch();
let result;
try {
  result = await authorize(browser.context, authURL.href, {
    username, password: env('PASSWORD'), redirectPrefix: redirectURL,
    artifactsDir: process.env.ARTIFACTS_DIR, label: process.env.LABEL || 'typescript-sdk', provider: process.env.PROVIDER,
  });
} finally {
  await browser.close();
  callbackServer.close();
}
const callback = new URL(result.url);
assert.equal(callback.searchParams.get('error'), null, `authorization error: ${callback.search}`);
assert.equal(callback.searchParams.get('iss'), issuer, 'RFC 9207 iss');
const code = callback.searchParams.get('code');
assert.ok(code, 'authorization code');

await transport.finishAuth(code);
assert.ok(provider.savedTokens?.access_token, 'access token saved');
expectSeen(/^POST .*\/token 200$/, 'the token request');

transport = new StreamableHTTPClientTransport(new URL(mcpURL), { authProvider: provider, fetch: recordingFetch });
await client.connect(transport);
const { tools } = await client.listTools();
assert.deepEqual(tools.map((t) => t.name).sort(), ['add', 'whoami']);
const who = await client.callTool({ name: 'whoami', arguments: {} });
assert.ok(!who.isError, `whoami failed: ${JSON.stringify(who)}`);
assert.equal(who.structuredContent.sub, process.env.EXPECT_SUB || username);
assert.equal(who.structuredContent.client_id, provider.client.client_id);
assert.ok(who.structuredContent.aud.includes(mcpURL), `token audience ${who.structuredContent.aud}`);
const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
assert.ok(!sum.isError, `add failed: ${JSON.stringify(sum)}`);
assert.equal(sum.structuredContent.sum, 42);
await client.close();

if (result.a11y.length > 0) {
  console.error(`FAIL: accessibility:\n  ${result.a11y.join('\n  ')}`);
  process.exit(1);
}
console.log(`PASS: TypeScript SDK client registered as ${provider.client.client_id}, signed in as ${who.structuredContent.sub}${process.env.PROVIDER ? ` at ${process.env.PROVIDER}` : ''}, called whoami and add`);
process.exit(0);
