//! Test-only helpers for the `iamlite` binary as a separate process: start it on a database file,
//! read its endpoint from the banner, stop it with SIGTERM or SIGKILL, and build AWS SDK clients
//! for an endpoint string (`tests/common/mod.rs` builds them for an in-process `iamlite::Server`).
//!
//! Include it with `#[path = "common/process.rs"] mod process;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The root key the binary starts with by default.
pub const ROOT_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const ROOT_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The region SDK clients built here sign for.
pub const REGION: &str = "eu-west-2";

/// A running `iamlite` process. Dropping it kills the process (SIGKILL) if it is still running.
pub struct Binary {
    child: Child,
    pub addr: SocketAddr,
    /// The file the process's stderr (its log) goes to.
    pub log_path: PathBuf,
    /// Kept open so the banner's pipe stays valid.
    _stdout: BufReader<ChildStdout>,
}

/// The binary under test: `IAMLITE_TEST_BIN` when set (CI points it at the release build, the
/// one users run), otherwise the one Cargo built for this test run.
pub fn binary_path() -> PathBuf {
    std::env::var_os("IAMLITE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_iamlite")))
}

impl Binary {
    /// Starts `iamlite --listen 127.0.0.1:0 --db <db>`, with stderr written to `log_path` and
    /// `RUST_LOG` set to `rust_log`, and waits for the banner's first line.
    pub fn spawn(db: &Path, log_path: &Path, rust_log: &str) -> Binary {
        Binary::spawn_with(db, log_path, rust_log, &[])
    }

    /// `spawn` with more command-line arguments.
    pub fn spawn_with(db: &Path, log_path: &Path, rust_log: &str, args: &[&str]) -> Binary {
        let log = std::fs::File::create(log_path).expect("creates the log file");
        let mut command = Command::new(binary_path());
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(db)
            .args(args)
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Settings from the environment of whoever runs the tests must not leak in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IAMLITE_") {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().expect("the iamlite binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| ());
            let _ = tx.send((read, line, reader));
        });
        let Ok((read, line, reader)) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "no banner within 60 s; log:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
        };
        read.expect("reads the banner");
        let addr = line
            .trim()
            .strip_prefix("iamlite ")
            .and_then(|rest| rest.split_once(" listening on http://"))
            .and_then(|(_version, addr)| addr.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "unexpected banner line {line:?}; log:\n{}",
                    std::fs::read_to_string(log_path).unwrap_or_default()
                )
            });
        Binary {
            child,
            addr,
            log_path: log_path.to_path_buf(),
            _stdout: reader,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The banner's next `lines` lines (after the first, which `spawn` read).
    pub fn banner_lines(&mut self, lines: usize) -> String {
        let mut out = String::new();
        for _ in 0..lines {
            self._stdout.read_line(&mut out).expect("reads the banner");
        }
        out
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (through `kill(1)`, so the tests need no signal crate).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// SIGKILL, then reaps the process.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `None` while the process runs.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("polls the child")
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn credentials(key_id: &str, secret: &str) -> Credentials {
    Credentials::new(key_id, secret, None, None, "iamlite-process-tests")
}

fn timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// An IAM client for `endpoint`, without retries, signing with the given key.
pub fn iam_at(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials(key_id, secret))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

/// An STS client for `endpoint`, without retries, signing with the given key.
pub fn sts_at(endpoint: &str, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials(key_id, secret))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .timeout_config(timeouts())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

pub fn root_iam_at(endpoint: &str) -> aws_sdk_iam::Client {
    iam_at(endpoint, ROOT_KEY_ID, ROOT_SECRET)
}

/// Every user name, through the SDK's paginator.
pub async fn all_user_names(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_users()
            .max_items(1000)
            .set_marker(marker.take())
            .send()
            .await
            .expect("ListUsers succeeds");
        names.extend(page.users().iter().map(|u| u.user_name().to_string()));
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_string);
        assert!(marker.is_some(), "a truncated page carries a marker");
    }
    names
}
