//! Accounts ([`crate::store::UserStore`]).

use super::Stmt;
use crate::domain::{AvatarColor, DisplayName, NewUser, Role, Timestamp, UserId};
use crate::store::rows::user_columns;

const SELECT: &str = concat!("SELECT ", user_columns!(), " FROM users u");

/// The new account is an admin when there is no user yet: decided by the
/// insert itself, so a check and an insert cannot be interleaved on SQLite's
/// one writer (two first accounts racing on a database server may both be
/// admins, which only an admin can undo).
pub fn insert(u: &NewUser) -> Stmt {
    Stmt::new(
        "INSERT INTO users (username, username_folded, email, email_folded, display_name, password_hash, \
         avatar_color, created_at, role) SELECT ",
    )
    .bind_list([
        u.username.as_str().to_owned(),
        u.username.folded(),
        u.email.as_str().to_owned(),
        u.email.folded(),
        u.display_name.as_str().to_owned(),
        u.password_hash.clone(),
        u.avatar_color.as_str().to_owned(),
    ])
    .push(", ")
    .bind(u.created_at.as_millis())
    .push(", CASE WHEN EXISTS (SELECT 1 FROM users) THEN 'member' ELSE 'admin' END")
}

/// The role [`insert`] gave the user it stored as `id`.
pub fn role_of(id: UserId) -> Stmt {
    Stmt::new("SELECT role FROM users WHERE id = ").bind(id.0)
}

pub fn by_id(id: UserId) -> Stmt {
    Stmt::new(SELECT).push(" WHERE u.id = ").bind(id.0)
}

pub fn by_username(folded: &str) -> Stmt {
    Stmt::new(SELECT).push(" WHERE u.username_folded = ").bind(folded)
}

pub fn by_email(folded: &str) -> Stmt {
    Stmt::new(SELECT).push(" WHERE u.email_folded = ").bind(folded)
}

/// `None` for an empty list (no query to run).
pub fn by_ids(ids: &[UserId]) -> Option<Stmt> {
    if ids.is_empty() {
        return None;
    }
    Some(Stmt::new(SELECT).push(" WHERE u.id IN (").bind_list(ids.iter().map(|u| u.0)).push(") ORDER BY u.id"))
}

pub fn search(q: Option<&str>, limit: u32, include_deactivated: bool) -> Stmt {
    let mut s = Stmt::new(SELECT).push(" WHERE 1 = 1");
    if !include_deactivated {
        s = s.push(" AND u.deactivated_at IS NULL");
    }
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", like_escaped(q));
        s = s
            .push(" AND (u.username_folded LIKE ")
            .bind(pattern.clone())
            .push(" ESCAPE '!' OR LOWER(u.display_name) LIKE ")
            .bind(pattern)
            .push(" ESCAPE '!')");
    }
    s.push(" ORDER BY u.username_folded LIMIT ").bind(i64::from(limit))
}

/// `q` with LIKE's wildcards and the escape character (`!`, the same in
/// every database's string syntax, unlike a backslash) taken literally.
fn like_escaped(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// `None` when there is nothing to change.
pub fn update_profile(id: UserId, display_name: Option<&DisplayName>, avatar_color: Option<&AvatarColor>) -> Option<Stmt> {
    let mut sets = Vec::new();
    if let Some(d) = display_name {
        sets.push(("display_name = ", d.as_str()));
    }
    if let Some(c) = avatar_color {
        sets.push(("avatar_color = ", c.as_str()));
    }
    if sets.is_empty() {
        return None;
    }
    let mut s = Stmt::new("UPDATE users SET ");
    for (i, (column, value)) in sets.into_iter().enumerate() {
        s = s.push(if i == 0 { "" } else { ", " }).push(column).bind(value);
    }
    Some(s.push(" WHERE id = ").bind(id.0))
}

pub fn set_password_hash(id: UserId, hash: &str) -> Stmt {
    Stmt::new("UPDATE users SET password_hash = ").bind(hash).push(" WHERE id = ").bind(id.0)
}

pub fn set_role(id: UserId, role: Role) -> Stmt {
    Stmt::new("UPDATE users SET role = ").bind(role.as_str()).push(" WHERE id = ").bind(id.0)
}

pub fn set_deactivated(id: UserId, at: Option<Timestamp>) -> Stmt {
    Stmt::new("UPDATE users SET deactivated_at = ").bind(at.map(Timestamp::as_millis)).push(" WHERE id = ").bind(id.0)
}

pub fn count_active_admins() -> Stmt {
    Stmt::new("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND deactivated_at IS NULL")
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_in_a_search_are_taken_literally() {
        assert_eq!(super::like_escaped("a_b%c!d"), "a!_b!%c!!d");
    }
}
