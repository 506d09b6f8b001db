//! Shared test helpers: start an in-process iamlite and build real AWS SDK clients against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::config::{BehaviorVersion, Region};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use iamlite::Server;

pub const REGION: &str = "eu-west-2";

pub mod pg;

/// The variable that runs the suites on PostgreSQL (`postgres`, in the cluster
/// `tests/pg/cluster.sh` starts) instead of an in-memory SQLite database.
pub const STORE_ENV: &str = "IAMLITE_TEST_STORE";

/// Whether this run's servers keep their state in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(STORE_ENV).is_ok_and(|v| v == "postgres")
}

/// A builder whose store is this run's: a private in-memory SQLite database, or with
/// `IAMLITE_TEST_STORE=postgres` a fresh PostgreSQL database.
pub async fn builder() -> iamlite::Builder {
    if on_postgres() {
        let url = pg::fresh_database("suite")
            .await
            .expect("IAMLITE_TEST_STORE=postgres needs IAMLITE_TEST_PG (tests/pg/cluster.sh)");
        Server::builder().postgres(url)
    } else {
        Server::builder()
    }
}

pub async fn start() -> Server {
    builder().await.start().await.expect("iamlite starts")
}

fn credentials(key_id: &str, secret: &str) -> Credentials {
    Credentials::new(key_id, secret, None, None, "iamlite-tests")
}

pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

pub fn iam_as(server: &Server, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
    iam_with(server, credentials(key_id, secret))
}

/// An IAM client signing with these credentials (session credentials included).
pub fn iam_with(server: &Server, credentials: Credentials) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(credentials)
        .http_client(http_client())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

pub fn sts_as(server: &Server, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
    sts_with(server, credentials(key_id, secret))
}

/// An STS client signing with these credentials (session credentials included).
pub fn sts_with(server: &Server, credentials: Credentials) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(credentials)
        .http_client(http_client())
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

pub fn root_iam(server: &Server) -> aws_sdk_iam::Client {
    let (id, secret) = server.root_credentials();
    iam_as(server, id, secret)
}

pub fn root_sts(server: &Server) -> aws_sdk_sts::Client {
    let (id, secret) = server.root_credentials();
    sts_as(server, id, secret)
}

/// An AWS error as a test wants to compare it: HTTP status, code, message.
#[derive(Debug, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

pub fn aws_error<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> AwsError {
    let err = result.expect_err("the call should fail");
    let status = err
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|| panic!("no HTTP response: {err:?}"));
    AwsError {
        status,
        code: err.code().unwrap_or_default().to_string(),
        message: err.message().unwrap_or_default().to_string(),
    }
}

pub fn expect_error(actual: AwsError, status: u16, code: &str, message: &str) {
    assert_eq!(
        actual,
        AwsError {
            status,
            code: code.to_string(),
            message: message.to_string()
        }
    );
}

/// Creates a user and one access key for it, returning (key id, secret).
pub async fn user_with_key(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    iam.create_user().user_name(name).send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    (key.access_key_id, key.secret_access_key)
}
