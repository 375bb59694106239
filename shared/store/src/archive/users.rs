//! The user directory.

use attn_domain::Role;

use super::Archive;
use crate::{StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub school_number: String,
    pub full_name: String,
    pub role: Role,
    pub photo_url: Option<String>,
    pub password_hash: Option<String>,
}

/// A user to create or update; `password_hash: None` keeps an existing one.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub school_number: String,
    pub full_name: String,
    pub role: Role,
    pub photo_url: Option<String>,
    pub password_hash: Option<String>,
}

fn role_of(school_number: &str, text: &str) -> StoreResult<Role> {
    Role::parse(text).ok_or_else(|| StoreError::corrupt(format!("user {school_number}"), format!("role {text:?}")))
}

impl Archive {
    pub async fn user(&self, school_number: &str) -> StoreResult<Option<UserRow>> {
        let mut work = self.work().await?;
        let row = sqlx::query!(
            r#"SELECT school_number, full_name, role, photo_url, password_hash
               FROM users WHERE school_number = $1"#,
            school_number
        )
        .fetch_optional(&mut *work)
        .await?;
        work.done().await?;
        row.map(|row| {
            Ok(UserRow {
                role: role_of(&row.school_number, &row.role)?,
                school_number: row.school_number,
                full_name: row.full_name,
                photo_url: row.photo_url,
                password_hash: row.password_hash,
            })
        })
        .transpose()
    }

    /// Creates or updates users in one statement (roster import, demo
    /// accounts). Returns how many rows were written.
    pub async fn upsert_users(&self, users: &[NewUser]) -> StoreResult<u64> {
        if users.is_empty() {
            return Ok(0);
        }
        let numbers: Vec<&str> = users.iter().map(|u| u.school_number.as_str()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.full_name.as_str()).collect();
        let roles: Vec<&str> = users.iter().map(|u| u.role.as_str()).collect();
        let photos: Vec<Option<&str>> = users.iter().map(|u| u.photo_url.as_deref()).collect();
        let hashes: Vec<Option<&str>> = users.iter().map(|u| u.password_hash.as_deref()).collect();
        let mut work = self.work().await?;
        let result = sqlx::query!(
            r#"INSERT INTO users (school_number, full_name, role, photo_url, password_hash)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT (school_number) DO UPDATE SET
                   full_name = EXCLUDED.full_name,
                   role = EXCLUDED.role,
                   photo_url = COALESCE(EXCLUDED.photo_url, users.photo_url),
                   password_hash = COALESCE(EXCLUDED.password_hash, users.password_hash),
                   updated_at = now()"#,
            &numbers as &[&str],
            &names as &[&str],
            &roles as &[&str],
            &photos as &[Option<&str>],
            &hashes as &[Option<&str>],
        )
        .execute(&mut *work)
        .await?;
        work.done().await?;
        Ok(result.rows_affected())
    }

    /// Adds users that are not in the directory yet, leaving existing ones
    /// alone (demo accounts, people a teacher added by hand).
    pub async fn insert_missing_users(&self, users: &[NewUser]) -> StoreResult<u64> {
        if users.is_empty() {
            return Ok(0);
        }
        let numbers: Vec<&str> = users.iter().map(|u| u.school_number.as_str()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.full_name.as_str()).collect();
        let roles: Vec<&str> = users.iter().map(|u| u.role.as_str()).collect();
        let photos: Vec<Option<&str>> = users.iter().map(|u| u.photo_url.as_deref()).collect();
        let hashes: Vec<Option<&str>> = users.iter().map(|u| u.password_hash.as_deref()).collect();
        let mut work = self.work().await?;
        let result = sqlx::query!(
            r#"INSERT INTO users (school_number, full_name, role, photo_url, password_hash)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT (school_number) DO NOTHING"#,
            &numbers as &[&str],
            &names as &[&str],
            &roles as &[&str],
            &photos as &[Option<&str>],
            &hashes as &[Option<&str>],
        )
        .execute(&mut *work)
        .await?;
        work.done().await?;
        Ok(result.rows_affected())
    }
}
