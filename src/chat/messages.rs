//! Sending and reading messages.

use super::access::Action;
use super::cache::HistoryPage;
use super::{Audience, Chat, Event, store_error};
use crate::domain::{ChatError, ClientId, ConnId, Message, MessageBody, MessageType, NewMessage, RoomId, UserSummary};
use crate::store::{Inserted, Page};

impl Chat {
    /// Stores a message from a connection in a room it joined, then delivers it
    /// to the room. Returns once the store has committed it. A retry with a
    /// `client_id` this user already sent returns the first message and
    /// delivers nothing again.
    pub async fn send_message(
        &self,
        conn: &ConnId,
        room: RoomId,
        body: MessageBody,
        client_id: Option<ClientId>,
    ) -> Result<Message, ChatError> {
        let author = self.inner.presence.user_of(conn).ok_or(ChatError::NotAuthenticated)?;
        self.access(&author, room, Action::Send).await?;
        // A plain (Part A) socket sends only to a room it joined.
        if !self.inner.presence.is_in_room(conn, room) {
            return Err(ChatError::NotInRoom);
        }
        let config = &self.inner.config;
        let shared = &self.inner.shared;
        let allowed =
            shared.take_send_token(&self.inner.send_limit, author.id, config.message_rate, config.message_burst).await;
        allowed.map_err(|retry_after| ChatError::RateLimited { retry_after })?;
        let new = NewMessage {
            room_id: room,
            author: author.clone(),
            body,
            message_type: MessageType::Text,
            client_id,
            created_at: self.inner.clock.now(),
        };
        let (message, inserted) = self.inner.store.insert_message(new).await.map_err(store_error)?;
        if inserted == Inserted::New {
            metrics::counter!("parley_messages_stored_total").increment(1);
            self.stop_typing(room, &author, conn);
            self.inner.recent.changed(room);
            self.publish(Audience::Room(room), Event::NewMessage(message.clone()));
        }
        Ok(message)
    }

    /// A page of a room's history, oldest first. The newest page of a room is
    /// what every client reads when it opens the room: it is served from
    /// memory until the next message (see [`super::cache::RecentMessages`]).
    pub async fn history(&self, user: &UserSummary, room: RoomId, page: Page) -> Result<HistoryPage, ChatError> {
        let room = self.access(user, room, Action::Read).await?.room;
        let store = &self.inner.store;
        match page {
            Page::Latest { limit } => {
                let now = self.inner.clock.now();
                let load = async |limit| store.messages(room.id, Page::Latest { limit }).await.map_err(store_error);
                self.inner.recent.latest(room.id, limit, now, load).await
            }
            page => store.messages(room.id, page).await.map(HistoryPage::all).map_err(store_error),
        }
    }
}
