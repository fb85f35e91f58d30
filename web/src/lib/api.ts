// HTTP JSON API (same origin, session cookie).
import type { ChatMessage, OnlineUser, Room } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let redirecting = false;

/** Leave the app for the server-rendered login form (session missing or expired). */
export function redirectToLogin(): void {
  if (redirecting) return;
  redirecting = true;
  window.location.assign('/login');
}

export function isRedirecting(): boolean {
  return redirecting;
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, {
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    cache: 'no-store',
  });
  if (res.status === 401) {
    redirectToLogin();
    throw new ApiError(401, 'unauthorized', 'Your session has ended.');
  }
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = `Request failed (${res.status})`;
    try {
      const body: unknown = await res.json();
      if (body && typeof body === 'object') {
        const b = body as Record<string, unknown>;
        const err = (b.error && typeof b.error === 'object' ? b.error : b) as Record<string, unknown>;
        if (typeof err.code === 'string') code = err.code;
        if (typeof err.message === 'string') message = err.message;
        else if (typeof b.error === 'string') message = b.error;
      }
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  return (await res.json()) as T;
}

export function fetchRooms(): Promise<Room[]> {
  return getJson<Room[]>('/api/rooms');
}

export function fetchOnlineUsers(): Promise<OnlineUser[]> {
  return getJson<OnlineUser[]>('/api/online-users');
}

export interface MessageQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export function fetchMessages(roomId: number, q: MessageQuery = {}): Promise<ChatMessage[]> {
  const params = new URLSearchParams();
  if (q.before !== undefined) params.set('before', String(q.before));
  if (q.after !== undefined) params.set('after', String(q.after));
  if (q.limit !== undefined) params.set('limit', String(q.limit));
  const qs = params.toString();
  return getJson<ChatMessage[]>(`/api/messages/${encodeURIComponent(String(roomId))}${qs ? `?${qs}` : ''}`);
}

/** Cheap authenticated probe: resolves true when the session is still valid. */
export async function sessionIsValid(): Promise<boolean> {
  try {
    await fetchOnlineUsers();
    return true;
  } catch (e) {
    return !(e instanceof ApiError && e.status === 401);
  }
}
