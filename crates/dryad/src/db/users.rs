//! Queries over the `users` table.

use sqlx::{AnyConnection, FromRow};

use crate::model::EpochMillis;

/// A `users` row.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    /// UUID text.
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// The user with this name, if any.
pub async fn find_by_username(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as::<_, UserRow>(
        "SELECT id, username, password_hash FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(conn)
    .await
}

/// Creates the user, or replaces the password hash of an existing one (same id). Returns the id.
pub async fn upsert(
    conn: &mut AnyConnection,
    new_id: &str,
    username: &str,
    password_hash: &str,
    now: EpochMillis,
) -> Result<String, sqlx::Error> {
    let (id,): (String,) = sqlx::query_as(
        "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash \
         RETURNING id",
    )
    .bind(new_id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}
