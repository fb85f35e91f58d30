// Wire types: see docs/protocol.md (Part A and Part B).

export interface Room {
  id: number;
  room_name: string;
  room_type: 'public' | 'private' | string;
  created_by: number | null;
  created_at: string | null;
}

export interface ChatMessage {
  id: number;
  room_id: number;
  user_id: number;
  username: string;
  display_name: string;
  avatar_color: string;
  message: string;
  message_type: 'text' | 'system' | string;
  /** RFC 3339, UTC */
  timestamp: string;
  client_id?: string | null;
}

export interface OnlineUser {
  id: number;
  username: string;
  display_name: string;
  avatar_color: string;
}

export interface Me {
  user_id: number;
  username: string;
  display_name: string;
}

export interface WireError {
  code: string;
  message: string;
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: WireError };

export interface RoomEventPayload {
  room_id: number;
  username: string;
  display_name: string;
  message: string;
}

export interface TypingPayload {
  room_id: number;
  username: string;
  display_name: string;
  is_typing: boolean;
}

export interface PresencePayload {
  user_id: number;
  username: string;
  display_name: string;
  avatar_color: string;
  is_online: boolean;
  last_seen: string | null;
}

export interface ServerToClientEvents {
  connection_success: (p: Me) => void;
  new_message: (m: ChatMessage) => void;
  user_joined: (p: RoomEventPayload) => void;
  user_left_room: (p: RoomEventPayload) => void;
  user_typing: (p: TypingPayload) => void;
  room_created: (p: { room_id: number; room_name: string }) => void;
  room_creation_error: (p: { error: string }) => void;
  presence: (p: PresencePayload) => void;
  presence_batch: (p: { users: PresencePayload[] }) => void;
  chat_error: (p: { event: string; code: string; message: string }) => void;
}

export type JoinAck = Ack<{ room_id: number; room_name: string }>;
export type CreateAck = Ack<{ room_id: number; room_name: string }>;
export type SendAck = Ack<{ id: number; timestamp: string }>;
export type LeaveAck = Ack;

export interface ClientToServerEvents {
  join_room: (p: { room_id: number; room_name: string }, ack: (r: JoinAck) => void) => void;
  leave_room: (p: { room_id: number }, ack: (r: LeaveAck) => void) => void;
  send_message: (
    p: { room_id: number; message: string; client_id: string },
    ack: (r: SendAck) => void,
  ) => void;
  create_room: (p: { room_name: string }, ack: (r: CreateAck) => void) => void;
  typing: (p: { room_id: number; is_typing: boolean }) => void;
}
