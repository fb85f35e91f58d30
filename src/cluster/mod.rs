//! Several Parley instances behind one address: the [`Cluster`](crate::chat::Cluster)
//! port on Redis. Events travel over one pub/sub channel; presence, room
//! presence and rate limits live in Redis, changed by Lua scripts so that each
//! change is atomic across instances. Every instance keeps an `alive` key with
//! a short expiry; one whose key lapsed (killed without a goodbye) is reaped by
//! the first instance to notice, and its users go offline everywhere.
//!
//! What travels between instances is versioned wire types of its own
//! ([`wire`]), never the chat's domain types.

mod redis;
pub mod wire;

pub use self::redis::RedisCluster;
