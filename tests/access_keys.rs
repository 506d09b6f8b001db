//! Access-key actions through aws-sdk-iam and aws-sdk-sts against an in-process iamlite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::types::StatusType;
use common::*;

#[tokio::test]
async fn create_access_key_returns_an_aws_shaped_active_key_that_works_at_once() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    assert_eq!(key.user_name, "alice");
    assert_eq!(key.status, StatusType::Active);
    assert_eq!(key.access_key_id.len(), 20);
    assert!(
        key.access_key_id.starts_with("AKIARZPUZDIK"),
        "{}",
        key.access_key_id
    );
    assert_eq!(key.secret_access_key.len(), 40);
    assert!(key.create_date.is_some());

    let me = sts_as(&server, &key.access_key_id, &key.secret_access_key)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    assert_eq!(me.account(), Some("123456789012"));
    assert!(me.user_id().unwrap().starts_with("AIDA"));
}

#[tokio::test]
async fn third_key_hits_the_quota_even_when_one_is_inactive() {
    let server = start().await;
    let iam = root_iam(&server);
    let (first, _) = user_with_key(&iam, "alice").await;
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&first)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let err = aws_error(iam.create_access_key().user_name("alice").send().await);
    expect_error(
        err,
        409,
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );
    let keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 2);
}

#[tokio::test]
async fn inactive_key_is_rejected_with_invalid_client_token_id_and_works_again_when_reactivated() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    let alice = sts_as(&server, &id, &secret);
    alice.get_caller_identity().send().await.unwrap();

    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let err = aws_error(alice.get_caller_identity().send().await);
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    let err = aws_error(iam_as(&server, &id, &secret).list_users().send().await);
    assert_eq!(err.code, "InvalidClientTokenId");

    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    alice.get_caller_identity().send().await.unwrap();
}

#[tokio::test]
async fn deleted_key_is_rejected_and_disappears_from_the_listing() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    // Used first, so that the server has it cached when it is deleted.
    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    let err = aws_error(
        sts_as(&server, &id, &secret)
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(
        (err.status, err.code.as_str()),
        (403, "InvalidClientTokenId")
    );
    let keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert!(keys.access_key_metadata().is_empty());
    assert!(!keys.is_truncated());
    let err = aws_error(
        iam.delete_access_key()
            .user_name("alice")
            .access_key_id(&id)
            .send()
            .await,
    );
    expect_error(
        err,
        404,
        "NoSuchEntity",
        &format!("The Access Key with id {id} cannot be found."),
    );
}

#[tokio::test]
async fn unknown_users_and_keys_get_no_such_entity() {
    let server = start().await;
    let iam = root_iam(&server);
    let err = aws_error(
        iam.create_access_key()
            .user_name("nonexistent-user")
            .send()
            .await,
    );
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The user with name nonexistent-user cannot be found.",
    );
    let err = aws_error(iam.list_access_keys().user_name("ghost").send().await);
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The user with name ghost cannot be found.",
    );
    iam.create_user().user_name("alice").send().await.unwrap();
    let err = aws_error(
        iam.update_access_key()
            .user_name("alice")
            .access_key_id("AKIAIOSFODNN7EXAMPLE")
            .status(StatusType::Inactive)
            .send()
            .await,
    );
    // The root key exists, but not as one of alice's keys.
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found.",
    );
}

#[tokio::test]
async fn a_user_manages_its_own_keys_without_user_name() {
    let server = start().await;
    let root = root_iam(&server);
    let (id, secret) = user_with_key(&root, "alice").await;
    let alice = iam_as(&server, &id, &secret);
    let second = alice
        .create_access_key()
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    assert_eq!(second.user_name, "alice");
    let keys = alice.list_access_keys().send().await.unwrap();
    let ids: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .map(|k| k.access_key_id().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![id.clone(), second.access_key_id.clone()]);
    alice
        .update_access_key()
        .access_key_id(&second.access_key_id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    alice
        .delete_access_key()
        .access_key_id(&second.access_key_id)
        .send()
        .await
        .unwrap();
    let keys = root
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
}

#[tokio::test]
async fn root_key_acts_on_the_root_users_own_keys() {
    let server = start().await;
    let root = root_iam(&server);
    let keys = root.list_access_keys().send().await.unwrap();
    let listed: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .map(|k| (k.access_key_id().unwrap(), k.user_name()))
        .collect();
    assert_eq!(listed, vec![("AKIAIOSFODNN7EXAMPLE", None)]);
    let extra = root
        .create_access_key()
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let err = aws_error(root.create_access_key().send().await);
    expect_error(
        err,
        409,
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );
    let me = sts_as(&server, &extra.access_key_id, &extra.secret_access_key)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));
    assert_eq!(me.user_id(), Some("123456789012"));
    root.delete_access_key()
        .access_key_id(&extra.access_key_id)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn list_access_keys_paginates_with_markers() {
    let server = start().await;
    let iam = root_iam(&server);
    let (first, _) = user_with_key(&iam, "alice").await;
    let second = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let page1 = iam
        .list_access_keys()
        .user_name("alice")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert!(page1.is_truncated());
    assert_eq!(
        page1.access_key_metadata()[0].access_key_id(),
        Some(first.as_str())
    );
    let page2 = iam
        .list_access_keys()
        .user_name("alice")
        .max_items(1)
        .marker(page1.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!page2.is_truncated());
    assert_eq!(page2.marker(), None);
    assert_eq!(
        page2.access_key_metadata()[0].access_key_id(),
        Some(second.as_str())
    );

    let err = aws_error(
        iam.list_access_keys()
            .user_name("alice")
            .marker("not-a-marker")
            .send()
            .await,
    );
    expect_error(err, 400, "ValidationError", "Invalid Marker.");
    let err = aws_error(iam.list_access_keys().max_items(1001).send().await);
    expect_error(
        err,
        400,
        "ValidationError",
        "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000",
    );
}

#[tokio::test]
async fn get_access_key_last_used_is_na_before_use_and_records_service_and_region_after() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    let before = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(before.user_name(), Some("alice"));
    let used = before.access_key_last_used().unwrap();
    assert_eq!(used.service_name(), "N/A");
    assert_eq!(used.region(), "N/A");
    assert!(used.last_used_date().is_none());

    iam_as(&server, &id, &secret)
        .list_users()
        .send()
        .await
        .unwrap();
    let after = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    let used = after.access_key_last_used().unwrap();
    assert_eq!(used.service_name(), "iam");
    assert_eq!(used.region(), REGION);
    let when = used.last_used_date().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - when).abs() < 5, "{when} vs {now}");

    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let used = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap()
        .access_key_last_used
        .unwrap();
    assert_eq!(used.service_name(), "sts");
}

#[tokio::test]
async fn get_access_key_last_used_on_an_unknown_key_is_access_denied() {
    let server = start().await;
    let iam = root_iam(&server);
    let err = aws_error(
        iam.get_access_key_last_used()
            .access_key_id("AKIAIOSFODNN7EXAMPLF")
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        "User: arn:aws:iam::123456789012:root is not authorized to perform iam:GetAccessKeyLastUsed on resource: access key AKIAIOSFODNN7EXAMPLF",
    );
}

#[tokio::test]
async fn access_key_parameters_are_validated_with_aws_wording() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    let err = aws_error(
        iam.update_access_key()
            .user_name("alice")
            .access_key_id("AKIAIOSFODNN7EXAMPLE")
            .status(StatusType::from("Disabled"))
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        "1 validation error detected: Value at 'status' failed to satisfy constraint: Member must satisfy enum value set",
    );
    let err = aws_error(
        iam.delete_access_key()
            .user_name("alice")
            .access_key_id("AKIA-not-a-word-char")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        r"1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w]+",
    );
    let err = aws_error(
        iam.delete_access_key()
            .user_name("alice")
            .access_key_id("SHORT")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        "1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16",
    );
    let err = aws_error(iam.list_access_keys().user_name("bad/name").send().await);
    expect_error(
        err,
        400,
        "ValidationError",
        "The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-",
    );
    let err = aws_error(
        iam.update_access_key()
            .user_name("alice")
            .access_key_id("AKIAIOSFODNN7EXAMPLE")
            .status(StatusType::Expired)
            .send()
            .await,
    );
    assert_eq!((err.status, err.code.as_str()), (400, "InvalidInput"));
}

#[tokio::test]
async fn renamed_user_keeps_its_keys_and_the_key_shows_the_new_arn() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    let before = sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(before.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    iam.update_user()
        .user_name("alice")
        .new_user_name("alicia")
        .new_path("/team/")
        .send()
        .await
        .unwrap();
    let keys = iam
        .list_access_keys()
        .user_name("alicia")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata()[0].user_name(), Some("alicia"));
    let me = sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/team/alicia"));
}
