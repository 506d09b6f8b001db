//! User and tag use cases: name uniqueness (ignoring case), DeleteConflict and the tag quota are
//! checked inside the write's transaction.

use super::cache::Invalidate;
use super::mfa::user_has_mfa_device;
use super::page::{encode_marker, paginate, start_key};
use super::rows::{
    count_keys, find_user, fresh_user_id, insert_user, lock_user, upsert_tags, user_by_name,
    user_columns, user_row, user_tags,
};
use super::tx::{Tx, args, sql};
use super::{Store, read_tx, write_tx};
use crate::core::PageRequest;
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{Page, TAGS_PER_USER, Tag, User};
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
        let row = read_tx!(self, |tx| tx.query_opt(
            &sql!("SELECT create_date FROM accounts WHERE account_id = $1"),
            args![account_id]
        ))?;
        row.map_or(Ok(0), |r| r.int(0))
    }

    pub async fn get_user(&self, account_id: &str, name: &str) -> Result<User> {
        read_tx!(self, |tx| get_user(tx, account_id, name))
    }

    pub async fn list_users(
        &self,
        account_id: &str,
        path_prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let start = start_key(page.marker.as_deref(), "u")?;
        let max_items = page.max_items;
        let rows = read_tx!(self, |tx| tx.query(
            &sql!(
                sqlite: concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users
                     WHERE account_id = $1 AND substr(path, 1, length($2)) = $2
                       AND name >= $3 COLLATE NOCASE
                     ORDER BY name COLLATE NOCASE LIMIT $4"
                ),
                postgres: concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users
                     WHERE account_id = $1 AND starts_with(path, $2)
                       AND lower(name) >= lower($3)
                     ORDER BY lower(name) LIMIT $4"
                ),
            ),
            args![account_id, path_prefix, &start, max_items as i64 + 1]
        ))?;
        // ListUsers entries never carry the boundary (use GetUser).
        let items = rows
            .iter()
            .map(|r| {
                user_row(account_id, r).map(|u| User {
                    permissions_boundary: None,
                    ..u
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(items, max_items, |u| encode_marker("u", &u.name)))
    }

    /// Creates `user` (its account, name, path, date, boundary and tags as given) with a fresh
    /// user id, unless its name is taken in the account without regard to case.
    pub async fn create_user(&self, user: User, ids: Arc<IdGen>) -> Result<User> {
        write_tx!(self, Invalidate::Nothing, |tx| create_user(tx, &user, &ids))
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
        // Cached credentials carry the user's name and path.
        write_tx!(self, Invalidate::Everything, |tx| update_user(
            tx,
            &account_id,
            &name,
            &changes,
            now
        ))
    }

    pub async fn delete_user(&self, account_id: &str, name: String) -> Result<()> {
        let account_id = account_id.to_string();
        write_tx!(self, Invalidate::Nothing, |tx| delete_user(
            tx,
            &account_id,
            &name
        ))
    }

    pub async fn list_user_tags(
        &self,
        account_id: &str,
        name: &str,
        page: &PageRequest,
    ) -> Result<Page<Tag>> {
        let start = start_key(page.marker.as_deref(), "t")?;
        let max_items = page.max_items;
        let tags = read_tx!(self, |tx| get_user(tx, account_id, name))?.tags;
        let tags: Vec<Tag> = tags
            .into_iter()
            .filter(|t| t.key.to_lowercase() >= start)
            .take(max_items + 1)
            .collect();
        Ok(paginate(tags, max_items, |t| {
            encode_marker("t", &t.key.to_lowercase())
        }))
    }

    pub async fn tag_user(&self, account_id: &str, name: String, tags: Vec<Tag>) -> Result<()> {
        let account_id = account_id.to_string();
        write_tx!(self, Invalidate::Nothing, |tx| tag_user(
            tx,
            &account_id,
            &name,
            &tags
        ))
    }

    pub async fn untag_user(
        &self,
        account_id: &str,
        name: String,
        keys: Vec<String>,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        write_tx!(self, Invalidate::Nothing, |tx| untag_user(
            tx,
            &account_id,
            &name,
            &keys
        ))
    }
}

async fn get_user(tx: &mut impl Tx, account_id: &str, name: &str) -> Result<User> {
    let mut user = user_by_name(tx, account_id, name).await?;
    user.tags = user_tags(tx, &user.user_id).await?;
    Ok(user)
}

async fn create_user(tx: &mut impl Tx, user: &User, ids: &IdGen) -> Result<User> {
    let taken = || Error::UserAlreadyExists {
        name: user.name.clone(),
    };
    if find_user(tx, &user.account_id, &user.name).await?.is_some() {
        return Err(taken());
    }
    let mut user = user.clone();
    user.user_id = fresh_user_id(tx, ids, &user.account_id).await?;
    // Another node may have inserted the name, in another case, since the check above.
    if !insert_user(tx, &user).await? {
        return Err(taken());
    }
    upsert_tags(tx, &user.user_id, &user.tags).await?;
    Ok(user)
}

async fn update_user(
    tx: &mut impl Tx,
    account_id: &str,
    name: &str,
    changes: &UserUpdate,
    now: i64,
) -> Result<User> {
    let user = lock_user(tx, account_id, name).await?;
    let taken = |new_name: &str| Error::UserAlreadyExists {
        name: new_name.to_string(),
    };
    if let Some(new_name) = &changes.new_name
        && let Some(other) = find_user(tx, account_id, new_name).await?
        && other.user_id != user.user_id
    {
        return Err(taken(new_name));
    }
    let updated = tx
        .execute_unique(
            &sql!(
                "UPDATE users SET name = coalesce($2, name), path = coalesce($3, path),
                    email = coalesce($4, email), last_modified = $5
                 WHERE user_id = $1"
            ),
            args![
                &user.user_id,
                &changes.new_name,
                &changes.new_path,
                &changes.new_email,
                now
            ],
        )
        .await?;
    if updated.is_none() {
        return Err(taken(changes.new_name.as_deref().unwrap_or(name)));
    }
    let new_name = changes.new_name.as_deref().unwrap_or(name);
    let mut updated = find_user(tx, account_id, new_name)
        .await?
        .ok_or(Error::Storage)?;
    updated.tags = user_tags(tx, &updated.user_id).await?;
    Ok(updated)
}

async fn delete_user(tx: &mut impl Tx, account_id: &str, name: &str) -> Result<()> {
    // Locked, so that a key or device being added on another node waits, then finds no user.
    let user = lock_user(tx, account_id, name).await?;
    if count_keys(tx, account_id, Some(&user.user_id)).await? > 0 {
        return Err(Error::UserHasAccessKeys { name: user.name });
    }
    if user_has_mfa_device(tx, &user.user_id).await? {
        return Err(Error::UserHasMfaDevice);
    }
    tx.execute(
        &sql!("DELETE FROM user_tags WHERE user_id = $1"),
        args![&user.user_id],
    )
    .await?;
    tx.execute(
        &sql!("DELETE FROM users WHERE user_id = $1"),
        args![&user.user_id],
    )
    .await?;
    Ok(())
}

async fn tag_user(tx: &mut impl Tx, account_id: &str, name: &str, tags: &[Tag]) -> Result<()> {
    let user = lock_user(tx, account_id, name).await?;
    upsert_tags(tx, &user.user_id, tags).await?;
    let count = tx
        .count(
            &sql!("SELECT COUNT(*) FROM user_tags WHERE user_id = $1"),
            args![&user.user_id],
        )
        .await?;
    if count as usize > TAGS_PER_USER {
        return Err(Error::TagQuota {
            limit: TAGS_PER_USER,
        });
    }
    Ok(())
}

async fn untag_user(tx: &mut impl Tx, account_id: &str, name: &str, keys: &[String]) -> Result<()> {
    let user = lock_user(tx, account_id, name).await?;
    for key in keys {
        let lower = key.to_lowercase();
        tx.execute(
            &sql!("DELETE FROM user_tags WHERE user_id = $1 AND key_lower = $2"),
            args![&user.user_id, &lower],
        )
        .await?;
    }
    Ok(())
}
