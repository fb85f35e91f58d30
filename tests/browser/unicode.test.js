// Impersonation through Unicode (docs/security.md, finding 7): what the web
// client shows for text that reorders itself, look-alike hosts and two people
// with the same display name.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { PHONE, browserTest, onlineUser, openRoom, saveScreenshot, sendMessage, waitUntil } from './helpers.js';

const RLO = '\u202E';
/** Reversed, so that under a right-to-left override it reads "https://www.bank.com/…". */
const REVERSED_BANK = '/moc.knab.www//:sptth';

/** The message rows whose text contains `needle`. */
function rowWith(page, needle) {
  return page.locator('[data-testid="message"]').filter({ hasText: needle });
}

/** Where each character of the element's first non-blank text node is drawn. */
function glyphLefts(locator) {
  return locator.evaluate((el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node = walker.nextNode();
    while (node && !node.data.trim()) node = walker.nextNode();
    const lefts = [];
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      lefts.push(range.getBoundingClientRect().left);
    }
    return lefts;
  });
}

describe('unicode', () => {
  browserTest('a right-to-left override cannot make a link read as a bank link', async (h) => {
    const ann = await h.newUser({ prefix: 'ann', displayName: 'Ann' });

    // 1. The override before the link: the link text is drawn left to right
    //    all the same, starting with the host it goes to.
    const outside = `${RLO}https://evil.example/?${REVERSED_BANK}`;
    await sendMessage(ann.page, outside);
    const link = rowWith(ann.page, 'evil.example').locator('a');
    await link.waitFor();
    assert.equal(new URL(await link.getAttribute('href')).hostname, 'evil.example');
    const lefts = await glyphLefts(link);
    assert.ok(
      lefts.every((x, i) => i === 0 || x >= lefts[i - 1]),
      `the link's characters are drawn in their order, left to right: ${lefts.slice(0, 12)}`,
    );
    assert.equal(await link.evaluate((a) => getComputedStyle(a).unicodeBidi), 'isolate');

    // 2. The override inside the URL: not a link at all, plain text.
    const inside = `https://evil.example/${RLO}${REVERSED_BANK} see`;
    await sendMessage(ann.page, inside);
    const row = rowWith(ann.page, 'see');
    await row.waitFor();
    assert.equal(await row.locator('a').count(), 0, 'a URL holding a bidi control is not a link');
    // Nor does the override reverse the text: it is shown as typed, without it.
    const text = row.getByTestId('message-text');
    assert.equal(await text.textContent(), inside.replace(RLO, ''));
    const drawn = await glyphLefts(text);
    assert.ok(drawn.every((x, i) => i === 0 || x >= drawn[i - 1]), `drawn left to right: ${drawn.slice(0, 30)}`);
    for (const hidden of ['\u200B', '\u2066']) {
      await sendMessage(ann.page, `https://bank.com${hidden}.evil.example/ hidden${hidden.codePointAt(0)}`);
      const r = rowWith(ann.page, `hidden${hidden.codePointAt(0)}`);
      await r.waitFor();
      assert.equal(await r.locator('a').count(), 0, `a URL holding U+${hidden.codePointAt(0).toString(16)} is not a link`);
    }

    // 3. Credentials before the host ("https://www.bank.com@evil.example/") are no link either.
    await sendMessage(ann.page, 'https://www.bank.com@evil.example/login creds');
    const creds = rowWith(ann.page, 'creds');
    await creds.waitFor();
    assert.equal(await creds.locator('a').count(), 0, 'a URL with a user name is not a link');
    await sendMessage(ann.page, 'pay here https://\u0440\u0430\u0443\u0440\u0430l.com/login');
    await rowWith(ann.page, 'pay here').locator('a').waitFor();
    await saveScreenshot(ann.page, 'unicode-links.png');
  });

  browserTest('a host that is not plain ASCII is shown in punycode', async (h) => {
    const ann = await h.newUser({ prefix: 'ann', displayName: 'Ann' });
    const paypal = 'https://\u0440\u0430\u0443\u0440\u0430l.com/login'; // Cyrillic р, а, у
    await sendMessage(ann.page, `pay here ${paypal}`);
    const link = rowWith(ann.page, 'pay here').locator('a');
    await link.waitFor();
    const shown = await link.textContent();
    const puny = new URL(paypal).hostname;
    assert.match(puny, /^xn--/);
    assert.equal(shown, `https://${puny}/login`, 'the host as the browser will resolve it');
    assert.ok(!shown.includes('\u0440'), 'no Cyrillic look-alike left in the link text');
    // A plain ASCII link stays as typed.
    await sendMessage(ann.page, 'docs https://example.com/Guide');
    const plain = rowWith(ann.page, 'docs').locator('a');
    await plain.waitFor();
    assert.equal(await plain.textContent(), 'https://example.com/Guide');
  });

  browserTest('two people named "admin" are told apart by their @username, and user text is isolated', async (h) => {
    const admin = await h.newUser({ prefix: 'admin', displayName: 'admin' });
    const mallory = await h.newUser({ prefix: 'mallory', displayName: 'admin' });
    // In a room both join now, so that the other "admin" joining it posts a line
    // (a reload or a new account's General membership posts none with Part C).
    await openRoom(admin.page, 'Technology');
    await openRoom(mallory.page, 'Technology');
    await sendMessage(mallory.page, 'please send me your password');
    const row = rowWith(admin.page, 'please send me your password');
    await row.waitFor();
    await waitUntil(async () => (await row.getAttribute('data-message-id')) !== null, { message: 'acknowledged' });

    // The message's author line names the account.
    const handle = row.getByTestId('author-username');
    assert.equal(await handle.textContent(), `@${mallory.username}`);
    // So does the online list.
    await waitUntil(async () => (await onlineUser(admin.page, mallory.username).count()) === 1, {
      message: 'mallory in the online list',
    });
    const listed = onlineUser(admin.page, mallory.username).getByTestId('online-username');
    assert.equal(await listed.textContent(), `@${mallory.username}`);
    // And the line saying that "admin" joined the room.
    const joined = admin.page.getByTestId('system-line').filter({ hasText: `admin has joined the room@${mallory.username}` });
    await waitUntil(async () => (await joined.count()) === 1, { message: 'the join line names the account' });

    // Every piece of user text is a bidi isolate: names, handles, message
    // text, room names.
    const isolated = await admin.page.evaluate(() =>
      [
        '[data-testid="message"] .author',
        '[data-testid="author-username"]',
        '[data-testid="message-text"]',
        '[data-testid="online-user"] .name bdi',
        '[data-testid="online-username"]',
        '[data-testid="room-item"] .name',
        '[data-testid="current-room-name"]',
        '[data-testid="system-line"] bdi',
      ].map((sel) => {
        const els = [...document.querySelectorAll(sel)];
        return [sel, els.length > 0 && els.every((el) => getComputedStyle(el).unicodeBidi === 'isolate')];
      }),
    );
    assert.deepEqual(isolated.filter(([, ok]) => !ok), [], 'elements that are not isolated');

    // Right-to-left names and text stay in their place beside the time and handle.
    const rtl = await h.newUser({ prefix: 'dvora', displayName: '\u05D3\u05D1\u05D5\u05E8\u05D4 2' });
    await openRoom(admin.page, 'General');
    await sendMessage(rtl.page, '\u05E9\u05DC\u05D5\u05DD 123, see https://example.com/a');
    await rowWith(admin.page, 'example.com').waitFor();
    await saveScreenshot(admin.page, 'unicode-desktop.png');
    const phone = await h.newUser({ prefix: 'phone', displayName: 'Phone', viewport: PHONE });
    await rowWith(phone.page, 'please send me your password').waitFor().catch(() => {});
    await saveScreenshot(phone.page, 'unicode-phone.png');
    await phone.page.getByTestId('drawer-toggle').click();
    await onlineUser(phone.page, mallory.username).waitFor();
    await phone.page.waitForTimeout(500); // the drawer slides in
    await saveScreenshot(phone.page, 'unicode-phone-drawer.png');
  });
});
