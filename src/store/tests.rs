//! Store rules checked directly, without a server: quotas, conflicts, batches and propagation.

use super::*;
use crate::core::PageRequest;
use crate::ids::IdGen;
use crate::model::{Change, KeyStatus, Owner, Secret, User};
use crate::seed::Seed;

const ACCOUNT: &str = "123456789012";

fn test_user(name: &str) -> User {
    User {
        user_id: String::new(),
        account_id: ACCOUNT.into(),
        name: name.into(),
        path: "/".into(),
        create_date: 1,
        permissions_boundary: None,
        tags: Vec::new(),
        email: None,
        last_modified: 1,
    }
}

fn inactive() -> KeyUpdate {
    KeyUpdate {
        status: Some(KeyStatus::Inactive),
        expiration: Change::Keep,
        tag: Change::Keep,
    }
}

fn first_page() -> PageRequest {
    PageRequest {
        marker: None,
        max_items: 100,
    }
}

async fn store() -> (Store, Arc<IdGen>) {
    store_on(Arc::new(Clock::default())).await
}

async fn store_on(clock: Arc<Clock>) -> (Store, Arc<IdGen>) {
    let s = Store::open_with_clock(&Storage::InMemory, clock).unwrap();
    let seed =
        Seed::default().with_default_account(ACCOUNT, "AKIAIOSFODNN7EXAMPLE", &Secret::new("s"));
    let ids = Arc::new(IdGen::seeded(1));
    s.apply_seed(Arc::new(seed), ids.clone(), 0).await.unwrap();
    (s, ids)
}

#[tokio::test]
async fn quota_is_two_keys_and_counts_inactive_ones() {
    let (s, ids) = store().await;
    s.create_user(test_user("alice"), ids.clone())
        .await
        .unwrap();
    let owner = Owner::User("alice".into());
    let create = |now: i64| {
        s.create_access_key(
            ACCOUNT,
            owner.clone(),
            ids.clone(),
            Secret::new("x"),
            now,
            NewKeyDetails::default(),
        )
    };
    let mut created = Vec::new();
    for _ in 0..2 {
        created.push(create(2).await.unwrap().meta.access_key_id);
    }
    s.update_access_key(ACCOUNT, owner.clone(), created[0].clone(), inactive(), 3)
        .await
        .unwrap();
    let err = create(3).await.unwrap_err();
    assert_eq!(err, Error::AccessKeyQuota { limit: 2 });
    let err = s.delete_user(ACCOUNT, "ALICE".into()).await.unwrap_err();
    assert_eq!(
        err,
        Error::UserHasAccessKeys {
            name: "alice".into()
        }
    );
}

#[tokio::test]
async fn failed_write_in_a_batch_changes_nothing() {
    let (s, ids) = store().await;
    s.create_user(test_user("bob"), ids.clone()).await.unwrap();
    let err = s.create_user(test_user("BOB"), ids).await.unwrap_err();
    assert_eq!(err, Error::UserAlreadyExists { name: "BOB".into() });
    let page = s.list_users(ACCOUNT, "/", &first_page()).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn a_drawn_id_already_in_use_is_drawn_again() {
    let (s, _) = store().await;
    // Two generators with the same seed draw the same ids: the second one's first draw collides.
    let user = s
        .create_user(test_user("first"), Arc::new(IdGen::seeded(9)))
        .await
        .unwrap();
    let again = s
        .create_user(test_user("second"), Arc::new(IdGen::seeded(9)))
        .await
        .unwrap();
    assert_ne!(user.user_id, again.user_id);
    // Every generator seeded with 5 draws the same key id first.
    let root_key_drawn_by_seed_5 = |now: i64| {
        s.create_access_key(
            ACCOUNT,
            Owner::Root,
            Arc::new(IdGen::seeded(5)),
            Secret::new("x"),
            now,
            NewKeyDetails::default(),
        )
    };
    let key = root_key_drawn_by_seed_5(1).await.unwrap();
    let other = root_key_drawn_by_seed_5(1).await.unwrap_err();
    // The root user now has its seeded key and one more: the quota, not a collision, refuses.
    assert_eq!(other, Error::AccessKeyQuota { limit: 2 });
    s.delete_access_key(
        ACCOUNT,
        Owner::Root,
        key.meta.access_key_id.clone(),
        2,
        false,
    )
    .await
    .unwrap();
    s.set_propagation_delay(Duration::from_secs(60));
    let third = root_key_drawn_by_seed_5(3).await.unwrap();
    assert_eq!(
        third.meta.access_key_id, key.meta.access_key_id,
        "a deleted id may be drawn again once nothing remembers it"
    );
    s.delete_access_key(
        ACCOUNT,
        Owner::Root,
        third.meta.access_key_id.clone(),
        4,
        false,
    )
    .await
    .unwrap();
    let fourth = root_key_drawn_by_seed_5(5).await.unwrap();
    assert_ne!(
        fourth.meta.access_key_id, third.meta.access_key_id,
        "an id whose deletion is still propagating is not reused"
    );
}

#[tokio::test]
async fn propagated_deletions_are_purged_on_a_timer() {
    let clock = Arc::new(Clock::default());
    let (s, ids) = store_on(clock.clone()).await;
    s.set_propagation_delay(Duration::from_secs(10));
    s.set_purge_interval(Duration::from_millis(50));
    let now = clock.now_millis();
    let key = s
        .create_access_key(
            ACCOUNT,
            Owner::Root,
            ids,
            Secret::new("x"),
            now,
            NewKeyDetails::default(),
        )
        .await
        .unwrap();
    s.delete_access_key(ACCOUNT, Owner::Root, key.meta.access_key_id, now, false)
        .await
        .unwrap();
    assert_eq!(s.tombstones().await.unwrap(), 1);
    // The writer wakes at least every half second; the deletion has not propagated yet.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(s.tombstones().await.unwrap(), 1);
    clock.advance(Duration::from_secs(11));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.tombstones().await.unwrap() != 0 {
        assert!(std::time::Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SQLite rolls a whole transaction back by itself after some errors (a full disk, I/O): the
/// writes batched before the failing one are then gone, and the ones after it must not run
/// outside a transaction (a SAVEPOINT there would commit on RELEASE).
#[tokio::test]
async fn a_batch_rolled_back_by_sqlite_acknowledges_nothing_and_keeps_nothing() {
    let (s, _) = store().await;
    let insert = |id: &'static str| {
        move |c: &Connection| -> Result<()> {
            c.execute(
                "INSERT INTO accounts (account_id, create_date) VALUES (?1, 0)",
                [id],
            )?;
            Ok(())
        }
    };
    // The first write holds the writer, so that the next three queue up as one batch.
    let holder = s.clone();
    let blocker = tokio::spawn(async move {
        holder
            .sqlite()
            .write(Invalidate::Nothing, |_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (first, failing, last) = (
        s.sqlite()
            .write(Invalidate::Nothing, insert("111111111111")),
        s.sqlite()
            .write(Invalidate::Nothing, |c: &Connection| -> Result<()> {
                // What SQLite does after SQLITE_FULL in the middle of a statement.
                c.execute_batch("ROLLBACK")?;
                Err(Error::StorageFault(Fault::DiskFull))
            }),
        s.sqlite()
            .write(Invalidate::Nothing, insert("333333333333")),
    );
    let (first, failing, last) = tokio::join!(first, failing, last);
    blocker.await.unwrap().unwrap();
    assert_eq!(first, Err(Error::StorageFault(Fault::DiskFull)));
    assert_eq!(failing, Err(Error::StorageFault(Fault::DiskFull)));
    assert_eq!(last, Err(Error::StorageFault(Fault::DiskFull)));
    let kept: i64 = s
        .sqlite()
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM accounts WHERE account_id IN ('111111111111', '333333333333')",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(kept, 0, "nothing of the rolled-back batch is kept");
    // The writer goes on with the next batch.
    s.sqlite()
        .write(Invalidate::Nothing, insert("444444444444"))
        .await
        .unwrap();
}
