// The single Socket.IO connection (same origin, default path, cookie auth).
import { io, type Socket } from 'socket.io-client';
import type { Ack, ClientToServerEvents, ServerToClientEvents } from './types';

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export function createSocket(): ChatSocket {
  return io({
    autoConnect: false,
    withCredentials: true,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
    // Presence changes arrive coalesced (`presence_batch`), one event per window;
    // `membership`: the server subscribes the socket to every room the user is a
    // member of, so there is no join_room at connect and no "joined" line at reconnect.
    auth: { capabilities: ['membership', 'presence_batch'] },
  });
}

export const ACK_TIMEOUT_MS = 10_000;

type AckEvent = Exclude<keyof ClientToServerEvents, 'typing'>;
type PayloadOf<E extends AckEvent> = Parameters<ClientToServerEvents[E]>[0];
type AckOf<E extends AckEvent> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

/**
 * Emit an event with an ack callback. Never rejects: a timeout or a lost
 * connection resolves to `{ok:false, error:{code:'timeout'|'disconnected'}}`.
 */
export async function emitWithAck<E extends AckEvent>(
  socket: ChatSocket,
  event: E,
  payload: PayloadOf<E>,
  timeoutMs = ACK_TIMEOUT_MS,
): Promise<AckOf<E>> {
  if (!socket.connected) {
    return { ok: false, error: { code: 'disconnected', message: 'Not connected to the server.' } } as AckOf<E>;
  }
  try {
    // The typed overloads of emitWithAck do not resolve well through the generic
    // event name, so go through a narrow untyped view of the same call.
    const emitter = socket.timeout(timeoutMs) as unknown as {
      emitWithAck(ev: string, p: unknown): Promise<unknown>;
    };
    const res = await emitter.emitWithAck(event, payload);
    return normaliseAck(res) as AckOf<E>;
  } catch {
    const code = socket.connected ? 'timeout' : 'disconnected';
    const message = socket.connected ? 'The server did not answer in time.' : 'Connection lost.';
    return { ok: false, error: { code, message } } as AckOf<E>;
  }
}

function normaliseAck(res: unknown): Ack<Record<string, unknown>> {
  if (res && typeof res === 'object' && 'ok' in res) {
    const r = res as { ok: unknown; error?: unknown };
    if (r.ok === true) return res as Ack<Record<string, unknown>>;
    const e = (r.error ?? {}) as { code?: unknown; message?: unknown };
    return {
      ok: false,
      error: {
        code: typeof e.code === 'string' ? e.code : 'error',
        message: typeof e.message === 'string' && e.message ? e.message : String(e.code ?? 'Request failed.'),
      },
    };
  }
  return { ok: false, error: { code: 'bad_ack', message: 'Unexpected answer from the server.' } };
}
