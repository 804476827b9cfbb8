// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core:
// signs in and approves on the authorization server's real pages, saving
// screenshots and checking their accessibility on the way.

import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Flags for this machine's closed network: no background or first-run traffic.
const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// launch starts Chromium with a fresh profile; close() removes it.
export async function launch() {
  const userDataDir = await mkdtemp(join(tmpdir(), 'mcpauth-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 900, height: 900 },
  });
  // Every wait is bounded: a client's callback server that closes while
  // the browser is still loading its page must not hang the run.
  context.setDefaultTimeout(20000);
  context.setDefaultNavigationTimeout(20000);
  return {
    context,
    async close() {
      await bounded(context.close(), 10000, 'closing Chromium').catch((err) => console.error(`warning: ${err.message}`));
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

// bounded rejects when p has not settled within ms.
export function bounded(p, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// Elements that can take part in keyboard navigation or need a name.
const CONTROLS = [
  'input:not([type=hidden])', 'button', 'select', 'textarea', 'a[href]',
  '[tabindex]', '[contenteditable=""]', '[contenteditable=true]', '[role=button]', '[role=link]',
].join(', ');

// checkAccessibility returns the problems found on the page: a control
// without an accessible name (as Chromium computes it, from label,
// aria-label, aria-labelledby or content), a positive tabindex, or a
// control the Tab key never reaches.
export async function checkAccessibility(page) {
  const problems = [];
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('DOM.enable');
    await cdp.send('Accessibility.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const { nodeIds } = await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector: CONTROLS });
    for (const nodeId of nodeIds) {
      const { node } = await cdp.send('DOM.describeNode', { nodeId });
      const { nodes } = await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false });
      const ax = nodes.find((n) => n.backendDOMNodeId === node.backendNodeId) ?? nodes[0];
      const name = (ax?.name?.value ?? '').trim();
      if (!name) problems.push(`${describe(node)} has no accessible name (role ${ax?.role?.value ?? '?'})`);
    }
  } finally {
    await cdp.detach();
  }

  // Keyboard: number every focusable control, then Tab around the page and
  // note which of them took focus.
  const controls = await page.evaluate((selector) => {
    const out = [];
    let i = 0;
    for (const el of document.querySelectorAll(selector)) {
      const tabindex = el.getAttribute('tabindex');
      if (tabindex !== null && Number(tabindex) > 0) out.push({ positive: true, what: el.outerHTML.slice(0, 80) });
      const hidden = el.disabled || (tabindex !== null && Number(tabindex) < 0) ||
        el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden';
      if (hidden) continue;
      el.setAttribute('data-a11y-idx', String(i));
      out.push({ idx: String(i++), what: el.outerHTML.slice(0, 80) });
    }
    document.activeElement?.blur();
    return out;
  }, CONTROLS);
  for (const c of controls.filter((c) => c.positive)) problems.push(`positive tabindex: ${c.what}`);
  const focusable = controls.filter((c) => !c.positive);
  if (focusable.length === 0) problems.push('no keyboard-focusable controls on the page');
  const reached = new Set();
  for (let i = 0; i < focusable.length * 2 + 4 && reached.size < focusable.length; i++) {
    await page.keyboard.press('Tab');
    const idx = await page.evaluate(() => document.activeElement?.getAttribute('data-a11y-idx') ?? null);
    if (idx !== null) reached.add(idx);
  }
  for (const c of focusable) {
    if (!reached.has(c.idx)) problems.push(`not reachable with Tab: ${c.what}`);
  }
  return problems;
}

function describe(node) {
  const attrs = {};
  for (let i = 0; i + 1 < (node.attributes ?? []).length; i += 2) attrs[node.attributes[i]] = node.attributes[i + 1];
  const id = attrs.id ? `#${attrs.id}` : '';
  const type = attrs.type ? `[type=${attrs.type}]` : '';
  const name = attrs.name ? `[name=${attrs.name}]` : '';
  return `<${node.localName}${id}${type}${name}>`;
}

// authorize opens authorizationURL, signs in and approves, and resolves
// with the URL the browser is finally sent to (the client's redirect URI,
// which must start with redirectPrefix). With artifactsDir set, the sign-in
// and consent pages are saved as <label>-login.png and <label>-consent.png;
// accessibility problems are collected in the returned a11y list.
//
// With provider set, the user clicks "Continue with <provider>" instead and
// signs in with username and password at that provider's own login page
// (zitadel's example OP: fields #username and #password, button Login).
export async function authorize(context, authorizationURL, { username, password, redirectPrefix, artifactsDir, label, provider }) {
  const page = await context.newPage();
  const a11y = [];
  if (artifactsDir) await mkdir(artifactsDir, { recursive: true });
  await page.goto(authorizationURL);

  // Sign-in page.
  await page.locator(provider ? 'a.button' : 'input[name=username]').first().waitFor({ timeout: 15000 });
  if (!(await page.title()).toLowerCase().includes('sign in')) throw new Error(`unexpected page: ${await page.title()} at ${page.url()}`);
  if (artifactsDir) await page.screenshot({ path: join(artifactsDir, `${label}-login.png`), fullPage: true });
  for (const p of await checkAccessibility(page)) a11y.push(`login page: ${p}`);
  if (provider) {
    const ours = new URL(page.url()).origin;
    await Promise.all([
      page.waitForURL((u) => u.origin !== ours, { timeout: 15000 }),
      page.getByRole('link', { name: `Continue with ${provider}` }).click(),
    ]);
    await page.locator('#username').waitFor({ timeout: 15000 });
    if (artifactsDir) await page.screenshot({ path: join(artifactsDir, `${label}-provider.png`), fullPage: true });
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(password);
    await Promise.all([
      page.waitForURL((u) => u.origin === ours && u.pathname.endsWith('/consent'), { timeout: 15000 }),
      page.getByRole('button', { name: 'Login' }).click(),
    ]);
  } else {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await Promise.all([
      page.waitForURL((u) => !u.href.includes('/login'), { timeout: 15000 }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
  }

  // Consent page.
  const approve = page.getByRole('button', { name: 'Approve' });
  await approve.waitFor({ timeout: 15000 }).catch(async () => {
    throw new Error(`no consent page after sign-in; at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 300)}`);
  });
  if (artifactsDir) await page.screenshot({ path: join(artifactsDir, `${label}-consent.png`), fullPage: true });
  for (const p of await checkAccessibility(page)) a11y.push(`consent page: ${p}`);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(redirectPrefix), { timeout: 15000, waitUntil: 'commit' }),
    approve.click(),
  ]);
  const finalURL = page.url();
  // The client's callback server may close right after it has the code,
  // leaving the page's load pending: closing must not wait for it.
  await bounded(page.close({ runBeforeUnload: false }), 5000, 'closing the page').catch(() => {});
  return { url: finalURL, a11y };
}
