//! The `iamlite` binary as an operator sees it: SIGTERM lets in-flight requests finish, refuses new
//! connections and exits 0 within 10 s; and its log, even at `RUST_LOG=trace`, carries one
//! `request` line per request and never a secret access key or a request signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/process.rs"]
mod process;
#[path = "common/signer.rs"]
mod signer;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use iamlite::Storage;
use iamlite::store::Store;
use process::{Binary, ROOT_KEY_ID, ROOT_SECRET, iam_at, sts_at};
use signer::{RawRequest, RawResponse, Signer};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Waits until the log contains `needle`.
async fn wait_for_log(server: &Binary, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log within {limit:?}:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads one response with a Content-Length (what the server always sends); `None` if the
/// connection ended first.
async fn read_response(stream: &mut TcpStream, limit: Duration) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    tokio::time::timeout(limit, async {
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let status = head.split(' ').nth(1)?.parse().ok()?;
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]);
                    return Some((status, body.into_owned()));
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the read is bounded")
}

/// A signed CreateUser whose body is sent slowly: the head and half the body now, the rest later.
struct SlowRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

async fn start_slow_create_user(addr: SocketAddr, name: &str) -> SlowRequest {
    let mut req = RawRequest::form_post(
        &addr.to_string(),
        format!("Action=CreateUser&Version=2010-05-08&UserName={name}"),
    );
    Signer::new(ROOT_KEY_ID, ROOT_SECRET).sign(&mut req);
    let bytes = req.to_bytes();
    let split = find(&bytes, b"\r\n\r\n").unwrap() + 4 + req.body.len() / 2;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&bytes[..split]).await.unwrap();
    SlowRequest {
        stream,
        rest: bytes[split..].to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_connections_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let mut server = Binary::spawn(&db, &dir.path().join("iamlite.log"), "iamlite=info");
    let addr = server.addr;
    iam_at(&server.endpoint(), ROOT_KEY_ID, ROOT_SECRET)
        .get_user()
        .send()
        .await
        .unwrap();

    // Three requests in flight (head and half the body sent), one idle keep-alive connection after
    // an answered request, and one connection that has sent nothing yet.
    let names = ["inflight-1", "inflight-2", "inflight-3"];
    let mut slow = Vec::new();
    for name in names {
        slow.push(start_slow_create_user(addr, name).await);
    }
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut get_user =
        RawRequest::form_post(&addr.to_string(), "Action=GetUser&Version=2010-05-08");
    Signer::new(ROOT_KEY_ID, ROOT_SECRET).sign(&mut get_user);
    let keep_alive = String::from_utf8(get_user.to_bytes())
        .unwrap()
        .replace("connection: close\r\n", "");
    idle.write_all(keep_alive.as_bytes()).await.unwrap();
    let (status, _) = read_response(&mut idle, Duration::from_secs(10))
        .await
        .expect("the keep-alive request is answered");
    assert_eq!(status, 200);
    let silent = TcpStream::connect(addr).await.unwrap();
    // Let the server read the heads and start waiting for the bodies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();

    server.sigterm();
    let sent_term = Instant::now();
    wait_for_log(&server, "shutting down", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A new connection is refused, or closed without an answer.
    match TcpStream::connect(addr).await {
        Err(e) => println!("new connection after SIGTERM: refused ({e})"),
        Ok(mut stream) => {
            let mut req =
                RawRequest::form_post(&addr.to_string(), "Action=GetUser&Version=2010-05-08");
            Signer::new(ROOT_KEY_ID, ROOT_SECRET).sign(&mut req);
            let _ = stream.write_all(&req.to_bytes()).await;
            let answer = read_response(&mut stream, Duration::from_secs(10)).await;
            assert!(
                answer.is_none(),
                "a connection made after shutdown began was answered: {answer:?}"
            );
            println!("new connection after SIGTERM: closed without an answer");
        }
    }
    // The idle keep-alive connection is closed without waiting for the grace period.
    let mut rest = Vec::new();
    let idle_read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest)).await;
    assert!(
        idle_read.is_ok() && rest.is_empty(),
        "the idle keep-alive connection was not closed promptly: {idle_read:?} {rest:?}"
    );

    // The in-flight requests finish (about 1.5 s after they began, well inside the server's 10 s
    // body timeout and shutdown grace period) and are answered with 200.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed())).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the machine is too slow for this test's timeline: {:?}",
        started.elapsed()
    );
    for (request, name) in slow.iter_mut().zip(names) {
        request.stream.write_all(&request.rest).await.unwrap();
        let (status, body) = read_response(&mut request.stream, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("in-flight CreateUser {name} was not answered"));
        assert_eq!(status, 200, "{name}: {body}");
        assert!(
            body.contains(&format!("<UserName>{name}</UserName>")),
            "{body}"
        );
    }

    let status = server
        .wait_exit(Duration::from_secs(10).saturating_sub(sent_term.elapsed()))
        .await
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{}", server.log()));
    let exit_after = sent_term.elapsed();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log()
    );
    drop(silent);
    println!("exited 0 {exit_after:.2?} after SIGTERM");

    // What was answered is on disk.
    let store = Store::open(&Storage::File(db)).unwrap();
    let state = store.export().await.unwrap();
    store.close();
    let users: BTreeSet<&str> = state.accounts[0]
        .users
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(users, names.into_iter().collect());
}

// --- secrets and signatures never reach the log ----------------------------------------------------

/// One request as the SDK sent it and the server answered it.
#[derive(Debug, Clone, Default)]
struct Exchange {
    action: String,
    access_key_id: String,
    signature: String,
    status: u16,
    request_id: String,
}

/// Records every SDK request's action, key id and signature, and the answer's status and request id.
#[derive(Debug, Clone, Default)]
struct Recorder {
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

/// `Credential=<key id>/...` and `Signature=<hex>` of an Authorization header.
fn authorization_fields(auth: &str) -> (String, String) {
    let field = |name: &str| {
        auth.split([',', ' '])
            .find_map(|f| f.trim().strip_prefix(name))
            .unwrap_or_default()
            .to_string()
    };
    let key_id = field("Credential=")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    (key_id, field("Signature="))
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "log-test-recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let (access_key_id, signature) =
            authorization_fields(request.headers().get("authorization").unwrap_or_default());
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let action = body
            .split('&')
            .find_map(|p| p.strip_prefix("Action="))
            .unwrap_or_default()
            .to_string();
        self.exchanges.lock().unwrap().push(Exchange {
            action,
            access_key_id,
            signature,
            ..Exchange::default()
        });
        Ok(())
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let mut exchanges = self.exchanges.lock().unwrap();
        let last = exchanges.last_mut().expect("a request was recorded");
        last.status = response.status().as_u16();
        last.request_id = response
            .headers()
            .get("x-amzn-requestid")
            .unwrap_or_default()
            .to_string();
        Ok(())
    }
}

struct Session {
    endpoint: String,
    addr: SocketAddr,
    recorder: Recorder,
    /// Everything that must never appear in the log.
    forbidden: Vec<(String, String)>,
}

impl Session {
    fn iam(&self, key_id: &str, secret: &str) -> aws_sdk_iam::Client {
        let config = iam_at(&self.endpoint, key_id, secret)
            .config()
            .to_builder()
            .interceptor(self.recorder.clone())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    fn sts(&self, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
        let config = sts_at(&self.endpoint, key_id, secret)
            .config()
            .to_builder()
            .interceptor(self.recorder.clone())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    fn forbid(&mut self, what: &str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.forbidden.push((what.to_string(), value.to_string()));
    }

    /// A secret, as sent and as it would look percent-encoded, and the signing keys derived from it.
    fn forbid_secret(&mut self, what: &str, secret: &str) {
        self.forbid(what, secret);
        let encoded = secret.replace('/', "%2F").replace('+', "%2B");
        if encoded != secret {
            self.forbid(&format!("{what} (percent-encoded)"), &encoded);
        }
        for service in ["iam", "sts"] {
            let key = aws_sigv4::sign::v4::generate_signing_key(
                secret,
                SystemTime::now(),
                process::REGION,
                service,
            );
            self.forbid(
                &format!("{what}'s {service} signing key"),
                &hex::encode(key.as_ref()),
            );
        }
    }

    /// Sends a raw request and records it like the SDK's.
    async fn raw(&mut self, req: &RawRequest, action: &str, key_id: &str) -> RawResponse {
        let signature = match req.header("authorization") {
            Some(auth) => authorization_fields(auth).1,
            None => req
                .query_param("X-Amz-Signature")
                .unwrap_or_default()
                .to_string(),
        };
        if !signature.is_empty() {
            self.forbid(&format!("signature of a raw {action}"), &signature);
        }
        let resp = signer::send(self.addr, req).await;
        self.recorder.exchanges.lock().unwrap().push(Exchange {
            action: action.to_string(),
            access_key_id: key_id.to_string(),
            signature,
            status: resp.status,
            request_id: resp
                .header("x-amzn-requestid")
                .unwrap_or_default()
                .to_string(),
        });
        resp
    }
}

impl Session {
    /// Sends a raw request over a fresh HTTP/2 cleartext connection and records it.
    async fn http2(&mut self, req: &RawRequest, action: &str, key_id: &str) -> u16 {
        let signature = authorization_fields(&req.authorization()).1;
        self.forbid(&format!("signature of an HTTP/2 {action}"), &signature);
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        let driver = tokio::spawn(conn);
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(format!("http://{}{}", self.addr, req.target));
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(http_body_util::Full::new(bytes::Bytes::from(
                req.body.clone(),
            )))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .expect("an HTTP/2 answer within 30 s")
            .unwrap();
        driver.abort();
        let status = response.status().as_u16();
        self.recorder.exchanges.lock().unwrap().push(Exchange {
            action: action.to_string(),
            access_key_id: key_id.to_string(),
            signature,
            status,
            request_id: response
                .headers()
                .get("x-amzn-requestid")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        });
        status
    }
}

/// `name=value` of a log line (quotes removed).
fn log_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &line[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split(' ').next()?,
    };
    Some(value)
}

/// Removes ANSI colour sequences, in case the log is coloured after all.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_log_has_one_line_per_request_and_no_secret_or_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Binary::spawn(
        &dir.path().join("iamlite.db"),
        &dir.path().join("iamlite.log"),
        "trace",
    );
    let mut s = Session {
        endpoint: server.endpoint(),
        addr: server.addr,
        recorder: Recorder::default(),
        forbidden: Vec::new(),
    };
    s.forbid_secret("the root secret", ROOT_SECRET);
    let host = server.addr.to_string();
    let root = s.iam(ROOT_KEY_ID, ROOT_SECRET);

    // Through the SDK: a user, a key, the key in use, a wrong secret.
    root.create_user().user_name("logged").send().await.unwrap();
    let key = root
        .create_access_key()
        .user_name("logged")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let (id1, secret1) = (key.access_key_id, key.secret_access_key);
    s.forbid_secret("the first user secret", &secret1);
    let me = s
        .sts(&id1, &secret1)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/logged"));
    s.iam(&id1, &secret1)
        .list_access_keys()
        .send()
        .await
        .unwrap();
    // Another last character, whatever the real one is.
    let last = if secret1.ends_with('x') { 'y' } else { 'x' };
    let wrong_secret = format!("{}{last}", &secret1[..39]);
    s.forbid_secret("a wrong secret", &wrong_secret);
    let err = s
        .iam(&id1, &wrong_secret)
        .get_user()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);

    // Raw requests: valid, presigned, tampered, malformed, and one carrying a secret in its header.
    let mut req = RawRequest::form_post(&host, "Action=ListUsers&Version=2010-05-08");
    Signer::new(&id1, &secret1).sign(&mut req);
    assert_eq!(s.raw(&req, "ListUsers", &id1).await.status, 200);

    let mut req = RawRequest::get(&host, "Action=GetCallerIdentity&Version=2011-06-15");
    Signer::new(&id1, &secret1)
        .service("sts")
        .presign(&mut req, Duration::from_secs(300));
    assert_eq!(s.raw(&req, "GetCallerIdentity", &id1).await.status, 200);

    // The same over HTTP/2 (prior knowledge), where h2 logs its frames at trace level.
    let mut req = RawRequest::form_post(&host, "Action=GetUser&Version=2010-05-08");
    Signer::new(&id1, &secret1).sign(&mut req);
    assert_eq!(s.http2(&req, "GetUser", &id1).await, 200);

    let mut req = RawRequest::form_post(
        &host,
        "Action=CreateUser&Version=2010-05-08&UserName=mallory",
    );
    Signer::new(ROOT_KEY_ID, ROOT_SECRET).sign(&mut req);
    req.body = b"Action=CreateUser&Version=2010-05-08&UserName=mallorz".to_vec();
    let resp = s.raw(&req, "CreateUser", ROOT_KEY_ID).await;
    assert_eq!(
        resp.element("Code").as_deref(),
        Some("SignatureDoesNotMatch")
    );

    let mut req = RawRequest::form_post(&host, "Action=ListUsers&Version=2010-05-08");
    Signer::new(&id1, &secret1).sign(&mut req);
    req.edit_authorization(|auth| {
        auth.split(", ")
            .filter(|part| !part.starts_with("SignedHeaders="))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let resp = s.raw(&req, "ListUsers", &id1).await;
    assert_eq!(resp.element("Code").as_deref(), Some("IncompleteSignature"));

    // A client that puts a secret into the Authorization header: in a component the server skips
    // (answered normally), and in a malformed component (the answer's message echoes the header).
    let mut req = RawRequest::form_post(&host, "Action=ListUsers&Version=2010-05-08");
    Signer::new(&id1, &secret1).sign(&mut req);
    req.edit_authorization(|auth| format!("{auth}, Secret={secret1}"));
    let resp = s.raw(&req, "ListUsers", &id1).await;
    assert!(resp.status == 200 || resp.status / 100 == 4, "{resp:?}");
    let mut req = RawRequest::form_post(&host, "Action=ListUsers&Version=2010-05-08");
    Signer::new(&id1, &secret1).sign(&mut req);
    req.edit_authorization(|auth| format!("{auth}, {secret1}"));
    let resp = s.raw(&req, "ListUsers", &id1).await;
    assert_eq!(resp.element("Code").as_deref(), Some("IncompleteSignature"));
    assert!(
        resp.element("Message").unwrap().contains(&secret1),
        "the message echoes the header (as AWS does), so the log must not carry the message"
    );

    // Session credentials: their secret and token stay out of the log, even in the canonical
    // request logged (at debug) for a signature mismatch, header-signed or presigned.
    let session = s
        .sts(&id1, &secret1)
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let (sid, ssecret, token) = (
        session.access_key_id().to_string(),
        session.secret_access_key().to_string(),
        session.session_token().to_string(),
    );
    s.forbid_secret("a session secret", &ssecret);
    s.forbid("a session token", &token);
    s.forbid(
        "a session token (percent-encoded)",
        &token
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D"),
    );
    let mut req = RawRequest::form_post(&host, "Action=GetCallerIdentity&Version=2011-06-15");
    Signer::new(&sid, &ssecret)
        .service("sts")
        .session_token(&token)
        .sign(&mut req);
    assert_eq!(s.raw(&req, "GetCallerIdentity", &sid).await.status, 200);
    let mut req = RawRequest::form_post(&host, "Action=GetCallerIdentity&Version=2011-06-15");
    Signer::new(&sid, &wrong_secret)
        .service("sts")
        .session_token(&token)
        .sign(&mut req);
    let resp = s.raw(&req, "GetCallerIdentity", &sid).await;
    assert_eq!(
        resp.element("Code").as_deref(),
        Some("SignatureDoesNotMatch")
    );
    let mut req = RawRequest::get(&host, "Action=GetCallerIdentity&Version=2011-06-15");
    Signer::new(&sid, &wrong_secret)
        .service("sts")
        .session_token(&token)
        .presign(&mut req, Duration::from_secs(300));
    let resp = s.raw(&req, "GetCallerIdentity", &sid).await;
    assert_eq!(
        resp.element("Code").as_deref(),
        Some("SignatureDoesNotMatch")
    );

    // Deactivate, use, delete; a second key; tidy up.
    root.update_access_key()
        .user_name("logged")
        .access_key_id(&id1)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let err = s
        .sts(&id1, &secret1)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    root.delete_access_key()
        .user_name("logged")
        .access_key_id(&id1)
        .send()
        .await
        .unwrap();
    let key = root
        .create_access_key()
        .user_name("logged")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let (id2, secret2) = (key.access_key_id, key.secret_access_key);
    s.forbid_secret("the second user secret", &secret2);
    s.sts(&id2, &secret2)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    root.delete_access_key()
        .user_name("logged")
        .access_key_id(&id2)
        .send()
        .await
        .unwrap();
    root.delete_user().user_name("logged").send().await.unwrap();

    server.sigterm();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success());

    let raw_log = server.log();
    let log = strip_ansi(&raw_log);
    let exchanges = s.recorder.exchanges.lock().unwrap().clone();
    for exchange in &exchanges {
        if !exchange.signature.is_empty() {
            s.forbid(
                &format!("signature of {}", exchange.action),
                &exchange.signature,
            );
        }
    }
    // The check means something only if the log is verbose and mentions what was refused.
    assert!(
        log.contains("TRACE") && log.contains("DEBUG"),
        "not a trace log:\n{log}"
    );
    assert!(
        log.contains("canonical_request="),
        "the mismatch's canonical request is logged at debug level:\n{log}"
    );
    assert!(log.contains("signature mismatch"), "{log}");
    let mut leaks = Vec::new();
    for (what, value) in &s.forbidden {
        if raw_log.contains(value.as_str()) || log.contains(value.as_str()) {
            leaks.push(what.clone());
        }
    }
    assert!(
        leaks.is_empty(),
        "the log leaks: {leaks:?} (checked {} values)",
        s.forbidden.len()
    );

    // One `request` line per request, with its action, access key id and status.
    let request_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("iamlite::service: request request_id="))
        .collect();
    assert_eq!(
        request_lines.len(),
        exchanges.len(),
        "request lines:\n{}\nrequests: {exchanges:#?}",
        request_lines.join("\n")
    );
    for exchange in &exchanges {
        let lines: Vec<&&str> = request_lines
            .iter()
            .filter(|l| log_field(l, "request_id") == Some(exchange.request_id.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "one line for {exchange:?}");
        let line = lines[0];
        let status = log_field(line, "status").and_then(|v| v.parse::<u16>().ok());
        assert_eq!(status, Some(exchange.status), "{line}");
        let action = log_field(line, "action").expect("an action field");
        let key_id = log_field(line, "access_key_id").expect("an access_key_id field");
        assert!(log_field(line, "latency_us").is_some(), "{line}");
        if exchange.status == 200 {
            assert_eq!(action, exchange.action, "{line}");
            assert_eq!(key_id, exchange.access_key_id, "{line}");
        } else {
            assert!(action == exchange.action || action == "-", "{line}");
            assert!(key_id == exchange.access_key_id || key_id == "-", "{line}");
        }
    }
    println!(
        "{} requests, {} request lines, {} log lines, {} forbidden values absent",
        exchanges.len(),
        request_lines.len(),
        log.lines().count(),
        s.forbidden.len()
    );
}

/// One console request over a fresh connection: status, the first `Set-Cookie` and the body.
async fn console(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, Option<String>, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\norigin: http://{addr}\r\ncookie: {cookie}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .map(|c| c.split(';').next().unwrap().to_string());
    (head[9..12].parse().unwrap(), cookie, body.to_string())
}

fn between<'a>(text: &'a str, before: &str, len: usize) -> &'a str {
    let at = text.find(before).unwrap() + before.len();
    &text[at..at + len]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_ins_and_secret_pages_leave_no_secret_cookie_or_token_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::spawn(
        &dir.path().join("iamlite.db"),
        &dir.path().join("iamlite.log"),
        "trace",
    );
    let addr = server.addr;
    let form = |pairs: &[(&str, &str)]| serde_urlencoded::to_string(pairs).unwrap();
    // A secret pasted into the id field, a wrong secret, then the right pair.
    let pasted = "pastedSecretKey0000000000000000000000000";
    for (id, secret) in [
        (pasted, "x"),
        (ROOT_KEY_ID, "wrongSecret0000000000000000000000000000"),
    ] {
        let body = form(&[("access_key_id", id), ("secret_access_key", secret)]);
        let (status, _, _) = console(addr, "POST", "/console/signin", "", &body).await;
        assert_eq!(status, 401);
    }
    let body = form(&[
        ("access_key_id", ROOT_KEY_ID),
        ("secret_access_key", ROOT_SECRET),
    ]);
    let (status, cookie, _) = console(addr, "POST", "/console/signin", "", &body).await;
    assert_eq!(status, 303);
    let cookie = cookie.unwrap();
    let (_, _, users) = console(addr, "GET", "/console/users", &cookie, "").await;
    let csrf = between(&users, "name=\"csrf_token\" value=\"", 64).to_string();
    let body = form(&[("csrf_token", &csrf), ("UserName", "logged")]);
    assert_eq!(
        console(addr, "POST", "/console/users", &cookie, &body)
            .await
            .0,
        303
    );
    let (_, _, dialog) = console(
        addr,
        "GET",
        "/console/users/logged?dialog=create",
        &cookie,
        "",
    )
    .await;
    let nonce = between(&dialog, "name=\"nonce\" value=\"", 64).to_string();
    let body = form(&[("csrf_token", &csrf), ("nonce", &nonce)]);
    let (status, _, page) = console(
        addr,
        "POST",
        "/console/users/logged/access-keys",
        &cookie,
        &body,
    )
    .await;
    assert_eq!(status, 200);
    let secret = between(&page, "id=\"secret-value\" hidden>", 40).to_string();
    // Sign-ins are logged by key id; a malformed id is not repeated.
    wait_for_log(&server, "console sign-in refused", Duration::from_secs(5)).await;
    wait_for_log(&server, "ConsoleCreateAccessKey", Duration::from_secs(5)).await;
    let log = strip_ansi(&server.log());
    assert!(log.contains("access_key_id=\"<malformed>\""), "{log}");
    let session_id = cookie.split_once('=').unwrap().1;
    for (what, value) in [
        ("the root secret", ROOT_SECRET),
        ("a secret pasted as an id", pasted),
        ("a wrong secret", "wrongSecret0000000000000000000000000000"),
        ("the new key's secret", secret.as_str()),
        ("the session id", session_id),
        ("the CSRF token", csrf.as_str()),
        ("a create-form nonce", nonce.as_str()),
    ] {
        assert!(!log.contains(value), "{what} is in the log");
    }
}
