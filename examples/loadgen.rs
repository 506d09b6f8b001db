//! Reproducible load benchmark for iamlite (or any IAM/STS Query endpoint, such as moto_server).
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example loadgen -- --users 1000                # spawns target/release/iamlite
//! cargo run --release --example loadgen -- --smoke                     # 2 s per workload, 100 users
//! cargo run --release --example loadgen -- --endpoint http://127.0.0.1:5000 \
//!     --access-key-id AKIAIOSFODNN7EXAMPLE --secret-access-key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
//!     --server-pid "$(cat target/moto.pid)" --workloads W1,W4 --label moto
//! bash tests/pg/cluster.sh sh -c 'cargo run --release --example loadgen -- --store "$IAMLITE_TEST_PG" --nodes 3 --workloads W1,W4'
//! ```
//!
//! Without `--endpoint` the release binary (`--spawn`, default `target/release/iamlite`) is started
//! twice: once on a fresh empty database to measure the cold start (spawn until the first 200 of a
//! signed GetCallerIdentity) and the idle RSS, and once on a database seeded in-process with
//! `Store::apply_seed` (users `u000001`.., one access key each) for the workloads. Against an
//! external endpoint the users and keys are created over HTTP with signed CreateUser and
//! CreateAccessKey requests.
//!
//! The spawned server keeps its state in a SQLite file (`--db`) unless `--store
//! postgres://USER[:PASSWORD]@HOST[:PORT]/DB` is given: then the run creates two fresh databases
//! on that PostgreSQL server through the URL's database (its user needs CREATEDB), one empty for
//! the cold start and one seeded in-process (`Store::connect` on its URL) for the workloads, passes
//! them to the server(s) with `--store`, and drops both at the end. `--nodes N` (PostgreSQL only,
//! default 1) spawns N servers on the seeded database and spreads the connections round-robin over
//! them; the requests are signed once for the first node's `Host`, as for nodes behind one load
//! balancer, and every node accepts them. The table then shows the aggregate (RSS and server CPU
//! summed over the nodes; PostgreSQL's own CPU counts as "other"), followed by each node's req/s
//! and p99.
//!
//! Every request is a `POST /` form signed in the `Authorization` header with the target's root
//! credentials (`aws_sigv4::http_request::sign`, region us-east-1, service `iam` or `sts`). Requests
//! are signed right before their workload starts and replayed as-is (a signature stays valid for
//! 15 minutes), except DeleteAccessKey, whose key id comes from the CreateAccessKey response.
//!
//! Workloads (each runs for `--duration` over `--connections` HTTP/1.1 keep-alive connections,
//! each connection sending one request at a time, closed loop):
//! - W1 read: ListAccessKeys of a random user.
//! - W2 update: UpdateAccessKey of a random user's seeded key, toggling it Active/Inactive.
//! - W3 churn: CreateAccessKey for a random user, then DeleteAccessKey of the new key (2 writes,
//!   2 requests). A user is held by one connection at a time, so its quota of 2 keys is never hit.
//! - W4 mixed: each operation is drawn independently: 80% W1, 15% W2, 2.5% W3 (a create+delete
//!   pair, i.e. 2 requests), 2.5% GetCallerIdentity (STS, signed by the root key).
//!
//! With more than `--sample` users (default 20,000) the workloads use a random sample of that
//! many users, so pre-signing stays cheap. Every response must be 200: any other status, or a
//! transport error, fails the run (exit code 1) unless `--allow-errors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use clap::Parser;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use iamlite::config::{
    DEFAULT_ACCOUNT_ID, DEFAULT_ROOT_ACCESS_KEY_ID, DEFAULT_ROOT_SECRET_ACCESS_KEY,
    redact_database_url,
};
use iamlite::ids::IdGen;
use iamlite::model::{KeyStatus, Secret};
use iamlite::seed::{Seed, SeedAccount, SeedKey, SeedUser};
use iamlite::store::Store;
use iamlite::{Clock, DatabaseUrl, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_postgres::NoTls;

const REGION: &str = "us-east-1";
const FORM: &str = "application/x-www-form-urlencoded";
const IAM_VERSION: &str = "2010-05-08";
const STS_VERSION: &str = "2011-06-15";
/// Signatures are accepted for 15 minutes; a workload must finish well within that.
const MAX_DURATION: Duration = Duration::from_secs(14 * 60);
/// W4's mix, in thousandths of the operations drawn (cumulative bounds below).
const W4_LIST: u32 = 800;
const W4_UPDATE: u32 = 150;
const W4_CHURN: u32 = 25;
const W4_GCI: u32 = 25;
const _: () = assert!(W4_LIST + W4_UPDATE + W4_CHURN + W4_GCI == 1000);
const W4_MIX: &str = "per operation: 80% ListAccessKeys (W1), 15% UpdateAccessKey (W2), \
                      2.5% CreateAccessKey+DeleteAccessKey pair (W3, 2 requests), \
                      2.5% GetCallerIdentity (STS, root key)";

#[derive(Debug, Parser)]
#[command(about = "Load benchmark for iamlite or any IAM/STS Query endpoint")]
struct Args {
    /// Target this endpoint instead of spawning the iamlite binary (e.g. moto_server's URL).
    #[arg(long)]
    endpoint: Option<String>,
    /// Root access key id of the target.
    #[arg(long, default_value = DEFAULT_ROOT_ACCESS_KEY_ID)]
    access_key_id: String,
    /// Root secret access key of the target.
    #[arg(long, default_value = DEFAULT_ROOT_SECRET_ACCESS_KEY, hide_default_value = true)]
    secret_access_key: String,
    /// The iamlite binary to spawn when no --endpoint is given.
    #[arg(long, default_value = "target/release/iamlite")]
    spawn: PathBuf,
    /// Keep the spawned servers' state on this PostgreSQL server (postgres://USER@HOST:PORT/DB)
    /// instead of a SQLite file; each run creates (and drops) fresh databases through it.
    #[arg(long, conflicts_with = "endpoint")]
    store: Option<String>,
    /// iamlite processes to spawn on the one --store database; connections go round-robin.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Account id of the spawned server's default account.
    #[arg(long, default_value = DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Users to create, each with one access key (up to 1,000,000).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// At most this many (randomly chosen) users are used by the workloads and pre-signed.
    #[arg(long, default_value_t = 20_000)]
    sample: usize,
    /// How long each workload runs (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Concurrent HTTP/1.1 keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "W1,W2,W3,W4")]
    workloads: Vec<Workload>,
    /// Quick check: 2 s per workload and 100 users.
    #[arg(long)]
    smoke: bool,
    /// Do not fail the run when responses other than 2xx (or transport errors) occur.
    #[arg(long)]
    allow_errors: bool,
    /// Process id of an external server, to report its RSS and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/loadgen.json")]
    json: PathBuf,
    /// Name of the target in the output (default: "iamlite" when spawned, else the endpoint).
    #[arg(long)]
    label: Option<String>,
    /// Worker threads of the client's runtime (client and server share the machine).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Seed of the client's random choices and of the seeded ids.
    #[arg(long, default_value_t = 42)]
    rng_seed: u64,
    /// Append the spawned servers' stderr (their request logs) to this file, emptied at the start,
    /// instead of sending it to /dev/null.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// Prefix of the user names (u000001, ...); change it to rerun against a target that kept state.
    #[arg(long, default_value = "u")]
    user_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    #[value(name = "W1", alias = "w1")]
    W1,
    #[value(name = "W2", alias = "w2")]
    W2,
    #[value(name = "W3", alias = "w3")]
    W3,
    #[value(name = "W4", alias = "w4")]
    W4,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::W1 => "W1 read",
            Workload::W2 => "W2 update",
            Workload::W3 => "W3 churn",
            Workload::W4 => "W4 mixed",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Workload::W1 => "ListAccessKeys of a random user",
            Workload::W2 => "UpdateAccessKey toggling a random user's key Active/Inactive",
            Workload::W3 => "CreateAccessKey then DeleteAccessKey for a random user (2 writes)",
            Workload::W4 => W4_MIX,
        }
    }
}

/// The request kinds, for per-kind counts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    List = 0,
    Update = 1,
    Create = 2,
    Delete = 3,
    Gci = 4,
}

const KIND_NAMES: [&str; 5] = [
    "ListAccessKeys",
    "UpdateAccessKey",
    "CreateAccessKey",
    "DeleteAccessKey",
    "GetCallerIdentity",
];

// --- signing ---------------------------------------------------------------------------------

/// A signed `POST /` form request, serialised once as HTTP/1.1 bytes and replayed until its
/// signature expires, so that the client spends its time sending, not building requests.
#[derive(Clone)]
struct Prepared {
    wire: Bytes,
}

impl Prepared {
    fn new(headers: &HeaderMap, body: &str) -> Self {
        let mut wire = Vec::with_capacity(512 + body.len());
        wire.extend_from_slice(b"POST / HTTP/1.1\r\n");
        for (name, value) in headers {
            wire.extend_from_slice(name.as_str().as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        wire.extend_from_slice(body.as_bytes());
        Prepared {
            wire: Bytes::from(wire),
        }
    }

    fn request(&self) -> Bytes {
        self.wire.clone()
    }
}

struct Signer {
    identity: Identity,
    host: String,
}

impl Signer {
    fn new(access_key_id: &str, secret: &str, host: &str) -> Self {
        Signer {
            identity: Credentials::new(access_key_id, secret, None, None, "loadgen").into(),
            host: host.to_string(),
        }
    }

    /// Signs `body` (a form) for `service` in the `Authorization` header, at the current time.
    fn sign(&self, service: &str, body: String) -> Prepared {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("signing params")
            .into();
        let headers = [("host", self.host.as_str()), ("content-type", FORM)];
        let signable = SignableRequest::new(
            "POST",
            "/",
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .expect("signable request");
        let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
        let mut map = HeaderMap::with_capacity(6);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        Prepared::new(&map, &body)
    }

    fn iam(&self, action: &str, params: &[(&str, &str)]) -> Prepared {
        let mut body = format!("Action={action}");
        for (k, v) in params {
            // Names and ids used here are [A-Za-z0-9]: nothing to percent-encode.
            body.push_str(&format!("&{k}={v}"));
        }
        body.push_str(&format!("&Version={IAM_VERSION}"));
        self.sign("iam", body)
    }

    fn list_access_keys(&self, user: &str) -> Prepared {
        self.iam("ListAccessKeys", &[("UserName", user)])
    }

    fn update_access_key(&self, user: &str, key: &str, status: &str) -> Prepared {
        self.iam(
            "UpdateAccessKey",
            &[("AccessKeyId", key), ("Status", status), ("UserName", user)],
        )
    }

    fn create_access_key(&self, user: &str) -> Prepared {
        self.iam("CreateAccessKey", &[("UserName", user)])
    }

    fn delete_access_key(&self, user: &str, key: &str) -> Prepared {
        self.iam(
            "DeleteAccessKey",
            &[("AccessKeyId", key), ("UserName", user)],
        )
    }

    fn create_user(&self, user: &str) -> Prepared {
        self.iam("CreateUser", &[("UserName", user)])
    }

    fn get_caller_identity(&self) -> Prepared {
        self.sign(
            "sts",
            format!("Action=GetCallerIdentity&Version={STS_VERSION}"),
        )
    }
}

/// The text of the first `<name>` element of an XML body.
fn element<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find('<')?;
    Some(&text[start..start + len])
}

// --- HTTP ------------------------------------------------------------------------------------

const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// One keep-alive HTTP/1.1 connection speaking the protocol directly (one request in flight);
/// reconnects (and counts it) after the server closed it.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    opened: u64,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            opened: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.opened += 1;
        Ok(())
    }

    /// Sends one request and reads the whole response. A transport error drops the connection.
    async fn send(&mut self, req: Bytes) -> Result<(StatusCode, Bytes), String> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let result = self.exchange_within(&req).await;
        let result = match result {
            // A keep-alive connection the server closed while idle: one fresh attempt.
            Err(e) if e.starts_with("closed") => {
                self.connect().await?;
                self.exchange_within(&req).await
            }
            other => other,
        };
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// One exchange, bounded so that a stuck server fails the run instead of hanging it.
    async fn exchange_within(&mut self, req: &[u8]) -> Result<(StatusCode, Bytes), String> {
        tokio::time::timeout(EXCHANGE_TIMEOUT, self.exchange(req))
            .await
            .unwrap_or_else(|_| Err("no response within 30 s".to_string()))
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<(StatusCode, Bytes), String> {
        let stream = self.stream.as_mut().ok_or("not connected")?;
        stream
            .write_all(req)
            .await
            .map_err(|e| format!("closed: write: {e}"))?;
        self.buf.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = parsed
                .parse(&self.buf)
                .map_err(|e| format!("response head: {e}"))?
            {
                let status = StatusCode::from_u16(parsed.code.unwrap_or(0))
                    .map_err(|e| format!("status: {e}"))?;
                let length = parsed
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .ok_or("response without content-length")?;
                // A server that will not keep the connection (moto_server) gets a fresh one next time.
                let closing = parsed.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("connection")
                        && h.value.eq_ignore_ascii_case(b"close")
                });
                while self.buf.len() < head_len + length {
                    if stream
                        .read_buf(&mut self.buf)
                        .await
                        .map_err(|e| format!("response body: {e}"))?
                        == 0
                    {
                        return Err("response body cut short".into());
                    }
                }
                let body = Bytes::copy_from_slice(&self.buf[head_len..head_len + length]);
                if closing {
                    self.stream = None;
                }
                return Ok((status, body));
            }
            let n = stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| format!("response: {e}"))?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    "closed: before the response".to_string()
                } else {
                    "response cut short".to_string()
                });
            }
        }
    }
}

// --- process measurements --------------------------------------------------------------------

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process (all its threads), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// Busy CPU seconds of the whole machine (all cores), from `/proc/stat`.
fn machine_busy_seconds(ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    let busy = v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?;
    Some(busy / ticks)
}

/// "1 node", "3 nodes".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// --- spawning iamlite ------------------------------------------------------------------------

struct Spawned {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    /// Spawn until the banner line was read.
    banner: Duration,
    /// Spawn until the first 200 of a signed GetCallerIdentity.
    first_ok: Duration,
    /// (VmRSS, VmHWM) in KiB right after the first 200.
    rss_after_start: Option<(u64, u64)>,
}

async fn spawn_iamlite(args: &Args, storage: &Storage) -> Result<Spawned, String> {
    let stderr = match &args.server_log {
        // Appended to, so that the logs of several nodes (and of the cold start) all stay.
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let store_args: [&std::ffi::OsStr; 2] = match storage {
        Storage::File(db) => ["--db".as_ref(), db.as_ref()],
        Storage::Postgres(url) => ["--store".as_ref(), url.expose().as_ref()],
        Storage::InMemory => ["--store".as_ref(), "memory".as_ref()],
    };
    let started = Instant::now();
    let mut child = Command::new(&args.spawn)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .args(store_args)
        .arg("--account-id")
        .arg(&args.account_id)
        .arg("--root-access-key-id")
        .arg(&args.access_key_id)
        .arg("--root-secret-access-key")
        .arg(&args.secret_access_key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (build it with `cargo build --release`)",
                args.spawn.display()
            )
        })?;
    let pid = child.id().ok_or("the server exited at once")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| "no banner within 60 s".to_string())?
        .map_err(|e| format!("reading the banner: {e}"))?
        .ok_or("the server exited before printing its banner")?;
    let banner = started.elapsed();
    // Keep reading stdout so the server never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let endpoint = first
        .split("listening on ")
        .nth(1)
        .ok_or_else(|| format!("unexpected banner: {first}"))?
        .trim()
        .to_string();
    let addr = endpoint_addr(&endpoint)?;
    let signer = Signer::new(&args.access_key_id, &args.secret_access_key, &host_of(addr));
    let gci = signer.get_caller_identity();
    let mut conn = Conn::new(addr);
    loop {
        match conn.send(gci.request()).await {
            Ok((status, _)) if status == StatusCode::OK => break,
            Ok((status, body)) => {
                return Err(format!(
                    "GetCallerIdentity answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(e) => return Err(format!("no answer within 60 s: {e}")),
        }
    }
    let first_ok = started.elapsed();
    Ok(Spawned {
        rss_after_start: rss_kib(pid),
        child,
        pid,
        addr,
        banner,
        first_ok,
    })
}

/// SIGTERM (the server flushes and exits 0), then SIGKILL after 20 s.
async fn stop(mut spawned: Spawned) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(spawned.pid.to_string())
        .status();
    if tokio::time::timeout(Duration::from_secs(20), spawned.child.wait())
        .await
        .is_err()
    {
        let _ = spawned.child.kill().await;
    }
}

fn endpoint_addr(endpoint: &str) -> Result<SocketAddr, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("endpoint {endpoint} must be http://HOST:PORT"))?;
    let hostport = rest.trim_end_matches('/');
    use std::net::ToSocketAddrs;
    hostport
        .to_socket_addrs()
        .map_err(|e| format!("endpoint {endpoint}: {e}"))?
        .next()
        .ok_or_else(|| format!("endpoint {endpoint} resolves to nothing"))
}

fn host_of(addr: SocketAddr) -> String {
    addr.to_string()
}

// --- databases -------------------------------------------------------------------------------

/// Where a spawned server keeps its state.
enum Database {
    Sqlite(PathBuf),
    Postgres { name: String, url: DatabaseUrl },
}

impl Database {
    fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    fn storage(&self) -> Storage {
        match self {
            Database::Sqlite(path) => Storage::File(path.clone()),
            Database::Postgres { url, .. } => Storage::Postgres(url.clone()),
        }
    }
}

/// The PostgreSQL server behind `--store`, reached through the URL's database. Every run makes
/// its own databases there, so that it never meets the rows of an earlier run (or of a test),
/// and drops them when it ends.
struct PgAdmin {
    base: String,
    client: tokio_postgres::Client,
    connection: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    /// Unique to this run: unix seconds and pid.
    prefix: String,
    created: Vec<String>,
}

impl PgAdmin {
    async fn connect(base: &str) -> Result<PgAdmin, String> {
        if !base.starts_with("postgres://") && !base.starts_with("postgresql://") {
            return Err(format!(
                "--store {}: expected postgres://USER@HOST:PORT/DATABASE",
                redact_database_url(base)
            ));
        }
        let (client, connection) = tokio_postgres::connect(base, NoTls)
            .await
            .map_err(|e| format!("connecting to {}: {e}", redact_database_url(base)))?;
        let connection = tokio::spawn(connection);
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(PgAdmin {
            base: base.to_string(),
            client,
            connection,
            prefix: format!("loadgen_{secs}_{}", std::process::id()),
            created: Vec::new(),
        })
    }

    /// Creates the empty database `<prefix>_<suffix>`.
    async fn create(&mut self, suffix: &str) -> Result<Database, String> {
        // Made of [a-z0-9_] only, so quoting it cannot be escaped.
        let name = format!("{}_{suffix}", self.prefix);
        self.client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| {
                format!(
                    "CREATE DATABASE {name} on {}: {e}",
                    redact_database_url(&self.base)
                )
            })?;
        self.created.push(name.clone());
        let url = DatabaseUrl::new(with_database(&self.base, &name));
        Ok(Database::Postgres { name, url })
    }

    async fn database_size(&self, name: &str) -> Result<u64, String> {
        let row = self
            .client
            .query_one("SELECT pg_database_size($1::text)", &[&name])
            .await
            .map_err(|e| format!("size of database {name}: {e}"))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Drops this run's databases; FORCE ends the connections of servers that were not stopped
    /// cleanly (an early error return kills them without waiting).
    async fn drop_created(self) {
        for name in &self.created {
            if let Err(e) = self
                .client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
            {
                eprintln!("loadgen: could not drop database {name}: {e}");
            }
        }
        drop(self.client);
        let _ = self.connection.await;
    }
}

/// `base` with its database (the URL's path) replaced by `name`, keeping any `?query`.
fn with_database(base: &str, name: &str) -> String {
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let rest = &base[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{}{authority}/{name}{query}", &base[..authority_start])
}

// --- seeding ---------------------------------------------------------------------------------

/// A workload user: its name and its seeded access key id.
#[derive(Clone)]
struct UserKey {
    name: String,
    key_id: String,
}

fn user_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}")
}

/// Indices of the users the workloads use: all of them, or a random sample.
fn sample_indices(users: usize, sample: usize, seed: u64) -> Vec<usize> {
    if users <= sample {
        return (0..users).collect();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5a5a);
    let mut picked = rand::seq::index::sample(&mut rng, users, sample).into_vec();
    picked.sort_unstable();
    picked
}

struct SeedReport {
    generate: Duration,
    write: Duration,
    db_bytes: u64,
}

/// Builds the seed in memory and writes it into `db` (no server is running on it yet).
async fn seed_database(
    args: &Args,
    db: &Database,
    pg: Option<&PgAdmin>,
    picked: &[usize],
) -> Result<(Vec<UserKey>, SeedReport), String> {
    let t0 = Instant::now();
    let ids = Arc::new(IdGen::seeded(args.rng_seed));
    let users: Vec<SeedUser> = (1..=args.users)
        .map(|i| SeedUser {
            name: user_name(&args.user_prefix, i),
            path: "/".to_string(),
            tags: Vec::new(),
            access_keys: vec![SeedKey {
                id: ids.access_key_id(&args.account_id),
                secret: ids.secret(),
                status: KeyStatus::Active,
                create_date: None,
                expiration: None,
                tag: None,
            }],
            email: None,
        })
        .collect();
    let chosen = picked
        .iter()
        .map(|&i| UserKey {
            name: users[i].name.clone(),
            key_id: users[i].access_keys[0].id.clone(),
        })
        .collect();
    let seed = Seed {
        accounts: vec![SeedAccount {
            id: args.account_id.clone(),
            root_keys: Vec::new(),
            users,
            login: None,
            password: None,
            mfa_devices: Vec::new(),
        }],
    }
    .with_default_account(
        &args.account_id,
        &args.access_key_id,
        &Secret::new(args.secret_access_key.clone()),
    );
    let generate = t0.elapsed();
    let t1 = Instant::now();
    let store = Store::connect(&db.storage(), Arc::new(Clock::default()))
        .await
        .map_err(|e| e.to_string())?;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let result = store.apply_seed(Arc::new(seed), ids, now_ms).await;
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| e.to_string())?;
    result.map_err(|e| format!("seeding failed: {e}"))?;
    let write = t1.elapsed();
    let db_bytes = match db {
        Database::Sqlite(path) => ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                std::fs::metadata(format!("{}{suffix}", path.display()))
                    .ok()
                    .map(|m| m.len())
            })
            .sum(),
        Database::Postgres { name, .. } => match pg {
            Some(pg) => pg.database_size(name).await?,
            None => 0,
        },
    };
    Ok((
        chosen,
        SeedReport {
            generate,
            write,
            db_bytes,
        },
    ))
}

/// Creates the users and their keys over HTTP (CreateUser + CreateAccessKey), concurrently.
async fn seed_over_http(
    args: &Args,
    addr: SocketAddr,
    signer: Arc<Signer>,
    picked: &[usize],
) -> Result<Vec<UserKey>, String> {
    let next = Arc::new(AtomicUsize::new(1));
    let total = args.users;
    let prefix = Arc::new(args.user_prefix.clone());
    let mut tasks = Vec::new();
    for _ in 0..args.connections.min(total.max(1)) {
        let (next, signer, prefix) = (next.clone(), signer.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i > total {
                    return Ok::<_, String>(made);
                }
                let name = user_name(&prefix, i);
                let (status, body) = conn.send(signer.create_user(&name).request()).await?;
                if status != StatusCode::OK {
                    return Err(format!(
                        "CreateUser {name}: {status} {} (is the target fresh? see --user-prefix)",
                        String::from_utf8_lossy(&body)
                    ));
                }
                let (status, body) = conn.send(signer.create_access_key(&name).request()).await?;
                let key_id = element(&body, "AccessKeyId").map(str::to_string);
                match key_id {
                    Some(key_id) if status == StatusCode::OK => made.push((i, key_id)),
                    _ => {
                        return Err(format!(
                            "CreateAccessKey {name}: {status} {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                }
            }
        }));
    }
    let mut keys = vec![String::new(); total + 1];
    for task in tasks {
        for (i, key) in task.await.map_err(|e| e.to_string())?? {
            keys[i] = key;
        }
    }
    Ok(picked
        .iter()
        .map(|&i| UserKey {
            name: user_name(&args.user_prefix, i + 1),
            key_id: std::mem::take(&mut keys[i + 1]),
        })
        .collect())
}

// --- workloads -------------------------------------------------------------------------------

/// What the connections of one workload replay, plus the state shared across workloads.
struct Plan {
    workload: Workload,
    users: Arc<Vec<UserKey>>,
    signer: Arc<Signer>,
    list: Vec<Prepared>,
    /// Per user: [set Active, set Inactive].
    update: Vec<[Prepared; 2]>,
    create: Vec<Prepared>,
    gci: Option<Prepared>,
    /// Per user: whether its seeded key was last set Inactive (shared by W2 and W4).
    inactive: Arc<Vec<AtomicBool>>,
    /// Per user: whether a connection is in the middle of a create+delete for it.
    busy: Arc<Vec<AtomicBool>>,
}

impl Plan {
    fn new(
        workload: Workload,
        users: Arc<Vec<UserKey>>,
        signer: Arc<Signer>,
        inactive: Arc<Vec<AtomicBool>>,
        busy: Arc<Vec<AtomicBool>>,
    ) -> Plan {
        let lists = matches!(workload, Workload::W1 | Workload::W4);
        let updates = matches!(workload, Workload::W2 | Workload::W4);
        let churns = matches!(workload, Workload::W3 | Workload::W4);
        let each = |yes: bool, f: &dyn Fn(&UserKey) -> Prepared| -> Vec<Prepared> {
            if yes {
                users.iter().map(f).collect()
            } else {
                Vec::new()
            }
        };
        let list = each(lists, &|u| signer.list_access_keys(&u.name));
        let create = each(churns, &|u| signer.create_access_key(&u.name));
        let update = if updates {
            users
                .iter()
                .map(|u| {
                    [
                        signer.update_access_key(&u.name, &u.key_id, "Active"),
                        signer.update_access_key(&u.name, &u.key_id, "Inactive"),
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        let gci = (workload == Workload::W4).then(|| signer.get_caller_identity());
        Plan {
            workload,
            users,
            signer,
            list,
            update,
            create,
            gci,
            inactive,
            busy,
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Latency of every request, in microseconds.
    latencies: Vec<u32>,
    by_kind: [u64; 5],
    non_2xx: u64,
    transport_errors: u64,
    /// The first few failures, for the report.
    samples: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind) {
            *a += b;
        }
        self.non_2xx += other.non_2xx;
        self.transport_errors += other.transport_errors;
        for s in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }

    /// Sends one request, records its latency and outcome; returns the body of a 2xx.
    async fn send(&mut self, conn: &mut Conn, kind: Kind, req: Bytes) -> Option<Bytes> {
        let started = Instant::now();
        let result = conn.send(req).await;
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        self.by_kind[kind as usize] += 1;
        match result {
            Ok((status, body)) if status.is_success() => {
                self.latencies.push(micros);
                Some(body)
            }
            Ok((status, body)) => {
                self.latencies.push(micros);
                self.non_2xx += 1;
                if self.samples.len() < 5 {
                    let text = String::from_utf8_lossy(&body);
                    let text: String = text.chars().take(300).collect();
                    self.samples
                        .push(format!("{} -> {status}: {text}", KIND_NAMES[kind as usize]));
                }
                None
            }
            Err(e) => {
                self.transport_errors += 1;
                if self.samples.len() < 5 {
                    self.samples
                        .push(format!("{} -> {e}", KIND_NAMES[kind as usize]));
                }
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
                None
            }
        }
    }
}

enum Op {
    List,
    Update,
    Churn,
    Gci,
}

fn pick(workload: Workload, rng: &mut StdRng) -> Op {
    match workload {
        Workload::W1 => Op::List,
        Workload::W2 => Op::Update,
        Workload::W3 => Op::Churn,
        Workload::W4 => {
            let r = rng.random_range(0..1000u32);
            if r < W4_LIST {
                Op::List
            } else if r < W4_LIST + W4_UPDATE {
                Op::Update
            } else if r < W4_LIST + W4_UPDATE + W4_CHURN {
                Op::Churn
            } else {
                Op::Gci
            }
        }
    }
}

/// Takes a random user no other connection is churning.
async fn claim(plan: &Plan, rng: &mut StdRng) -> usize {
    let n = plan.users.len();
    let mut tries = 0u32;
    loop {
        let i = rng.random_range(0..n);
        if plan.busy[i]
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return i;
        }
        tries += 1;
        if tries.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
}

async fn worker(plan: Arc<Plan>, mut conn: Conn, seed: u64, deadline: Instant) -> (Conn, Tally) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally {
        latencies: Vec::with_capacity(1 << 14),
        ..Tally::default()
    };
    let n = plan.users.len();
    while Instant::now() < deadline {
        match pick(plan.workload, &mut rng) {
            Op::List => {
                let i = rng.random_range(0..n);
                tally
                    .send(&mut conn, Kind::List, plan.list[i].request())
                    .await;
            }
            Op::Update => {
                let i = rng.random_range(0..n);
                // Flip the key's status; send the new one.
                let now_inactive = !plan.inactive[i].fetch_xor(true, Ordering::Relaxed);
                let req = plan.update[i][usize::from(now_inactive)].request();
                tally.send(&mut conn, Kind::Update, req).await;
            }
            Op::Churn => {
                let i = claim(&plan, &mut rng).await;
                let created = tally
                    .send(&mut conn, Kind::Create, plan.create[i].request())
                    .await;
                if let Some(key) = created.as_deref().and_then(|b| element(b, "AccessKeyId")) {
                    let user = &plan.users[i].name;
                    let req = plan.signer.delete_access_key(user, key).request();
                    tally.send(&mut conn, Kind::Delete, req).await;
                }
                plan.busy[i].store(false, Ordering::Release);
            }
            Op::Gci => {
                let req = plan
                    .gci
                    .as_ref()
                    .expect("W4 signs GetCallerIdentity")
                    .request();
                tally.send(&mut conn, Kind::Gci, req).await;
            }
        }
    }
    (conn, tally)
}

struct Measured {
    workload: Workload,
    elapsed: Duration,
    tally: Tally,
    rss: Option<(u64, u64)>,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    /// Busy CPU of the machine not used by the server or the client (other processes).
    other_cpu: Option<f64>,
    presign: Duration,
    connections_opened: u64,
    /// Each node's share, in the order of `Target::nodes`.
    nodes: Vec<NodeMeasured>,
}

/// One node's share of a workload.
struct NodeMeasured {
    requests: u64,
    p99_ms: f64,
    cpu: Option<f64>,
    rss: Option<(u64, u64)>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

impl Measured {
    fn requests(&self) -> u64 {
        self.tally.by_kind.iter().sum()
    }

    fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    fn json(&self) -> Value {
        let l = &self.tally.latencies;
        let kinds: serde_json::Map<String, Value> = KIND_NAMES
            .iter()
            .zip(self.tally.by_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        json!({
            "workload": format!("{:?}", self.workload),
            "name": self.workload.name(),
            "description": self.workload.describe(),
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.requests(),
            "requests_by_action": kinds,
            "requests_per_second": self.rate(),
            "latency_ms": {
                "p50": percentile(l, 50.0),
                "p99": percentile(l, 99.0),
                "p99_9": percentile(l, 99.9),
                "max": l.last().map(|&m| f64::from(m) / 1000.0),
            },
            "non_2xx": self.tally.non_2xx,
            "transport_errors": self.tally.transport_errors,
            "error_samples": self.tally.samples,
            "server_rss_mib": self.rss.map(|r| mib(r.0)),
            "server_peak_rss_mib": self.rss.map(|r| mib(r.1)),
            "server_cpu_cores": self.server_cpu,
            "client_cpu_cores": self.client_cpu,
            "other_cpu_cores": self.other_cpu,
            "presign_seconds": self.presign.as_secs_f64(),
            "connections_opened": self.connections_opened,
            "nodes": self.nodes.iter().map(|n| json!({
                "requests": n.requests,
                "requests_per_second": n.requests as f64 / self.elapsed.as_secs_f64(),
                "p99_ms": n.p99_ms,
                "cpu_cores": n.cpu,
                "rss_mib": n.rss.map(|r| mib(r.0)),
            })).collect::<Vec<_>>(),
        })
    }
}

/// One server the connections are spread over.
struct Node {
    addr: SocketAddr,
    pid: Option<u32>,
}

struct Target {
    label: String,
    nodes: Vec<Node>,
}

/// Sums a per-node measure over the nodes; unknown if unknown for any of them.
fn sum_known<T: std::iter::Sum<T>>(values: impl IntoIterator<Item = Option<T>>) -> Option<T> {
    values.into_iter().sum()
}

#[allow(clippy::too_many_arguments)]
async fn run_workload(
    args: &Args,
    target: &Target,
    workload: Workload,
    users: &Arc<Vec<UserKey>>,
    signer: &Arc<Signer>,
    inactive: &Arc<Vec<AtomicBool>>,
    busy: &Arc<Vec<AtomicBool>>,
    conns: Vec<Conn>,
    ticks: f64,
) -> (Measured, Vec<Conn>) {
    let t = Instant::now();
    let plan = Arc::new(Plan::new(
        workload,
        users.clone(),
        signer.clone(),
        inactive.clone(),
        busy.clone(),
    ));
    let presign = t.elapsed();
    let opened_before: u64 = conns.iter().map(|c| c.opened).sum();
    let node_cpu = || -> Vec<Option<f64>> {
        target
            .nodes
            .iter()
            .map(|n| n.pid.and_then(|p| cpu_seconds(&p.to_string(), ticks)))
            .collect()
    };
    let server_cpu0 = node_cpu();
    let client_cpu0 = cpu_seconds("self", ticks);
    let machine0 = machine_busy_seconds(ticks);
    let started = Instant::now();
    let deadline = started + args.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, conn)| {
            let seed = args.rng_seed.wrapping_mul(1_000_003) ^ ((workload as u64) << 32) ^ c as u64;
            tokio::spawn(worker(plan.clone(), conn, seed, deadline))
        })
        .collect();
    let mut by_node: Vec<Tally> = target.nodes.iter().map(|_| Tally::default()).collect();
    let mut conns = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (conn, t) = task.await.expect("worker task");
        let node = target
            .nodes
            .iter()
            .position(|n| n.addr == conn.addr)
            .expect("every connection goes to one of the nodes");
        by_node[node].merge(t);
        conns.push(conn);
    }
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    let server_cpu1 = node_cpu();
    let mut nodes = Vec::with_capacity(by_node.len());
    let mut tally = Tally::default();
    for (i, mut t) in by_node.into_iter().enumerate() {
        t.latencies.sort_unstable();
        nodes.push(NodeMeasured {
            requests: t.by_kind.iter().sum(),
            p99_ms: percentile(&t.latencies, 99.0),
            cpu: match (server_cpu0[i], server_cpu1[i]) {
                (Some(a), Some(b)) => Some((b - a) / secs),
                _ => None,
            },
            rss: target.nodes[i].pid.and_then(rss_kib),
        });
        tally.merge(t);
    }
    let rss = sum_known(nodes.iter().map(|n| n.rss.map(|r| r.0)))
        .zip(sum_known(nodes.iter().map(|n| n.rss.map(|r| r.1))));
    let server_cpu = sum_known(nodes.iter().map(|n| n.cpu));
    let client_cpu = match (client_cpu0, cpu_seconds("self", ticks)) {
        (Some(a), Some(b)) => Some((b - a) / secs),
        _ => None,
    };
    // Whatever else ran on the machine meanwhile (other processes skew the numbers).
    let other_cpu = match (machine0, machine_busy_seconds(ticks)) {
        (Some(a), Some(b)) => {
            Some(((b - a) / secs - server_cpu.unwrap_or(0.0) - client_cpu.unwrap_or(0.0)).max(0.0))
        }
        _ => None,
    };
    tally.latencies.sort_unstable();
    let opened_after: u64 = conns.iter().map(|c| c.opened).sum();
    let m = Measured {
        workload,
        elapsed,
        tally,
        rss,
        server_cpu,
        client_cpu,
        other_cpu,
        presign,
        connections_opened: opened_after - opened_before,
        nodes,
    };
    (m, conns)
}

// --- report ----------------------------------------------------------------------------------

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".to_string(),
    }
}

/// CPU in percent of one core ("-" when unknown).
fn pct(cores: Option<f64>) -> String {
    match cores {
        Some(c) if c.is_finite() => format!("{:.0}%", c * 100.0),
        _ => "-".to_string(),
    }
}

fn table(results: &[Measured]) -> String {
    let mut out = String::from(
        "| workload | requests | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | errors \
         | server RSS MiB (end / peak) | CPU server / client / other (100% = 1 core) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let l = &m.tally.latencies;
        let rss = match m.rss {
            Some((now, peak)) => format!("{:.1} / {:.1}", mib(now), mib(peak)),
            None => "-".to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} / {} / {} |\n",
            m.workload.name(),
            m.requests(),
            m.rate(),
            percentile(l, 50.0),
            percentile(l, 99.0),
            percentile(l, 99.9),
            m.tally.non_2xx,
            m.tally.transport_errors,
            rss,
            pct(m.server_cpu),
            pct(m.client_cpu),
            pct(m.other_cpu),
        ));
    }
    out
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        args.duration = Duration::from_secs(2);
        args.users = 100;
    }
    if args.users == 0 || args.users > 1_000_000 {
        eprintln!("loadgen: --users must be 1 to 1000000");
        return ExitCode::from(2);
    }
    if args.connections == 0 || args.duration.is_zero() || args.duration > MAX_DURATION {
        eprintln!("loadgen: --connections must be positive and --duration between 1 ms and 14 min");
        return ExitCode::from(2);
    }
    if args.sample == 0 {
        eprintln!("loadgen: --sample must be positive");
        return ExitCode::from(2);
    }
    if args.nodes == 0 {
        eprintln!("loadgen: --nodes must be positive");
        return ExitCode::from(2);
    }
    if args.nodes > 1 && args.store.is_none() {
        eprintln!(
            "loadgen: --nodes needs --store postgres://... (nodes share one PostgreSQL database)"
        );
        return ExitCode::from(2);
    }
    args.workloads.dedup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let mut pg = match &args.store {
        Some(url) => Some(PgAdmin::connect(url).await?),
        None => None,
    };
    let result = bench(&args, pg.as_mut()).await;
    if let Some(pg) = pg {
        pg.drop_created().await;
    }
    result
}

async fn bench(args: &Args, mut pg: Option<&mut PgAdmin>) -> Result<ExitCode, String> {
    let ticks = clock_ticks();
    let picked = sample_indices(args.users, args.sample, args.rng_seed);
    let mut report = serde_json::Map::new();
    let mut header = Vec::<String>::new();
    let tmp = tempfile::Builder::new()
        .prefix("iamlite-loadgen-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    if let Some(path) = &args.server_log {
        // Emptied once here: every server of this run appends to it.
        std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    let (target, users, spawned, signer) = match &args.endpoint {
        None => {
            if !args.spawn.exists() {
                return Err(format!(
                    "{} does not exist: run `cargo build --release` first, or pass --spawn or --endpoint",
                    args.spawn.display()
                ));
            }
            // Cold start on a fresh database.
            let cold_db = match pg.as_deref_mut() {
                Some(pg) => pg.create("cold").await?,
                None => Database::Sqlite(tmp.path().join("cold.db")),
            };
            let cold = spawn_iamlite(args, &cold_db.storage()).await?;
            let cold_json = json!({
                "banner_ms": cold.banner.as_secs_f64() * 1e3,
                "first_200_ms": cold.first_ok.as_secs_f64() * 1e3,
                "idle_rss_mib": cold.rss_after_start.map(|r| mib(r.0)),
            });
            let fresh = match cold_db {
                Database::Sqlite(_) => "fresh --db,",
                Database::Postgres { .. } => {
                    "fresh empty PostgreSQL database, schema created by the server;"
                }
            };
            header.push(format!(
                "cold start ({fresh} spawn -> first 200 of a signed GetCallerIdentity): {:.1} ms \
                 (banner after {:.1} ms); idle RSS right after start: {} MiB",
                cold.first_ok.as_secs_f64() * 1e3,
                cold.banner.as_secs_f64() * 1e3,
                fmt_opt(cold.rss_after_start.map(|r| mib(r.0)), 1),
            ));
            report.insert("cold_start".into(), cold_json);
            stop(cold).await;

            let db = match pg.as_deref_mut() {
                Some(pg) => pg.create("bench").await?,
                None => Database::Sqlite(tmp.path().join("bench.db")),
            };
            eprintln!(
                "loadgen: seeding {} users into {} ...",
                args.users,
                db.describe()
            );
            let (users, seeded) = seed_database(args, &db, pg.as_deref(), &picked).await?;
            let write = match db {
                Database::Sqlite(_) => "write+fsync",
                Database::Postgres { .. } => "write+commit",
            };
            header.push(format!(
                "seeding {} users + {} keys in-process (Store::apply_seed): {:.2} s \
                 (generate {:.2} s, {write} {:.2} s), database {:.1} MiB",
                args.users,
                args.users,
                (seeded.generate + seeded.write).as_secs_f64(),
                seeded.generate.as_secs_f64(),
                seeded.write.as_secs_f64(),
                seeded.db_bytes as f64 / 1048576.0,
            ));
            report.insert(
                "seeding".into(),
                json!({
                    "method": "in-process Store::apply_seed before spawning",
                    "users": args.users,
                    "seconds": (seeded.generate + seeded.write).as_secs_f64(),
                    "generate_seconds": seeded.generate.as_secs_f64(),
                    "write_seconds": seeded.write.as_secs_f64(),
                    "database_mib": seeded.db_bytes as f64 / 1048576.0,
                }),
            );
            // One after the other, so that each start time is the node's own.
            let mut servers = Vec::with_capacity(args.nodes);
            for _ in 0..args.nodes {
                servers.push(spawn_iamlite(args, &db.storage()).await?);
            }
            let starts: Vec<String> = servers
                .iter()
                .map(|s| format!("{:.1}", s.first_ok.as_secs_f64() * 1e3))
                .collect();
            let rss: Vec<String> = servers
                .iter()
                .map(|s| fmt_opt(s.rss_after_start.map(|r| mib(r.0)), 1))
                .collect();
            header.push(match db {
                Database::Sqlite(_) => format!(
                    "start on the seeded --db (spawn -> first 200): {} ms; RSS right after start: {} MiB",
                    starts.join(" / "),
                    rss.join(" / "),
                ),
                Database::Postgres { .. } => format!(
                    "start on the seeded database, {} one after the other (spawn -> first 200): \
                     {} ms; RSS right after start: {} MiB",
                    plural(servers.len(), "node"),
                    starts.join(" / "),
                    rss.join(" / "),
                ),
            });
            report.insert(
                "seeded_start".into(),
                json!({
                    "first_200_ms": servers[0].first_ok.as_secs_f64() * 1e3,
                    "rss_mib": servers[0].rss_after_start.map(|r| mib(r.0)),
                    "nodes": servers.iter().map(|s| json!({
                        "first_200_ms": s.first_ok.as_secs_f64() * 1e3,
                        "rss_mib": s.rss_after_start.map(|r| mib(r.0)),
                    })).collect::<Vec<_>>(),
                }),
            );
            let (store, store_json) = match &db {
                Database::Sqlite(_) => ("sqlite".to_string(), json!({"engine": "sqlite"})),
                Database::Postgres { name, .. } => (
                    format!(
                        "postgres, {} (fresh database {name}, created through {})",
                        plural(servers.len(), "node"),
                        redact_database_url(args.store.as_deref().unwrap_or_default()),
                    ),
                    json!({"engine": "postgres", "database": name}),
                ),
            };
            header.insert(0, format!("store: {store}"));
            report.insert("store".into(), store_json);
            if matches!(db, Database::Postgres { .. }) {
                let summed = if servers.len() > 1 {
                    format!(
                        "server RSS and CPU are summed over the {} nodes; ",
                        servers.len()
                    )
                } else {
                    String::new()
                };
                header.push(format!("{summed}PostgreSQL's own CPU counts as \"other\""));
            }
            let target = Target {
                label: args.label.clone().unwrap_or_else(|| "iamlite".to_string()),
                nodes: servers
                    .iter()
                    .map(|s| Node {
                        addr: s.addr,
                        pid: Some(s.pid),
                    })
                    .collect(),
            };
            // Signed for the first node's Host only, as for nodes behind one load balancer: the
            // servers verify the Host the request carries, and the signatures stay cheap.
            let signer = Arc::new(Signer::new(
                &args.access_key_id,
                &args.secret_access_key,
                &host_of(servers[0].addr),
            ));
            (target, users, servers, signer)
        }
        Some(endpoint) => {
            let addr = endpoint_addr(endpoint)?;
            let signer = Arc::new(Signer::new(
                &args.access_key_id,
                &args.secret_access_key,
                &host_of(addr),
            ));
            let target = Target {
                label: args.label.clone().unwrap_or_else(|| endpoint.clone()),
                nodes: vec![Node {
                    addr,
                    pid: args.server_pid,
                }],
            };
            let pid = target.nodes[0].pid;
            header.push("store: - (external endpoint)".to_string());
            header.push(format!(
                "cold start: - (external endpoint); RSS before seeding: {} MiB",
                fmt_opt(pid.and_then(rss_kib).map(|r| mib(r.0)), 1)
            ));
            report.insert(
                "idle_rss_mib".into(),
                json!(pid.and_then(rss_kib).map(|r| mib(r.0))),
            );
            eprintln!(
                "loadgen: creating {} users and keys over HTTP ...",
                args.users
            );
            let t = Instant::now();
            let users = seed_over_http(args, addr, signer.clone(), &picked).await?;
            let secs = t.elapsed().as_secs_f64();
            header.push(format!(
                "seeding {} users + {} keys over HTTP (CreateUser + CreateAccessKey, {} connections): \
                 {:.2} s ({:.0} req/s)",
                args.users,
                args.users,
                args.connections.min(args.users),
                secs,
                2.0 * args.users as f64 / secs
            ));
            report.insert(
                "seeding".into(),
                json!({
                    "method": "CreateUser + CreateAccessKey over HTTP",
                    "users": args.users,
                    "seconds": secs,
                }),
            );
            (target, users, Vec::new(), signer)
        }
    };

    let users = Arc::new(users);
    let inactive: Arc<Vec<AtomicBool>> =
        Arc::new((0..users.len()).map(|_| AtomicBool::new(false)).collect());
    let busy: Arc<Vec<AtomicBool>> =
        Arc::new((0..users.len()).map(|_| AtomicBool::new(false)).collect());
    let mut conns = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let mut c = Conn::new(target.nodes[i % target.nodes.len()].addr);
        c.connect().await?;
        conns.push(c);
    }
    let mut results = Vec::new();
    for &w in &args.workloads {
        eprintln!("loadgen: {} for {:?} ...", w.name(), args.duration);
        let (m, back) = run_workload(
            args, &target, w, &users, &signer, &inactive, &busy, conns, ticks,
        )
        .await;
        conns = back;
        eprintln!(
            "loadgen:   {} requests, {:.0} req/s, {} non-2xx, {} errors",
            m.requests(),
            m.rate(),
            m.tally.non_2xx,
            m.tally.transport_errors
        );
        if m.nodes.len() > 1 {
            let rates: Vec<String> = m
                .nodes
                .iter()
                .map(|n| format!("{:.0}", n.requests as f64 / m.elapsed.as_secs_f64()))
                .collect();
            eprintln!("loadgen:   per node: {} req/s", rates.join(" / "));
        }
        results.push(m);
    }
    drop(conns);

    let version = if !spawned.is_empty() {
        std::process::Command::new(&args.spawn)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    } else {
        None
    };
    for server in spawned {
        stop(server).await;
    }

    let mut out = String::new();
    out.push_str(&format!(
        "## loadgen: {}{}\n\n",
        target.label,
        version
            .as_deref()
            .map(|v| format!(" ({v})"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "- {} users with one access key each; workloads use {} of them; {} connections (HTTP/1.1 keep-alive), \
         {:?} per workload; client: {} runtime thread(s), {} cores on this machine\n",
        args.users,
        users.len(),
        args.connections,
        args.duration,
        args.client_threads.max(1),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    ));
    for line in &header {
        out.push_str(&format!("- {line}\n"));
    }
    out.push_str(&format!("- W4 mix: {W4_MIX}\n"));
    out.push('\n');
    out.push_str(&table(&results));
    out.push('\n');
    for m in &results {
        let kinds: Vec<String> = KIND_NAMES
            .iter()
            .zip(m.tally.by_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let mut line = format!("- {}: {}", m.workload.name(), kinds.join(", "));
        if m.connections_opened > 0 {
            // E.g. a server without keep-alive: every reconnect is inside the measured latency.
            line.push_str(&format!(
                "; the server closed connections: {} new connections were opened",
                m.connections_opened
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    if target.nodes.len() > 1 {
        for m in &results {
            let per_node: Vec<String> = m
                .nodes
                .iter()
                .zip(&target.nodes)
                .enumerate()
                .map(|(i, (n, node))| {
                    format!(
                        "node {} ({}) {:.0} req/s, p99 {:.2} ms, CPU {}",
                        i + 1,
                        node.addr,
                        n.requests as f64 / m.elapsed.as_secs_f64(),
                        n.p99_ms,
                        pct(n.cpu),
                    )
                })
                .collect();
            out.push_str(&format!(
                "- {} per node: {}\n",
                m.workload.name(),
                per_node.join("; ")
            ));
        }
    }
    println!("{out}");
    let failures: u64 = results
        .iter()
        .map(|m| m.tally.non_2xx + m.tally.transport_errors)
        .sum();
    for m in &results {
        for s in &m.tally.samples {
            eprintln!("loadgen: {}: {s}", m.workload.name());
        }
    }

    report.insert("target".into(), json!(target.label));
    report.insert(
        "nodes".into(),
        json!(
            target
                .nodes
                .iter()
                .map(|n| n.addr.to_string())
                .collect::<Vec<_>>()
        ),
    );
    report.insert("version".into(), json!(version));
    report.insert("users".into(), json!(args.users));
    report.insert("workload_users".into(), json!(users.len()));
    report.insert("connections".into(), json!(args.connections));
    report.insert(
        "duration_seconds".into(),
        json!(args.duration.as_secs_f64()),
    );
    report.insert("client_threads".into(), json!(args.client_threads.max(1)));
    report.insert("w4_mix".into(), json!(W4_MIX));
    report.insert(
        "workloads".into(),
        Value::Array(results.iter().map(Measured::json).collect()),
    );
    report.insert("markdown".into(), json!(out));
    if let Some(dir) = args.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&Value::Object(report)).expect("json"),
    )
    .map_err(|e| format!("{}: {e}", args.json.display()))?;
    eprintln!("loadgen: wrote {}", args.json.display());

    if failures > 0 && !args.allow_errors {
        eprintln!(
            "loadgen: {failures} requests failed (non-2xx or transport errors); pass --allow-errors to accept"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
