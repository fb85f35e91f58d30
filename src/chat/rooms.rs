//! Rooms: listing, creating, joining, leaving, and who may use which.

use super::{Audience, Chat, Event, cluster_error, store_error};
use crate::domain::{ChatError, ConnId, NewRoom, Room, RoomId, RoomName, RoomType, Topic, UserSummary};

impl Chat {
    /// The one place that decides whether a user may read and write a room.
    /// Unknown rooms and rooms the user may not see look the same: not found.
    pub(super) async fn accessible_room(&self, user: &UserSummary, room: RoomId) -> Result<Room, ChatError> {
        let store = &self.inner.store;
        let room = self
            .inner
            .rooms
            .get_or_load(room, async || store.room(room).await.map_err(store_error))
            .await?
            .ok_or(ChatError::RoomNotFound)?;
        let allowed = match room.room_type {
            RoomType::Public => true,
            RoomType::Private | RoomType::Direct => {
                self.inner.store.is_member(room.id, user.id).await.map_err(store_error)?
            }
        };
        if allowed { Ok(room) } else { Err(ChatError::RoomNotFound) }
    }

    /// The rooms a user can see.
    pub async fn rooms(&self, user: &UserSummary) -> Result<Vec<Room>, ChatError> {
        self.inner.store.rooms_visible_to(user.id).await.map_err(store_error)
    }

    /// The connection's user creates a public room; everyone connected hears of it.
    pub async fn create_room(&self, conn: &ConnId, name: RoomName) -> Result<Room, ChatError> {
        let user = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        // Every new room is announced to everyone: a flood of them floods every client.
        let limit = self.inner.config.room_create;
        self.take_token("room_create", &self.inner.room_create_limit, limit, user.id).await?;
        let now = self.inner.clock.now();
        let new = NewRoom {
            name,
            room_type: RoomType::Public,
            topic: Topic::from_trusted(String::new()),
            created_by: user.id,
            at: now,
            members: Vec::new(),
        };
        let room = self.inner.store.create_room(new).await.map_err(store_error)?;
        tracing::info!(room_id = %room.id, user_id = %user.id, "room created");
        self.publish(Audience::Everyone, Event::RoomCreated(room.clone()));
        Ok(room)
    }

    /// The connection joins a room: it hears the room's events from now on and
    /// everyone in the room (the joiner included) hears that it came. Joining a
    /// room the connection is already in changes nothing.
    pub async fn join_room(&self, conn: &ConnId, room: RoomId) -> Result<Room, ChatError> {
        let user = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        self.take_join_token(&user).await?;
        let room = self.accessible_room(&user, room).await?;
        if self.inner.presence.enter(conn, room.id) {
            if let Some(cluster) = &self.inner.cluster {
                cluster.entered_room(room.id, user.id).await.map_err(cluster_error)?;
            }
            self.inner.notifier.subscribe(conn, room.id);
            let text = format!("{} has joined the room", user.display_name.as_str());
            self.publish(Audience::Room(room.id), Event::UserJoined { room: room.id, user, text });
        }
        Ok(room)
    }

    /// The connection leaves a room; the others in it hear so.
    pub async fn leave_room(&self, conn: &ConnId, room: RoomId) -> Result<(), ChatError> {
        let user = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        self.take_join_token(&user).await?;
        if !self.inner.presence.exit(conn, room) {
            return Err(ChatError::NotInRoom);
        }
        if let Some(cluster) = &self.inner.cluster {
            cluster.left_room(room, user.id).await.map_err(cluster_error)?;
        }
        self.stop_typing(room, &user, conn);
        self.inner.notifier.unsubscribe(conn, room);
        let text = format!("{} has left the room", user.display_name.as_str());
        self.publish(Audience::Room(room), Event::UserLeft { room, user, text });
        Ok(())
    }

    /// Joins and leaves share one bucket per user: each is announced to the
    /// room, so join+leave pairs would otherwise flood it.
    async fn take_join_token(&self, user: &UserSummary) -> Result<(), ChatError> {
        self.take_token("join", &self.inner.join_limit, self.inner.config.join, user.id).await
    }

    /// The users with a connection in the room.
    pub async fn online_in_room(&self, user: &UserSummary, room: RoomId) -> Result<Vec<UserSummary>, ChatError> {
        let room = self.accessible_room(user, room).await?;
        match &self.inner.cluster {
            None => Ok(self.inner.presence.users_in_room(room.id)),
            Some(cluster) => cluster.room_users(room.id).await.map_err(cluster_error),
        }
    }
}
