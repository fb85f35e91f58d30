// HTTP JSON API (same origin, session cookie).
import type { Account, ChatMessage, Invite, OnlineUser, Room, ServerSettings, User } from './types';

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
  return request<T>('GET', path);
}

/** One JSON request; errors become ApiError with the server's `{error: {code, message}}`. */
async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers,
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
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
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
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

// ------------------------------------------------------------------ Part C

export const fetchMe = () => getJson<Account>('/api/me');
export const updateMe = (p: { display_name?: string; avatar_color?: string }) =>
  request<Account>('PATCH', '/api/me', p);
export const changePassword = (current_password: string, new_password: string) =>
  request<void>('POST', '/api/me/password', { current_password, new_password });
export const signOutEverywhere = () => request<void>('DELETE', '/api/me/sessions');

export function fetchUsers(q = '', limit = 50, includeDeactivated = false): Promise<User[]> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (q.trim()) params.set('q', q.trim());
  if (includeDeactivated) params.set('include_deactivated', 'true');
  return getJson<User[]>(`/api/users?${params}`);
}

export const fetchMembers = (roomId: number) => getJson<(User & { role?: string })[]>(`/api/rooms/${roomId}/members`);
export const createRoomHttp = (p: { room_name: string; room_type: 'public' | 'private'; topic?: string; member_ids?: number[] }) =>
  request<Room>('POST', '/api/rooms', p);
export const updateRoom = (id: number, p: { room_name?: string; topic?: string; archived?: boolean }) =>
  request<Room>('PATCH', `/api/rooms/${id}`, p);
export const addMembers = (id: number, user_ids: number[]) => request<void>('POST', `/api/rooms/${id}/members`, { user_ids });
export const removeMember = (id: number, userId: number) => request<void>('DELETE', `/api/rooms/${id}/members/${userId}`);
export const openDirect = (user_ids: number[]) => request<Room>('POST', '/api/direct', { user_ids });

export const fetchSettings = () => getJson<ServerSettings>('/api/admin/settings');
export const updateSettings = (p: Partial<ServerSettings>) => request<ServerSettings>('PATCH', '/api/admin/settings', p);
export const fetchInvites = () => getJson<Invite[]>('/api/admin/invites');
export const createInvite = (p: { max_uses?: number; expires_in_s?: number }) => request<Invite>('POST', '/api/admin/invites', p);
export const revokeInvite = (id: number) => request<void>('DELETE', `/api/admin/invites/${id}`);
export const updateUserAdmin = (id: number, p: { role?: string; deactivated?: boolean }) =>
  request<User>('PATCH', `/api/admin/users/${id}`, p);
