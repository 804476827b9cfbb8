// Checks the accessibility check itself: a page built with known faults
// must produce exactly those findings, and a clean page none.

import assert from 'node:assert/strict';
import { checkAccessibility, launch } from './browser.mjs';

const bad = `<!doctype html><html lang="en"><title>bad</title><body>
<form>
  <input id="nolabel" name="q" type="text">
  <label for="ok">OK field</label><input id="ok" name="ok">
  <button id="empty" type="button"></button>
  <button id="jump" type="button" tabindex="3">Jump</button>
  <div id="fake" role="button">Not a real button</div>
</form></body></html>`;

const good = `<!doctype html><html lang="en"><title>good</title><body>
<form>
  <label for="u">Username</label><input id="u" name="u">
  <input name="search" aria-label="Search">
  <span id="pw-label">Password</span><input type="password" aria-labelledby="pw-label">
  <input type="hidden" name="csrf" value="x">
  <button type="submit">Sign in</button>
  <a href="/privacy">Privacy</a>
</form></body></html>`;

const browser = await launch();
try {
  const page = await browser.context.newPage();
  await page.setContent(bad);
  const problems = await checkAccessibility(page);
  console.log(`findings on the faulty page:\n  ${problems.join('\n  ')}`);
  const has = (re) => problems.some((p) => re.test(p));
  assert.ok(has(/<input#nolabel.*no accessible name/), 'unlabelled input not reported');
  assert.ok(has(/<button#empty.*no accessible name/), 'empty button not reported');
  assert.ok(has(/positive tabindex/), 'positive tabindex not reported');
  assert.ok(has(/not reachable with Tab: <div id="fake"/), 'div role=button not reported as unreachable');
  assert.ok(!has(/#ok\b/), 'the labelled input was reported');

  await page.setContent(good);
  const none = await checkAccessibility(page);
  assert.deepEqual(none, [], 'findings on the clean page');
  console.log('PASS: the accessibility check reports the planted faults and nothing on a clean page');
} finally {
  await browser.close();
}
