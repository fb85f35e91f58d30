// The suite's guards are not vacuous: a page error, a CSP violation and a
// dialog on the chat page are all noticed (and would fail any other test).

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { browserTest, waitUntil } from './helpers.js';

describe('harness', () => {
  browserTest('page errors, CSP violations and dialogs are detected', async (h) => {
    const alice = await h.newUser({ prefix: 'alice' });
    const page = alice.page;
    assert.deepEqual([h.pageErrors, h.cspViolations, h.dialogs], [[], [], []], 'a clean start');

    // The server's policy applies to the chat page.
    const res = await page.request.get(`${h.base}/`);
    assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'self'/);

    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.head.append(s);
      const st = document.createElement('style');
      st.textContent = 'body { outline: 1px solid red; }';
      document.head.append(st);
    });
    await page.evaluate(() => setTimeout(() => {
      throw new Error('deliberate test error');
    }, 0));
    await page.evaluate(() => setTimeout(() => alert('deliberate dialog'), 0));

    await waitUntil(() => h.cspViolations.length >= 2, { message: 'the CSP violations reported' });
    await waitUntil(() => h.pageErrors.length === 1, { message: 'the page error reported' });
    await waitUntil(() => h.dialogs.length === 1, { message: 'the dialog reported' });
    assert.equal(await page.evaluate(() => window.__inlineRan), undefined, 'the inline script was blocked');
    assert.match(h.pageErrors[0].message, /deliberate test error/);
    assert.equal(h.dialogs[0].message, 'deliberate dialog');
    assert.throws(() => h.assertClean(), /page errors.*CSP violations.*dialogs opened/s);

    // Expected here, so not a failure of this test.
    h.pageErrors.length = 0;
    h.cspViolations.length = 0;
    h.dialogs.length = 0;
  });
});
