'use strict';

// Input rules and error codes, the same as Parley's (docs/api.md).

class ChatError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const errors = {
  invalid: (msg) => new ChatError('invalid_payload', msg, 400),
  invalidUsername: () =>
    new ChatError('invalid_username', "Username must be 3 to 32 characters: letters, digits, '_', '.' or '-'"),
  invalidEmail: () => new ChatError('invalid_email', 'Please enter a valid email address'),
  invalidPassword: () => new ChatError('invalid_password', 'Password must be 8 to 256 characters'),
  invalidDisplayName: () => new ChatError('invalid_display_name', 'Display name must be at most 64 characters'),
  usernameTaken: () => new ChatError('username_taken', 'That username is already taken', 409),
  emailTaken: () => new ChatError('email_taken', 'That email address is already registered', 409),
  invalidCredentials: () => new ChatError('invalid_credentials', 'Invalid username or password', 401),
  notAuthenticated: () => new ChatError('not_authenticated', 'You are not logged in', 401),
  roomNameEmpty: () => new ChatError('room_name_empty', 'Room name cannot be empty'),
  roomNameTooLong: () => new ChatError('room_name_too_long', 'Room name must be at most 50 characters'),
  roomNameTaken: () => new ChatError('room_name_taken', 'A room with that name already exists', 409),
  roomNotFound: () => new ChatError('room_not_found', 'Room not found', 404),
  notInRoom: () => new ChatError('not_in_room', 'You have not joined this room', 403),
  messageEmpty: () => new ChatError('message_empty', 'Message cannot be empty'),
  messageTooLong: () => new ChatError('message_too_long', 'Message must be at most 4000 characters'),
  unknownEvent: (name) => new ChatError('unknown_event', `Unknown event '${name}'`),
  internal: () => new ChatError('internal', 'Something went wrong on our side', 500),
};

// Length in Unicode scalar values (code points), not UTF-16 units.
function charCount(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

const CONTROL = /\p{Cc}/u;
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

function str(v) {
  return typeof v === 'string' ? v : v == null ? '' : null;
}

function username(raw) {
  const s = str(raw);
  if (s === null) throw errors.invalidUsername();
  const t = s.trim();
  if (!USERNAME.test(t)) throw errors.invalidUsername();
  return t;
}

function email(raw) {
  const s = str(raw);
  if (s === null) throw errors.invalidEmail();
  const t = s.trim();
  const at = t.indexOf('@');
  const local = t.slice(0, at);
  const domain = t.slice(at + 1);
  const ok =
    t.length <= 254 &&
    !/\s/.test(t) &&
    at > 0 &&
    !domain.includes('@') &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    local.length > 0;
  if (!ok) throw errors.invalidEmail();
  return t;
}

function displayName(raw, user) {
  const s = str(raw);
  if (s === null) throw errors.invalidDisplayName();
  const t = s.trim();
  if (t === '') return user;
  if (charCount(t) > 64 || CONTROL.test(t)) throw errors.invalidDisplayName();
  return t;
}

function password(raw) {
  if (typeof raw !== 'string') throw errors.invalidPassword();
  const n = charCount(raw);
  if (n < 8 || n > 256) throw errors.invalidPassword();
  return raw;
}

function roomName(raw) {
  if (typeof raw !== 'string') throw errors.invalid('room_name must be a string');
  const t = raw.trim();
  if (t === '') throw errors.roomNameEmpty();
  if (charCount(t) > 50) throw errors.roomNameTooLong();
  if (CONTROL.test(t)) throw errors.invalid('Room name cannot contain control characters');
  return t;
}

function messageBody(raw) {
  if (typeof raw !== 'string') throw errors.invalid('message must be a string');
  const t = raw.trim();
  if (t === '') throw errors.messageEmpty();
  // Cheap bound first: 4000 code points are at most 8000 UTF-16 units.
  if (t.length > 4000 && (t.length > 8000 || charCount(t) > 4000)) throw errors.messageTooLong();
  return t;
}

function clientId(raw) {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw errors.invalid('client_id must be 1 to 64 characters');
  const n = charCount(raw);
  if (n === 0 || n > 64 || CONTROL.test(raw)) throw errors.invalid('client_id must be 1 to 64 characters');
  return raw;
}

// A room id as clients send it: a number, or a string of digits.
function roomId(raw) {
  let n = null;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^\s*\d{1,15}\s*$/.test(raw)) n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw errors.invalid('room_id must be a positive whole number');
  return n;
}

function payloadObject(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw errors.invalid('payload must be a JSON object');
  }
  return data;
}

// ?before= / ?after= / ?limit= of GET /api/messages/:room_id.
function page(query) {
  const { before, after, limit: rawLimit } = query;
  let limit = 100;
  if (rawLimit !== undefined) {
    limit = typeof rawLimit === 'string' && /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : 0;
    if (limit < 1 || limit > 200) throw errors.invalid('limit must be a whole number from 1 to 200');
  }
  const cursor = (name, raw, lowest) => {
    const n = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : -1;
    if (n < lowest) throw errors.invalid(`${name} must be a message id (a positive whole number)`);
    return n;
  };
  if (before !== undefined && after !== undefined) throw errors.invalid('give either before or after, not both');
  if (before !== undefined) return { before: cursor('before', before, 1), limit };
  if (after !== undefined) return { after: cursor('after', after, 0), limit };
  return { limit };
}

const PALETTE = [
  '#e53935', '#d81b60', '#8e24aa', '#5e35b1', '#3949ab', '#1e88e5',
  '#00897b', '#43a047', '#7cb342', '#f4511e', '#6d4c41', '#546e7a',
];

// Same colour as Parley gives the same username.
function avatarColor(name) {
  let h = 5381;
  for (const b of Buffer.from(name.toLowerCase(), 'latin1')) h = (Math.imul(h, 33) ^ b) >>> 0;
  return PALETTE[h % PALETTE.length];
}

module.exports = {
  ChatError,
  errors,
  username,
  email,
  displayName,
  password,
  roomName,
  messageBody,
  clientId,
  roomId,
  payloadObject,
  page,
  avatarColor,
};
