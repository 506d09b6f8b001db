//! STS actions served on the same endpoint, through aws-sdk-sts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn get_caller_identity_names_root_and_users_with_their_path() {
    let server = start().await;
    let me = root_sts(&server)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));
    assert_eq!(me.user_id(), Some("123456789012"));
    assert_eq!(me.account(), Some("123456789012"));

    let iam = root_iam(&server);
    let user = iam
        .create_user()
        .user_name("alice")
        .path("/division/")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let me = sts_as(&server, &key.access_key_id, &key.secret_access_key)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:iam::123456789012:user/division/alice")
    );
    assert_eq!(me.user_id(), Some(user.user_id.as_str()));
    assert_eq!(me.account(), Some("123456789012"));
}

#[tokio::test]
async fn get_access_key_info_decodes_the_account_from_the_key_id() {
    let server = start().await;
    let sts = root_sts(&server);
    let (id, _) = user_with_key(&root_iam(&server), "alice").await;
    let info = sts
        .get_access_key_info()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(info.account(), Some("123456789012"));
    // A key of another account decodes to that account without being known here.
    let info = sts
        .get_access_key_info()
        .access_key_id("AKIAVCODYLSA53PQK4ZA")
        .send()
        .await
        .unwrap();
    assert_eq!(info.account(), Some("348839763073"));
    // Old-generation ids carry no account; a key iamlite knows still answers.
    let info = sts
        .get_access_key_info()
        .access_key_id("AKIAIOSFODNN7EXAMPLE")
        .send()
        .await
        .unwrap();
    assert_eq!(info.account(), Some("123456789012"));
}

#[tokio::test]
async fn get_access_key_info_rejects_unknown_old_ids_and_bad_input() {
    let server = start().await;
    let sts = root_sts(&server);
    let err = aws_error(
        sts.get_access_key_info()
            .access_key_id("AKIAIOSFODNN7EXAMPLF")
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    let err = aws_error(
        sts.get_access_key_info()
            .access_key_id("AKIA123")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        "1 validation error detected: Value 'AKIA123' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16",
    );
    // STS's model writes the id pattern with `*`, and the message quotes it so.
    let err = aws_error(
        sts.get_access_key_info()
            .access_key_id("AKIA-xxxxxxxxxxxxxxxx")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        r"1 validation error detected: Value 'AKIA-xxxxxxxxxxxxxxxx' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w]*",
    );
}

#[tokio::test]
async fn sts_calls_get_the_same_authentication_errors() {
    let server = start().await;
    let sts = sts_as(&server, "AKIAIOSFODNN7EXAMPLE", "wrong-secret");
    let err = aws_error(sts.get_caller_identity().send().await);
    expect_error(
        err,
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
    let err = aws_error(
        sts_as(&server, "AKIAZZZZZZZZZZZZZZZZ", "x")
            .get_caller_identity()
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
}
