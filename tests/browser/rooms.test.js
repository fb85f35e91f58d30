// Rooms: creating one (seen by everyone), a duplicate name, unread counts.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  browserTest,
  expectCount,
  expectDeliveredOnce,
  openRoom,
  roomItem,
  sendAndConfirm,
  staysTrue,
  waitForValue,
  waitUntil,
} from './helpers.js';

async function createRoom(page, name) {
  await page.getByTestId('create-room-button').click();
  const input = page.getByTestId('create-room-input');
  await input.fill(name);
  await page.getByTestId('create-room-submit').click();
}

describe('rooms', () => {
  browserTest('a room created by one user appears for the other; a duplicate name (other case) is refused inline', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });

    // With Part C membership a new account's sidebar holds General only, and someone
    // else's new public room goes to the room browser; without it, to the sidebar.
    const membership = (await bob.page.getByTestId('browse-rooms-button').count()) > 0;
    const aliceRooms = await alice.page.getByTestId('room-item').count();
    const bobRooms = await bob.page.getByTestId('room-item').count();
    const bobSees = async (name) => {
      if (!membership) return (await roomItem(bob.page, name).count()) === 1;
      await bob.page.getByTestId('browse-rooms-button').click();
      const found = await bob.page.locator(`[data-testid="browse-room"][data-room-name="${name}"]`).count();
      await bob.page.keyboard.press('Escape');
      await expectCount(bob.page.getByTestId('room-browser'), 0);
      return found === 1;
    };
    await createRoom(alice.page, 'Book Club');
    // The creator is taken to the new room, and the form closes.
    await waitForValue(() => alice.page.getByTestId('current-room-name').textContent(), 'Book Club');
    await expectCount(alice.page.getByTestId('create-room-input'), 0);
    await expectCount(roomItem(alice.page, 'Book Club'), 1);

    // The other user's sidebar gets it in real time.
    await waitUntil(() => bobSees('Book Club'), { message: 'Bob sees Book Club' });
    await expectCount(bob.page.getByTestId('room-item'), membership ? bobRooms : bobRooms + 1);

    // A duplicate in another case: the inline error, no new room anywhere.
    await createRoom(bob.page, 'book club');
    const error = bob.page.getByTestId('create-room-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /already exists/i);
    assert.equal(await bob.page.getByTestId('create-room-input').inputValue(), 'book club', 'the input keeps the name');
    // Typing again clears the error.
    await bob.page.getByTestId('create-room-input').fill('book club 2');
    await expectCount(error, 0);
    await staysTrue(async () => (await alice.page.getByTestId('room-item').count()) === aliceRooms + 1, 500, 'one room more for Alice');
    await expectCount(bob.page.getByTestId('room-item'), membership ? bobRooms : bobRooms + 1);
    assert.equal(await roomItem(bob.page, 'book club').count(), 0);
    assert.equal(await bob.page.getByTestId('current-room-name').textContent(), 'General', 'Bob stays where he was');

    // The new room works: Bob opens it and talks with Alice there.
    // The create dialog is modal: Escape closes it.
    await bob.page.keyboard.press('Escape');
    await expectCount(bob.page.getByTestId('create-room-dialog'), 0);
    assert.equal(await bobSees('book club'), false, 'no room "book club" anywhere for Bob');
    await openRoom(bob.page, 'Book Club');
    await sendAndConfirm(bob.page, 'First meeting on Friday?');
    await expectDeliveredOnce(alice.page, 'First meeting on Friday?');
  });

  browserTest('a background room counts unread messages', async (h) => {
    const alice = await h.newUser({ prefix: 'alice', displayName: 'Alice' });
    const bob = await h.newUser({ prefix: 'bob', displayName: 'Bob' });
    // Alice opened General (the default) and then Technology: joined to both.
    await openRoom(alice.page, 'Technology');
    const badge = roomItem(alice.page, 'General').getByTestId('room-unread');
    assert.equal(await badge.count(), 0);

    await sendAndConfirm(bob.page, 'Anyone around?');
    await waitForValue(() => badge.textContent(), '1', { message: 'General unread 1' });
    await sendAndConfirm(bob.page, 'Lunch at noon.');
    await waitForValue(() => badge.textContent(), '2', { message: 'General unread 2' });
    // The open room has no badge; the others neither.
    assert.equal(await roomItem(alice.page, 'Technology').getByTestId('room-unread').count(), 0);
    assert.equal(await roomItem(alice.page, 'Random').getByTestId('room-unread').count(), 0);
    // Alice's own message in the open room adds nothing anywhere.
    await sendAndConfirm(alice.page, 'Tech talk');
    assert.equal(await badge.textContent(), '2');
    await waitForValue(() => alice.page.title(), '(2) #Technology · Parley');

    // Opening the room clears the count and shows what was missed.
    await openRoom(alice.page, 'General');
    await expectCount(badge, 0);
    await expectDeliveredOnce(alice.page, 'Anyone around?');
    await expectDeliveredOnce(alice.page, 'Lunch at noon.');
    await waitForValue(() => alice.page.title(), '#General · Parley');
  });
});
