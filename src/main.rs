//! The `iamlite` binary: read the configuration, start the server, print the banner, stop on SIGINT/SIGTERM.

use clap::Parser;
use iamlite::Server;
use iamlite::config::{Cli, Storage};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn banner(server: &Server, storage: &Storage) -> String {
    let (key_id, secret) = server.root_credentials();
    let endpoint = server.endpoint();
    let state = match storage {
        Storage::File(path) => format!("SQLite file {}", path.display()),
        Storage::InMemory => "in memory (lost at exit)".to_string(),
    };
    format!(
        "iamlite {version} listening on {endpoint}\n\
         \x20 state:       {state}\n\
         \x20 account:     {account}\n\
         \x20 root key:    AWS_ACCESS_KEY_ID={key_id}\n\
         \x20              AWS_SECRET_ACCESS_KEY={secret}\n\
         try:\n\
         \x20 AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION=us-east-1 \\\n\
         \x20   aws iam create-user --user-name alice --endpoint-url {endpoint}\n",
        version = env!("CARGO_PKG_VERSION"),
        account = server.account_id(),
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("iamlite=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = cli.into_config();
    let storage = config.storage.clone();
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("iamlite: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The banner goes to stdout so scripts can read the endpoint; logs go to stderr.
    print!("{}", banner(&server, &storage));
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}
