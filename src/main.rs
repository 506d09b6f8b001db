//! The `iamlite` binary: serve (print the banner, stop on SIGINT/SIGTERM), or export/import a database's state.

use clap::Parser;
use iamlite::clock::Clock;
use iamlite::config::{Cli, Command, Config, Storage};
use iamlite::state::State;
use iamlite::store::Store;
use iamlite::{Flavor, Server};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// Installs the SIGINT/SIGTERM handlers now, so that a signal sent as soon as the banner appears
/// already means a graceful stop; the returned future completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate())
            .and_then(|term| signal(SignalKind::interrupt()).map(|interrupt| (term, interrupt)));
        async move {
            match handlers {
                Ok((mut term, mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn banner(server: &Server, config: &Config) -> String {
    let (key_id, secret) = server.root_credentials();
    let endpoint = server.endpoint();
    let mut state = match &config.storage {
        Storage::File(path) => format!("SQLite file {}", path.display()),
        Storage::InMemory => "in memory (lost at exit)".to_string(),
        Storage::Postgres(url) => format!(
            "PostgreSQL {} (shared; credentials {})",
            url.redacted(),
            match config.credential_cache {
                iamlite::CredentialCache::Off => "read on every request",
                iamlite::CredentialCache::Notify => "cached, emptied by LISTEN/NOTIFY",
            }
        ),
    };
    if let Some(fault) = server.store().fault() {
        state.push_str(&format!(
            "\n  storage:     READ-ONLY ({}): reads are served, writes fail with 503 until it clears",
            fault.label()
        ));
    }
    let console = if config.console {
        let password = if config.root_login.is_some() {
            " or the root login and password"
        } else {
            ""
        };
        format!("{endpoint}/console (sign in with the root key{password})")
    } else {
        "off (--no-console)".to_string()
    };
    let mut out = format!(
        "iamlite {version} listening on {endpoint}\n\
         \x20 state:       {state}\n\
         \x20 console:     {console}\n\
         \x20 flavor:      {flavor}\n\
         \x20 account:     {account}\n\
         \x20 root key:    AWS_ACCESS_KEY_ID={key_id}\n\
         \x20              AWS_SECRET_ACCESS_KEY={secret}\n\
         try:\n\
         \x20 AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION=us-east-1 \\\n\
         \x20   aws iam create-user --user-name alice --endpoint-url {endpoint}\n",
        version = env!("CARGO_PKG_VERSION"),
        flavor = config.flavor.as_str(),
        account = server.account_id(),
    );
    if config.flavor == Flavor::Outscale {
        let profile = serde_json::json!({
            "default": {
                "access_key": key_id,
                "secret_key": secret,
                "region": OSC_REGION,
                "endpoint": endpoint,
                "https": false,
            }
        });
        out.push_str(&format!(
            "OUTSCALE API: {endpoint}/api/v1\n\
             \x20 ~/.osc/config.json (osc-cli):\n\
             \x20   {profile}\n\
             \x20 environment (osc-sdk-python, oapi-cli):\n\
             \x20   export OSC_ACCESS_KEY={key_id} OSC_SECRET_KEY={secret} OSC_REGION={OSC_REGION} \\\n\
             \x20     OSC_ENDPOINT_API={endpoint}/api/v1\n"
        ));
        if let Some(login) = &config.root_login {
            out.push_str(&format!(
                "\x20 login/password: OSC_LOGIN={login} (the password given with --root-password)\n"
            ));
        }
        out.push_str("\x20 osc-cli api ReadAccessKeys --profile default\n");
    }
    out
}

/// The region the banner's OUTSCALE profile names (any region is accepted).
const OSC_REGION: &str = "eu-west-2";

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("iamlite: {message}");
    ExitCode::FAILURE
}

/// `iamlite export`: the whole state of a stopped server's database as JSON on stdout.
async fn export(storage: Storage) -> ExitCode {
    if let Storage::File(db) = &storage
        && !db.exists()
    {
        return fail(format!("no database at {}", db.display()));
    }
    let store = match Store::connect(&storage, Arc::new(Clock::default())).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let state = store.export().await;
    store.close();
    let json = match state.map(|s| serde_json::to_string_pretty(&s)) {
        Ok(Ok(json)) => json,
        Ok(Err(e)) => return fail(e),
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{json}").is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `iamlite import`: replaces the whole state of a stopped server's database with a JSON export.
async fn import(storage: Storage, file: &Path) -> ExitCode {
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    if let Err(e) = read {
        return fail(format!("cannot read {}: {e}", file.display()));
    }
    let state: State = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return fail(format!("{} is not a state document: {e}", file.display())),
    };
    let store = match Store::connect(&storage, Arc::new(Clock::default())).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let result = store.import(state).await;
    store.close();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `iamlite check`: what the database file holds and whether it is sound, without writing to it.
fn check(db: &Path) -> ExitCode {
    let report = iamlite::store::check(db);
    let mut out = std::io::stdout().lock();
    for (what, finding) in &report.findings {
        if writeln!(out, "{what}: {finding}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    match report.problem {
        None => {
            let _ = writeln!(out, "result: ok");
            ExitCode::SUCCESS
        }
        Some(problem) => {
            let _ = writeln!(out, "result: not usable");
            drop(out);
            fail(problem)
        }
    }
}

/// How long `iamlite health` waits for an answer.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// `iamlite health`: GET `/_iamlite/health` on the loopback address of `listen`.
async fn health(listen: std::net::SocketAddr, token: Option<&str>) -> ExitCode {
    match tokio::time::timeout(HEALTH_TIMEOUT, ask_health(listen, token)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(format!("unhealthy: {e}")),
        Err(_) => fail(format!("no answer within {HEALTH_TIMEOUT:?}")),
    }
}

async fn ask_health(listen: std::net::SocketAddr, token: Option<&str>) -> Result<(), String> {
    use http_body_util::BodyExt;
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut request =
        http::Request::get("/_iamlite/health").header(http::header::HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(iamlite::admin::TOKEN_HEADER, token);
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status.is_success() && health["status"] == "ok" {
        Ok(())
    } else {
        Err(format!("{status} {}", String::from_utf8_lossy(&body)))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // A background thread writes the log, so requests never wait on stderr; it blocks rather
    // than drops lines when it falls behind. The guard flushes what is left at exit.
    let (log_writer, _log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // The default queue (128,000 lines) costs megabytes of memory up front.
        .buffered_lines_limit(4096)
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("iamlite=info")),
        )
        .with_writer(log_writer)
        .init();
    match &cli.command {
        Some(Command::Export { db, store }) => {
            return export(store.clone().unwrap_or(Storage::File(db.clone()))).await;
        }
        Some(Command::Import { db, store, file }) => {
            return import(store.clone().unwrap_or(Storage::File(db.clone())), file).await;
        }
        Some(Command::Check { db }) => return check(db),
        Some(Command::Health {
            listen,
            admin_token,
        }) => return health(*listen, admin_token.as_deref()).await,
        None => {}
    }
    let config = match cli.serve.into_config() {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let shown = config.clone();
    let stop = shutdown_signal();
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => return fail(e),
    };
    // The banner goes to stdout so scripts can read the endpoint; logs go to stderr.
    print!("{}", banner(&server, &shown));
    let _ = std::io::stdout().flush();
    stop.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}
