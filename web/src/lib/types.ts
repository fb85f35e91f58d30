// Wire types: see docs/protocol.md (Parts A, B and C, and "Part C as Parley decides it").

export interface RoomMember {
  id: number;
  username: string;
  display_name: string;
  avatar_color: string;
}

export interface Room {
  id: number;
  room_name: string;
  room_type: 'public' | 'private' | 'direct' | string;
  created_by: number | null;
  created_at: string | null;
  // Part C: absent from a server that predates it (the client then keeps Part A's joins).
  topic?: string;
  is_member?: boolean;
  archived?: boolean;
  last_message_id?: number | null;
  my_role?: 'owner' | 'member' | null;
  /** Direct rooms: every member, the caller included, in id order. */
  members?: RoomMember[];
}

export type Role = 'admin' | 'member' | string;

/** A user as in `GET /api/users` and `user_updated`. */
export interface User {
  id: number;
  username: string;
  display_name: string;
  avatar_color: string;
  avatar_url?: string | null;
  role?: Role;
  is_online?: boolean;
  last_seen?: string | null;
  deactivated?: boolean;
}

/** `GET /api/rooms/<id>/members` items and `member_added.user`. */
export interface MemberUser extends User {
  role_in_room?: string;
}

export interface Account {
  id: number;
  username: string;
  display_name: string;
  avatar_color: string;
  avatar_url?: string | null;
  role: Role;
}

export type RegistrationMode = 'open' | 'invite_only' | 'closed';

export interface ServerSettings {
  registration: RegistrationMode;
  edit_window_s: number | null;
}

export interface Invite {
  id: number;
  code?: string;
  url?: string;
  max_uses: number;
  uses: number;
  expires_at: string;
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
  /** Part C: true only when the membership itself began or ended. */
  new_member?: boolean;
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
  room_added: (r: Room) => void;
  room_updated: (r: Room) => void;
  room_removed: (p: { room_id: number }) => void;
  member_added: (p: { room_id: number; user: User & { role: string } }) => void;
  member_removed: (p: { room_id: number; user_id: number }) => void;
  user_updated: (u: User) => void;
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
