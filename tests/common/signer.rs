//! Test-only SigV4 signing and a raw HTTP/1.1 client, for requests the AWS SDKs will not send.
//!
//! Signing goes through `aws_sigv4::http_request::sign`, an implementation independent of the
//! server's own canonical request, set up as `shared/reference/sigv4-verification.md` §3.2 says:
//! `excluded_headers = None`, only the headers that are to be signed passed in (`host` included,
//! `x-amz-date` and the token left for `sign` to add), the raw body as `SignableBody::Bytes`.
//! Everything the signer adds is written into a plain [`RawRequest`], which a test may then break
//! on purpose (edit the Authorization header, the body, a header) before [`send`] writes it byte
//! for byte on a fresh TCP connection.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The region every request here is signed for (any region is accepted).
pub const SIGNING_REGION: &str = "eu-west-2";
/// The form content type the SDKs send.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One HTTP/1.1 request, exactly as it will go on the wire.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    /// Origin-form request target: path and optional `?query`, already encoded.
    pub target: String,
    /// Header lines in the order they are written.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `Some(n)`: send the body with `Transfer-Encoding: chunked` in chunks of `n` bytes.
    pub chunked: Option<usize>,
}

impl RawRequest {
    /// A request with only a `host` header.
    pub fn new(method: &str, target: &str, host: &str) -> Self {
        RawRequest {
            method: method.to_string(),
            target: target.to_string(),
            headers: vec![("host".to_string(), host.to_string())],
            body: Vec::new(),
            chunked: None,
        }
    }

    /// `POST /` with a form body and the form content type, as the SDKs send it.
    pub fn form_post(host: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut req = RawRequest::new("POST", "/", host);
        req.headers
            .push(("content-type".to_string(), FORM.to_string()));
        req.body = body.into();
        req
    }

    /// `GET /?<query>` with no body.
    pub fn get(host: &str, query: &str) -> Self {
        RawRequest::new("GET", &format!("/?{query}"), host)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every header of that name with one value (appended if absent).
    pub fn set_header(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.headers[i].1 = value.to_string();
                let mut seen = 0;
                self.headers.retain(|(k, _)| {
                    if k.eq_ignore_ascii_case(name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.headers.push((name.to_string(), value.to_string())),
        }
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The Authorization header the signer wrote.
    pub fn authorization(&self) -> String {
        self.header("authorization")
            .expect("the request is header-signed")
            .to_string()
    }

    /// Rewrites the Authorization header with `edit` and returns the new value.
    pub fn edit_authorization(&mut self, edit: impl FnOnce(&str) -> String) -> String {
        let value = edit(&self.authorization());
        self.set_header("authorization", &value);
        value
    }

    /// Appends `name=value` (both percent-encoded) to the query string.
    pub fn push_query(&mut self, name: &str, value: &str) {
        let sep = if self.target.contains('?') { '&' } else { '?' };
        self.target = format!(
            "{}{sep}{}={}",
            self.target,
            utf8_percent_encode(name, UNRESERVED),
            utf8_percent_encode(value, UNRESERVED)
        );
    }

    /// The query parameter's value as sent (still encoded), if any.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// The request's bytes. `content-length` (unless given or chunked) and `connection: close`
    /// are added here, after signing, so they are never signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        match self.chunked {
            Some(_) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
            None if self.header("content-length").is_none() => {
                out.extend_from_slice(
                    format!("content-length: {}\r\n", self.body.len()).as_bytes(),
                );
            }
            None => {}
        }
        out.extend_from_slice(b"connection: close\r\n\r\n");
        match self.chunked {
            Some(size) => {
                for chunk in self.body.chunks(size.max(1)) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => out.extend_from_slice(&self.body),
        }
        out
    }
}

/// Who signs, for which scope, and when.
#[derive(Debug, Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
    pub time: SystemTime,
}

impl Signer {
    /// Signs for `iam` in [`SIGNING_REGION`] at the current time.
    pub fn new(access_key_id: &str, secret: &str) -> Self {
        Signer {
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
            session_token: None,
            region: SIGNING_REGION.to_string(),
            service: "iam".to_string(),
            time: SystemTime::now(),
        }
    }

    pub fn service(mut self, service: &str) -> Self {
        self.service = service.to_string();
        self
    }

    pub fn session_token(mut self, token: &str) -> Self {
        self.session_token = Some(token.to_string());
        self
    }

    /// Signs as if the clock read `time`.
    pub fn at(mut self, time: SystemTime) -> Self {
        self.time = time;
        self
    }

    /// Signs as if the clock were `offset` behind the real one.
    pub fn backdated(self, offset: Duration) -> Self {
        self.at(SystemTime::now() - offset)
    }

    /// Signs as if the clock were `offset` ahead of the real one.
    pub fn ahead(self, offset: Duration) -> Self {
        self.at(SystemTime::now() + offset)
    }

    fn run(
        &self,
        req: &RawRequest,
        settings: SigningSettings,
    ) -> aws_sigv4::http_request::SigningInstructions {
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            &self.secret,
            self.session_token.clone(),
            None,
            "raw-request-tests",
        )
        .into();
        let params: SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let signable = SignableRequest::new(
            &req.method,
            req.target.as_str(),
            req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&req.body),
        )
        .expect("signable request");
        let (instructions, _signature) = sign(signable, &params).expect("signs").into_parts();
        instructions
    }

    /// Header auth: signs every header currently in `req` plus `x-amz-date` (and the token),
    /// then appends `x-amz-date`, `x-amz-security-token` and `authorization`.
    pub fn sign(&self, req: &mut RawRequest) {
        assert!(req.header("host").is_some(), "sign needs a host header");
        let mut settings = SigningSettings::default();
        settings.excluded_headers = None;
        let instructions = self.run(req, settings);
        for (name, value) in instructions.headers() {
            req.headers.push((name.to_string(), value.to_string()));
        }
    }

    /// Query auth: signs `req` (whose only header should be `host`) for `expires`, then appends
    /// the `X-Amz-*` parameters, `X-Amz-Signature` last.
    pub fn presign(&self, req: &mut RawRequest, expires: Duration) {
        assert!(req.header("host").is_some(), "presign needs a host header");
        let mut settings = SigningSettings::default();
        settings.excluded_headers = None;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let instructions = self.run(req, settings);
        let params: Vec<(String, String)> = instructions
            .params()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (name, value) in params {
            req.push_query(&name, &value);
        }
    }
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The unescaped text of the first `<name>…</name>` element in the body.
    pub fn element(&self, name: &str) -> Option<String> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = self.body.find(&open)? + open.len();
        let len = self.body[start..].find(&close)?;
        let raw = &self.body[start..start + len];
        Some(
            quick_xml::escape::unescape(raw)
                .expect("well-formed XML text")
                .into_owned(),
        )
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends `req` on a new connection and reads one response.
pub async fn send(addr: SocketAddr, req: &RawRequest) -> RawResponse {
    send_bytes(addr, req.to_bytes()).await
}

/// Writes `bytes` on a new connection while reading one response. The write runs in its own task
/// so that a server that answers before reading the whole body (413) is still heard; write errors
/// after that point are expected and ignored.
pub async fn send_bytes(addr: SocketAddr, bytes: Vec<u8>) -> RawResponse {
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let write_task = tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
        let _ = writer.flush().await;
        // Keep the write half open (dropping it sends FIN) until the response has been read.
        writer
    });
    let response = tokio::time::timeout(Duration::from_secs(30), read_response(&mut reader))
        .await
        .expect("the server answers within 30 s");
    write_task.abort();
    let _ = write_task.await;
    response
}

async fn read_response(reader: &mut tokio::net::tcp::OwnedReadHalf) -> RawResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = reader.read(&mut chunk).await.expect("reads the response");
        assert!(
            n > 0,
            "connection closed before a full response head: {buf:?}"
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("ASCII response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let content_length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().expect("numeric content-length"));
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")),
        "this client does not read chunked responses"
    );
    loop {
        if content_length.is_some_and(|n| buf.len() >= head_end + n) {
            break;
        }
        let n = match reader.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if content_length.is_none() => panic!("read failed: {e}"),
            Err(e) => panic!("read failed before the whole body arrived: {e}"),
        };
        if n == 0 {
            assert!(
                content_length.is_none(),
                "connection closed before the whole body arrived"
            );
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = content_length.map_or(buf.len(), |n| head_end + n);
    RawResponse {
        status,
        headers,
        body: String::from_utf8(buf[head_end..end].to_vec()).expect("UTF-8 body"),
    }
}
