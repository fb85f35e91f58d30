//! The people directory (`GET /api/users`) and the user object that
//! `user_updated` carries: a user with their role and whether they are online.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Chat, store_error};
use crate::domain::{ChatError, Role, Timestamp, User, UserId, UserSummary};

/// Users in one answer of the directory: 1..=100, 50 by default.
pub const DIRECTORY_LIMIT: std::ops::RangeInclusive<u32> = 1..=100;
pub const DEFAULT_DIRECTORY_LIMIT: u32 = 50;
/// A search longer than any username or display name finds nothing.
const MAX_QUERY_CHARS: usize = 64;

/// A user as `/api/users` and `user_updated` show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub user: UserSummary,
    pub role: Role,
    pub deactivated: bool,
    pub is_online: bool,
    /// When their last socket closed (stored), whether or not one saw it go.
    pub last_seen: Option<Timestamp>,
}

/// What `GET /api/users` asks, unparsed.
#[derive(Debug, Clone, Default)]
pub struct DirectoryQuery<'a> {
    pub q: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub include_deactivated: Option<&'a str>,
}

impl Chat {
    /// The user as `/api/users` shows them, online state included.
    pub(super) async fn person(&self, user: &User) -> Person {
        let online = self.online_ids().await;
        person_of(user, &online)
    }

    /// Who is online (on every instance); nobody when that cannot be known
    /// (Redis away): the directory still answers, with stored `last_seen`.
    async fn online_ids(&self) -> HashSet<UserId> {
        match self.online_users().await {
            Ok(users) => users.into_iter().map(|u| u.id).collect(),
            Err(_) => HashSet::new(),
        }
    }

    /// `GET /api/users?q=&limit=&include_deactivated=`: users whose username
    /// or display name contains `q` (case-insensitively), by username.
    /// Deactivated users are listed only to admins who ask for them.
    pub async fn directory(&self, viewer: &UserSummary, query: DirectoryQuery<'_>) -> Result<Vec<Person>, ChatError> {
        let limit = match query.limit {
            None => DEFAULT_DIRECTORY_LIMIT,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| DIRECTORY_LIMIT.contains(n))
                .ok_or_else(|| ChatError::invalid("limit is 1 to 100"))?,
        };
        let include_deactivated = match query.include_deactivated {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ChatError::invalid("include_deactivated is true or false")),
        };
        if include_deactivated {
            self.require_admin(viewer).await?;
        }
        let q = query.q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
        if q.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return Ok(Vec::new());
        }
        let users =
            self.inner.store.search_users(q.as_deref(), limit, include_deactivated).await.map_err(store_error)?;
        let online = self.online_ids().await;
        Ok(users.iter().map(|u| person_of(u, &online)).collect())
    }
}

fn person_of(user: &User, online: &HashSet<UserId>) -> Person {
    Person {
        user: UserSummary::from(user),
        role: user.role,
        deactivated: user.deactivated,
        is_online: !user.deactivated && online.contains(&user.id),
        last_seen: user.last_seen,
    }
}
