//! User and tag actions through aws-sdk-iam against an in-process iamlite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::types::Tag;
use common::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

#[tokio::test]
async fn create_user_returns_the_user_with_path_arn_id_and_tags() {
    let server = start().await;
    let iam = root_iam(&server);
    let user = iam
        .create_user()
        .user_name("alice")
        .path("/division/")
        .tags(tag("Environment", "Test"))
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.user_name, "alice");
    assert_eq!(user.path, "/division/");
    assert_eq!(user.arn, "arn:aws:iam::123456789012:user/division/alice");
    assert_eq!(user.user_id.len(), 21);
    assert!(user.user_id.starts_with("AIDA"));
    assert_eq!(user.tags(), &[tag("Environment", "Test")]);

    let plain = iam
        .create_user()
        .user_name("bob")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(plain.path, "/");
    assert!(plain.tags.is_none(), "no Tags element for an untagged user");
}

#[tokio::test]
async fn a_permissions_boundary_is_kept_and_shown_by_create_user_and_get_user_only() {
    use aws_sdk_iam::types::PermissionsBoundaryAttachmentType;
    let server = start().await;
    let iam = root_iam(&server);
    let arn = "arn:aws:iam::aws:policy/PowerUserAccess";
    let created = iam
        .create_user()
        .user_name("bounded")
        .permissions_boundary(arn)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    let fetched = iam
        .get_user()
        .user_name("bounded")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    for user in [&created, &fetched] {
        let boundary = user.permissions_boundary().expect("a boundary");
        assert_eq!(boundary.permissions_boundary_arn(), Some(arn));
        assert_eq!(
            boundary.permissions_boundary_type(),
            Some(&PermissionsBoundaryAttachmentType::Policy)
        );
    }
    // ListUsers entries never carry it; renaming keeps it.
    let listed = iam.list_users().send().await.unwrap();
    assert!(listed.users()[0].permissions_boundary().is_none());
    iam.update_user()
        .user_name("bounded")
        .new_user_name("renamed")
        .send()
        .await
        .unwrap();
    let renamed = iam.get_user().user_name("renamed").send().await.unwrap();
    assert_eq!(
        renamed
            .user()
            .unwrap()
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some(arn)
    );

    // Too short for the model, then long enough but not a policy ARN.
    let err = aws_error(
        iam.create_user()
            .user_name("carol")
            .permissions_boundary("arn:aws:iam::x")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        "1 validation error detected: Value at 'permissionsBoundary' failed to satisfy constraint: \
         Member must have length greater than or equal to 20",
    );
    let not_a_policy = "arn:aws:iam::123456789012:user/alice";
    let err = aws_error(
        iam.create_user()
            .user_name("carol")
            .permissions_boundary(not_a_policy)
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "InvalidInput",
        &format!("ARN {not_a_policy} is not valid."),
    );
    assert_eq!(iam.list_users().send().await.unwrap().users().len(), 1);
}

#[tokio::test]
async fn user_names_are_unique_without_regard_to_case() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    for name in ["alice", "ALICE"] {
        let err = aws_error(iam.create_user().user_name(name).send().await);
        expect_error(
            err,
            409,
            "EntityAlreadyExists",
            &format!("User with name {name} already exists."),
        );
    }
    // Lookups ignore case too and answer with the stored spelling.
    let user = iam
        .get_user()
        .user_name("ALICE")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.user_name, "alice");
}

#[tokio::test]
async fn create_user_validates_names_paths_and_tags() {
    let server = start().await;
    let iam = root_iam(&server);
    let cases: Vec<(aws_sdk_iam::operation::create_user::builders::CreateUserFluentBuilder, u16, &str, String)> = vec![
        (
            iam.create_user().user_name("bad/name"),
            400,
            "ValidationError",
            "The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-".into(),
        ),
        (
            iam.create_user().user_name("a".repeat(65)),
            400,
            "ValidationError",
            "1 validation error detected: Value at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64".into(),
        ),
        (
            iam.create_user().user_name("carol").path("nopath"),
            400,
            "ValidationError",
            r"1 validation error detected: Value at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)".into(),
        ),
        (
            iam.create_user().user_name("carol").path(format!("/{}/", "p".repeat(511))),
            400,
            "ValidationError",
            "1 validation error detected: Value at 'path' failed to satisfy constraint: Member must have length less than or equal to 512".into(),
        ),
        (
            iam.create_user().user_name("carol").set_tags(Some((0..51).map(|i| tag(&format!("k{i}"), "v")).collect())),
            400,
            "ValidationError",
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into(),
        ),
        (
            iam.create_user().user_name("carol").tags(tag(&"k".repeat(129), "v")),
            400,
            "ValidationError",
            "1 validation error detected: Value at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128".into(),
        ),
        (
            iam.create_user().user_name("carol").tags(tag("ok", "v")).tags(tag("k", &"v".repeat(257))),
            400,
            "ValidationError",
            "1 validation error detected: Value at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256".into(),
        ),
        (
            iam.create_user().user_name("carol").tags(tag("bad*key", "v")),
            400,
            "ValidationError",
            r"1 validation error detected: Value at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+".into(),
        ),
        // A value that breaks both the pattern and the length gets both, the pattern first.
        (
            iam.create_user().user_name("carol").path(""),
            400,
            "ValidationError",
            r"2 validation errors detected: Value at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F); Value at 'path' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        (
            iam.create_user().user_name("carol").tags(tag("", "v")),
            400,
            "ValidationError",
            r"2 validation errors detected: Value at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+; Value at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
        ),
        // \p{L} is the Unicode letter category: combining marks (Mn, Mc) are not letters.
        (
            iam.create_user().user_name("carol").tags(tag("ok", "cafe\u{301}")),
            400,
            "ValidationError",
            r"1 validation error detected: Value at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*".into(),
        ),
        (
            iam.create_user().user_name("carol").tags(tag("Team", "a")).tags(tag("team", "b")),
            400,
            "InvalidInput",
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
        ),
    ];
    for (request, status, code, message) in cases {
        expect_error(aws_error(request.send().await), status, code, &message);
    }
    // Nothing was created by any of the rejected requests.
    assert!(iam.list_users().send().await.unwrap().users().is_empty());
}

#[tokio::test]
async fn get_user_without_name_answers_for_the_caller() {
    let server = start().await;
    let root = root_iam(&server);
    let me = root.get_user().send().await.unwrap().user.unwrap();
    assert_eq!(me.arn, "arn:aws:iam::123456789012:root");
    assert_eq!(me.user_id, "123456789012");
    assert!(me.create_date.secs() > 0);

    let (id, secret) = user_with_key(&root, "alice").await;
    let alice = iam_as(&server, &id, &secret)
        .get_user()
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(alice.user_name, "alice");
    assert_eq!(alice.arn, "arn:aws:iam::123456789012:user/alice");

    let err = aws_error(root.get_user().user_name("ghost").send().await);
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The user with name ghost cannot be found.",
    );
}

#[tokio::test]
async fn list_users_filters_by_path_prefix_and_paginates_in_name_order() {
    let server = start().await;
    let iam = root_iam(&server);
    for (name, path) in [
        ("dave", "/test-lifecycle-path/"),
        ("Carol", "/"),
        ("bob", "/test-lifecycle-path/"),
        ("alice", "/other/"),
    ] {
        iam.create_user()
            .user_name(name)
            .path(path)
            .send()
            .await
            .unwrap();
    }
    let all = iam.list_users().send().await.unwrap();
    let names: Vec<_> = all.users().iter().map(|u| u.user_name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "Carol", "dave"]);
    assert!(!all.is_truncated());
    assert!(all.users().iter().all(|u| u.tags.is_none()));

    let filtered = iam
        .list_users()
        .path_prefix("/test-life")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = filtered
        .users()
        .iter()
        .map(|u| u.user_name.as_str())
        .collect();
    assert_eq!(names, ["bob", "dave"]);
    let none = iam
        .list_users()
        .path_prefix("/nothing/")
        .send()
        .await
        .unwrap();
    assert!(none.users().is_empty());

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_users()
            .max_items(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.users().iter().map(|u| u.user_name.clone()));
        if !page.is_truncated() {
            assert!(page.marker().is_none());
            break;
        }
        marker = page.marker().map(str::to_string);
    }
    assert_eq!(seen, ["alice", "bob", "Carol", "dave"]);

    let err = aws_error(iam.list_users().path_prefix("nope").send().await);
    expect_error(
        err,
        400,
        "ValidationError",
        r"1 validation error detected: Value at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*",
    );
}

#[tokio::test]
async fn update_user_renames_and_moves_keeping_id_and_create_date() {
    let server = start().await;
    let iam = root_iam(&server);
    let before = iam
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    iam.create_user().user_name("bob").send().await.unwrap();
    iam.update_user()
        .user_name("alice")
        .new_user_name("alicia")
        .new_path("/team/")
        .send()
        .await
        .unwrap();
    let after = iam
        .get_user()
        .user_name("alicia")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(after.user_id, before.user_id);
    assert_eq!(after.create_date, before.create_date);
    assert_eq!(after.arn, "arn:aws:iam::123456789012:user/team/alicia");
    let err = aws_error(iam.get_user().user_name("alice").send().await);
    assert_eq!((err.status, err.code.as_str()), (404, "NoSuchEntity"));

    let err = aws_error(
        iam.update_user()
            .user_name("alicia")
            .new_user_name("BOB")
            .send()
            .await,
    );
    expect_error(
        err,
        409,
        "EntityAlreadyExists",
        "User with name BOB already exists.",
    );
    // A change of case alone is allowed.
    iam.update_user()
        .user_name("alicia")
        .new_user_name("Alicia")
        .send()
        .await
        .unwrap();
    let err = aws_error(
        iam.update_user()
            .user_name("nonexistent-user")
            .new_path("/x/")
            .send()
            .await,
    );
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The user with name nonexistent-user cannot be found.",
    );
}

#[tokio::test]
async fn delete_user_conflicts_while_keys_exist_and_frees_the_name() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, _) = user_with_key(&iam, "alice").await;
    iam.tag_user()
        .user_name("alice")
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap();
    let err = aws_error(iam.delete_user().user_name("alice").send().await);
    expect_error(
        err,
        409,
        "DeleteConflict",
        "Cannot delete entity, must delete access keys first.",
    );
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    let old_id = iam
        .get_user()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .user
        .unwrap()
        .user_id;
    iam.delete_user().user_name("alice").send().await.unwrap();
    let err = aws_error(iam.delete_user().user_name("alice").send().await);
    expect_error(
        err,
        404,
        "NoSuchEntity",
        "The user with name alice cannot be found.",
    );
    let again = iam
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_ne!(again.user_id, old_id);
    assert!(again.tags.is_none(), "tags went with the deleted user");
}

#[tokio::test]
async fn tags_merge_case_insensitively_keep_the_newest_spelling_and_sort_by_key() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    let empty = iam
        .list_user_tags()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert!(empty.tags().is_empty());
    assert!(!empty.is_truncated());

    iam.tag_user()
        .user_name("alice")
        .tags(tag("somekey", "v1"))
        .tags(tag("Team", "platform"))
        .tags(tag("empty", ""))
        .send()
        .await
        .unwrap();
    iam.tag_user()
        .user_name("alice")
        .tags(tag("Somekey", "updatedvalue"))
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_user_tags()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags(),
        &[
            tag("empty", ""),
            tag("Somekey", "updatedvalue"),
            tag("Team", "platform")
        ]
    );

    let page = iam
        .list_user_tags()
        .user_name("alice")
        .max_items(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.tags().len(), 2);
    assert!(page.is_truncated());
    let rest = iam
        .list_user_tags()
        .user_name("alice")
        .marker(page.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.tags(), &[tag("Team", "platform")]);

    iam.untag_user()
        .user_name("alice")
        .tag_keys("SOMEKEY")
        .tag_keys("not-there")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_user_tags()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags(), &[tag("empty", ""), tag("Team", "platform")]);
    let user = iam
        .get_user()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.tags().len(), 2);
}

#[tokio::test]
async fn tag_limits_and_unknown_users() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    let forty: Vec<Tag> = (0..40).map(|i| tag(&format!("k{i:02}"), "v")).collect();
    iam.tag_user()
        .user_name("alice")
        .set_tags(Some(forty))
        .send()
        .await
        .unwrap();
    let more: Vec<Tag> = (0..11).map(|i| tag(&format!("n{i:02}"), "v")).collect();
    let err = aws_error(
        iam.tag_user()
            .user_name("alice")
            .set_tags(Some(more))
            .send()
            .await,
    );
    expect_error(
        err,
        409,
        "LimitExceeded",
        "The number of tags has reached the maximum limit.",
    );
    let tags = iam
        .list_user_tags()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 40, "a refused TagUser adds nothing");

    for err in [
        aws_error(
            iam.tag_user()
                .user_name("nonexistent-user")
                .tags(tag("a", "b"))
                .send()
                .await,
        ),
        aws_error(
            iam.untag_user()
                .user_name("nonexistent-user")
                .tag_keys("a")
                .send()
                .await,
        ),
        aws_error(
            iam.list_user_tags()
                .user_name("nonexistent-user")
                .send()
                .await,
        ),
    ] {
        expect_error(
            err,
            404,
            "NoSuchEntity",
            "The user with name nonexistent-user cannot be found.",
        );
    }
    let err = aws_error(
        iam.untag_user()
            .user_name("alice")
            .tag_keys("bad*key")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        r"1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+, Member must not be null]",
    );
}

#[tokio::test]
async fn xml_special_and_non_ascii_characters_round_trip() {
    let server = start().await;
    let iam = root_iam(&server);
    // Paths may hold any printable ASCII, so they carry the characters XML must escape.
    let path = "/a&b<c>\"d'e/";
    let name = "a.b+c=d,e@f_g-h";
    let value = "x + y = z: é 日本 ü / ok@_-.";
    iam.create_user()
        .user_name(name)
        .path(path)
        .tags(tag("Ünïcode key", value))
        .send()
        .await
        .unwrap();
    let user = iam
        .get_user()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    assert_eq!(user.user_name, name);
    assert_eq!(user.path, path);
    assert_eq!(
        user.arn,
        format!("arn:aws:iam::123456789012:user{path}{name}")
    );
    assert_eq!(user.tags(), &[tag("Ünïcode key", value)]);
    let listed = iam.list_users().path_prefix("/a&b<").send().await.unwrap();
    assert_eq!(listed.users()[0].path, path);
    // Characters outside the tag pattern are refused rather than stored.
    let err = aws_error(
        iam.tag_user()
            .user_name(name)
            .tags(tag("k", "a&b"))
            .send()
            .await,
    );
    assert_eq!((err.status, err.code.as_str()), (400, "ValidationError"));
}
