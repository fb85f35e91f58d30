// The typing indicator, as the other user sees it.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { browserTest, expectDeliveredOnce, staysTrue, waitUntil } from './helpers.js';

describe('typing', () => {
  browserTest('the other user sees "… is typing" while one types, and it goes away after sending', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    const indicator = bob.page.getByTestId('typing-indicator');
    assert.equal(await indicator.count(), 0, 'nobody is typing yet');

    const input = alice.page.getByTestId('composer-input');
    await input.click();
    await input.pressSequentially('I am writing a longer', { delay: 20 });

    await indicator.waitFor({ state: 'visible' });
    assert.equal(await indicator.textContent(), 'Alice is typing…');
    // The typer does not see their own indicator.
    assert.equal(await alice.page.getByTestId('typing-indicator').count(), 0);

    await input.pressSequentially(' message', { delay: 20 });
    await input.press('Enter');
    await expectDeliveredOnce(bob.page, 'I am writing a longer message', { who: 'Bob' });
    await waitUntil(async () => (await indicator.count()) === 0, { message: 'the typing indicator to go away' });
    // ... and it stays away (no late "typing: true" re-creating it).
    await staysTrue(async () => (await indicator.count()) === 0, 1000, 'no typing indicator');
  });
});
