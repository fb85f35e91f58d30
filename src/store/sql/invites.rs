//! Invites ([`crate::store::InviteStore`]).

use super::Stmt;
use crate::domain::{NewInvite, Timestamp};
use crate::store::rows::INVITE_COLUMNS;

pub fn insert(i: &NewInvite) -> Stmt {
    Stmt::new("INSERT INTO invites (code_hash, created_by, created_at, expires_at, max_uses) VALUES (")
        .bind(i.code_hash.clone())
        .push(", ")
        .bind_list([i.created_by.0, i.created_at.as_millis(), i.expires_at.as_millis(), i64::from(i.max_uses)])
        .push(")")
}

/// Not revoked, not expired at `now`, not used up.
fn live(s: Stmt, now: Timestamp) -> Stmt {
    s.push(" revoked_at IS NULL AND uses < max_uses AND expires_at > ").bind(now.as_millis())
}

pub fn live_list(now: Timestamp) -> Stmt {
    live(Stmt::new(format!("SELECT {INVITE_COLUMNS} FROM invites WHERE")), now).push(" ORDER BY id")
}

pub fn count_live(now: Timestamp) -> Stmt {
    live(Stmt::new("SELECT COUNT(*) AS n FROM invites WHERE"), now)
}

pub fn revoke(id: i64, now: Timestamp) -> Stmt {
    Stmt::new("UPDATE invites SET revoked_at = ").bind(now.as_millis()).push(" WHERE id = ").bind(id).push(" AND revoked_at IS NULL")
}

/// One use, counted only while the invite is live: the check and the count
/// are one statement, so two registrations cannot share the last use.
pub fn use_one(code_hash: &[u8], now: Timestamp) -> Stmt {
    live(Stmt::new("UPDATE invites SET uses = uses + 1 WHERE code_hash = ").bind(code_hash).push(" AND"), now)
}
