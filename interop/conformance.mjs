// Runs the official MCP conformance suite's authorization-server scenarios
// (authorization-server-metadata-endpoint, authorization-code-grant) against
// a running mcp-auth-server, completing the sign-in and consent in headless
// Chromium on the real pages. Exits 0 only if every check is SUCCESS.
//
// Environment: ISSUER (exactly the server's issuer), CLIENT_ID (a
// pre-registered public client with redirect http://127.0.0.1:<PORT>/callback),
// PORT, USERNAME, PASSWORD, OUT_DIR (results), ARTIFACTS_DIR (screenshots).

import { spawn } from 'node:child_process';
import { readdir, readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { authorize, bounded, launch } from './browser.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const issuer = env('ISSUER');
const clientID = env('CLIENT_ID');
const port = env('PORT');
const outDir = env('OUT_DIR');
const artifactsDir = process.env.ARTIFACTS_DIR;

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) throw new Error(`the conformance suite needs Node 22, this is ${process.version}`);

const require = createRequire(import.meta.url);
const suite = join(require.resolve('@modelcontextprotocol/conformance/package.json'), '..', 'dist', 'index.js');

await mkdir(outDir, { recursive: true });
const child = spawn(process.execPath, [suite, 'authorization', '--url', issuer, '--client-id', clientID, '--port', port, '-o', outDir], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
child.stderr.on('data', (d) => process.stderr.write(`[conformance] ${d}`));

// The suite prints "Callback server started" and then the authorization URL.
let callbackReady = false;
let authURL;
const sawURL = new Promise((resolve) => {
  createInterface({ input: child.stdout }).on('line', (line) => {
    console.log(`[conformance] ${line}`);
    if (line.startsWith('Callback server started')) callbackReady = true;
    const t = line.trim();
    if (!authURL && t.startsWith('http') && t.includes('response_type=code')) {
      authURL = t;
    }
    if (callbackReady && authURL) resolve();
  });
});
const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref());

let a11y = [];
try {
  await Promise.race([sawURL, exited.then(() => { throw new Error('the suite exited before printing the authorization URL'); }), timeout(60000, 'the authorization URL')]);
  if (!authURL.startsWith(`${issuer}/authorize?`)) throw new Error(`authorization URL ${authURL} is not this server's`);
  const browser = await launch();
  try {
    const res = await bounded(authorize(browser.context, authURL, {
      username: env('USERNAME'), password: env('PASSWORD'),
      redirectPrefix: `http://127.0.0.1:${port}/callback`, artifactsDir, label: 'conformance',
    }), 120000, 'sign-in and consent in Chromium');
    a11y = res.a11y;
    console.log(`browser reached ${res.url.replace(/code=[^&]+/, 'code=…')}`);
  } finally {
    await browser.close();
  }
} catch (err) {
  child.kill();
  throw err;
}

const { code, signal } = await Promise.race([exited, timeout(60000, 'the suite to finish')]);
console.log(`conformance suite exited with ${code ?? signal}`);

// Every scenario writes <OUT_DIR>/authorization-server-<scenario>-<ts>/checks.json.
const results = [];
for (const dir of await readdir(outDir)) {
  let checks;
  try {
    checks = JSON.parse(await readFile(join(outDir, dir, 'checks.json'), 'utf8'));
  } catch {
    continue;
  }
  for (const c of checks) results.push({ scenario: dir.replace(/-\d{4}-.*$/, ''), ...c });
}
const failures = [];
for (const r of results) {
  console.log(`${r.status.padEnd(8)} ${r.scenario} / ${r.id}${r.errorMessage ? ` — ${r.errorMessage}` : ''}`);
  if (r.status !== 'SUCCESS') failures.push(`${r.id}: ${r.status}${r.errorMessage ? ` (${r.errorMessage})` : ''}`);
}
for (const scenario of ['authorization-server-metadata-endpoint', 'authorization-code-grant']) {
  if (!results.some((r) => r.scenario.endsWith(scenario))) failures.push(`scenario ${scenario} reported no checks`);
}
if (code !== 0) failures.push(`the suite exited with ${code ?? signal}`);
for (const p of a11y) failures.push(`accessibility: ${p}`);
if (failures.length > 0) {
  console.error(`FAIL: ${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`PASS: ${results.length} conformance checks, all SUCCESS; sign-in and consent pages accessible`);
process.exit(0);
