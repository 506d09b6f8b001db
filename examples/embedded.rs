//! Embedding iamlite: start it in process on a free port and drive it with aws-sdk-iam.
//!
//! `cargo run --example embedded` prints a key rotation done against the embedded server.

use aws_sdk_iam::config::{BehaviorVersion, Region};
use aws_sdk_iam::types::StatusType;
use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = iamlite::Server::builder().id_seed(7).start().await?;
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .credentials_provider(server.credentials())
        // Plain HTTP: the SDK's default client would also work when its TLS feature is on.
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let iam = aws_sdk_iam::Client::from_conf(config);

    iam.create_user().user_name("app").send().await?;
    let old = iam.create_access_key().user_name("app").send().await?;
    let old_id = old
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .unwrap_or_default();
    let new = iam.create_access_key().user_name("app").send().await?;
    let new_id = new
        .access_key()
        .map(|k| k.access_key_id().to_string())
        .unwrap_or_default();
    iam.update_access_key()
        .user_name("app")
        .access_key_id(&old_id)
        .status(StatusType::Inactive)
        .send()
        .await?;
    iam.delete_access_key()
        .user_name("app")
        .access_key_id(&old_id)
        .send()
        .await?;

    let keys = iam.list_access_keys().user_name("app").send().await?;
    println!(
        "iamlite at {} rotated {old_id} -> {new_id}",
        server.endpoint()
    );
    for k in keys.access_key_metadata() {
        println!(
            "  {} {:?}",
            k.access_key_id().unwrap_or_default(),
            k.status()
        );
    }
    server.shutdown().await;
    Ok(())
}
