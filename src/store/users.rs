//! User and tag use cases: name uniqueness (ignoring case), DeleteConflict and the tag quota are
//! checked inside the write's transaction.

use super::Store;
use super::cache::Invalidate;
use super::page::{encode_marker, paginate, start_key};
use super::rows::{
    count_keys, find_user, fresh_user_id, insert_user, upsert_tags, user_by_name, user_columns,
    user_row, user_tags,
};
use crate::core::PageRequest;
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{Page, TAGS_PER_USER, Tag, User};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

/// What UpdateUser changes; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub new_name: Option<String>,
    pub new_path: Option<String>,
    pub new_email: Option<String>,
}

impl Store {
    pub async fn account_create_date(&self, account_id: &str) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT create_date FROM accounts WHERE account_id = ?1")?
                    .query_row([account_id], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
    }

    pub async fn get_user(&self, account_id: &str, name: &str) -> Result<User> {
        self.read(|c| {
            let mut user = user_by_name(c, account_id, name)?;
            user.tags = user_tags(c, &user.user_id)?;
            Ok(user)
        })
    }

    pub async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let start = start_key(page.marker.as_deref(), "u")?;
        let max_items = page.max_items;
        self.read(|c| {
            let mut stmt = c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users
                 WHERE account_id = ?1 AND substr(path, 1, length(?2)) = ?2
                   AND name >= ?3 COLLATE NOCASE
                 ORDER BY name COLLATE NOCASE LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![account_id, path_prefix, start, max_items as i64 + 1],
                |r| {
                    // ListUsers entries never carry the boundary (use GetUser).
                    user_row(account_id, r).map(|u| User {
                        permissions_boundary: None,
                        ..u
                    })
                },
            )?;
            let items = rows.collect::<Result<Vec<_>, _>>()?;
            Ok(paginate(items, max_items, |u| encode_marker("u", &u.name)))
        })
    }

    /// Creates `user` (its account, name, path, date, boundary and tags as given) with a fresh
    /// user id, unless its name is taken in the account without regard to case.
    pub async fn create_user(&self, mut user: User, ids: Arc<IdGen>) -> Result<User> {
        self.write(Invalidate::Nothing, move |c| {
            if find_user(c, &user.account_id, &user.name)?.is_some() {
                return Err(Error::UserAlreadyExists { name: user.name });
            }
            user.user_id = fresh_user_id(c, &ids, &user.account_id)?;
            insert_user(c, &user)?;
            upsert_tags(c, &user.user_id, &user.tags)?;
            Ok(user)
        })
        .await
    }

    /// Renames, moves or re-addresses a user; answers the user as it is afterwards.
    pub async fn update_user(
        &self,
        account_id: &str,
        name: String,
        changes: UserUpdate,
        now: i64,
    ) -> Result<User> {
        let account_id = account_id.to_string();
        let UserUpdate {
            new_name,
            new_path,
            new_email,
        } = changes;
        // Cached credentials carry the user's name and path.
        self.write(Invalidate::Everything, move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            if let Some(new_name) = &new_name
                && let Some(other) = find_user(c, &account_id, new_name)?
                && other.user_id != user.user_id
            {
                return Err(Error::UserAlreadyExists {
                    name: new_name.clone(),
                });
            }
            c.prepare_cached(
                "UPDATE users SET name = coalesce(?2, name), path = coalesce(?3, path),
                    email = coalesce(?4, email), last_modified = ?5
                 WHERE user_id = ?1",
            )?
            .execute(params![user.user_id, new_name, new_path, new_email, now])?;
            let mut updated = find_user(c, &account_id, new_name.as_deref().unwrap_or(&name))?
                .ok_or(Error::Storage)?;
            updated.tags = user_tags(c, &updated.user_id)?;
            Ok(updated)
        })
        .await
    }

    pub async fn delete_user(&self, account_id: &str, name: String) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            if count_keys(c, &account_id, Some(&user.user_id))? > 0 {
                return Err(Error::UserHasAccessKeys { name: user.name });
            }
            if Store::user_has_mfa_device(c, &user.user_id)? {
                return Err(Error::UserHasMfaDevice);
            }
            c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?1")?
                .execute([&user.user_id])?;
            c.prepare_cached("DELETE FROM users WHERE user_id = ?1")?
                .execute([&user.user_id])?;
            Ok(())
        })
        .await
    }

    pub async fn list_user_tags(
        &self,
        account_id: &str,
        name: &str,
        page: &PageRequest,
    ) -> Result<Page<Tag>> {
        let start = start_key(page.marker.as_deref(), "t")?;
        let max_items = page.max_items;
        self.read(|c| {
            let user = user_by_name(c, account_id, name)?;
            let tags: Vec<Tag> = user_tags(c, &user.user_id)?
                .into_iter()
                .filter(|t| t.key.to_lowercase() >= start)
                .take(max_items + 1)
                .collect();
            Ok(paginate(tags, max_items, |t| {
                encode_marker("t", &t.key.to_lowercase())
            }))
        })
    }

    pub async fn tag_user(&self, account_id: &str, name: String, tags: Vec<Tag>) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            upsert_tags(c, &user.user_id, &tags)?;
            let count: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM user_tags WHERE user_id = ?1")?
                .query_row([&user.user_id], |r| r.get(0))?;
            if count as usize > TAGS_PER_USER {
                return Err(Error::TagQuota {
                    limit: TAGS_PER_USER,
                });
            }
            Ok(())
        })
        .await
    }

    pub async fn untag_user(
        &self,
        account_id: &str,
        name: String,
        keys: Vec<String>,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        self.write(Invalidate::Nothing, move |c| {
            let user = user_by_name(c, &account_id, &name)?;
            let mut stmt =
                c.prepare_cached("DELETE FROM user_tags WHERE user_id = ?1 AND key_lower = ?2")?;
            for key in keys {
                stmt.execute(params![user.user_id, key.to_lowercase()])?;
            }
            Ok(())
        })
        .await
    }
}
