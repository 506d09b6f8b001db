//! The web console's handlers over raw HTTP: cookie flags, security headers, the refusals a
//! browser-borne attacker meets (foreign Origin or Host, missing or wrong CSRF token), redirects,
//! escaping, sessions ending with their key, and every change checked through the AWS SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use iamlite::Server;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MSG_BAD_PAIR: &str = "Incorrect access key ID or secret access key.";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HashMap<String, Vec<String>>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
    fn location(&self) -> &str {
        self.header("location").unwrap_or_default()
    }
}

/// One raw HTTP/1.1 request with exactly these headers (plus Host, unless given).
async fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("host: {}\r\n", server.local_addr()));
    }
    if method == "POST" {
        request.push_str("content-type: application/x-www-form-urlencoded\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').unwrap();
        headers
            .entry(k.trim().to_ascii_lowercase())
            .or_default()
            .push(v.trim().to_string());
    }
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// A signed-in browser: its cookie and the session's CSRF token.
struct Browser<'a> {
    server: &'a Server,
    cookie: String,
    csrf: String,
}

fn cookie_name(server: &Server) -> String {
    format!("iamlite_console_{}", server.local_addr().port())
}

fn origin(server: &Server) -> String {
    format!("http://{}", server.local_addr())
}

async fn sign_in(server: &Server, key_id: &str, secret: &str) -> Reply {
    let body = form(&[
        ("method", "key"),
        ("access_key_id", key_id),
        ("secret_access_key", secret),
    ]);
    let origin = origin(server);
    send(
        server,
        "POST",
        "/console/signin",
        &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        &body,
    )
    .await
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field")
        + 25;
    html[at..at + 64].to_string()
}

impl<'a> Browser<'a> {
    async fn sign_in_as(server: &'a Server, key_id: &str, secret: &str) -> Browser<'a> {
        let reply = sign_in(server, key_id, secret).await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        let set = reply.header("set-cookie").unwrap();
        let cookie = set.split(';').next().unwrap().to_string();
        let mut b = Browser {
            server,
            cookie,
            csrf: String::new(),
        };
        let page = b.get("/console/users").await;
        b.csrf = csrf_of(&page.body);
        b
    }

    async fn root(server: &'a Server) -> Browser<'a> {
        let (id, secret) = server.root_credentials();
        let (id, secret) = (id.to_string(), secret.to_string());
        Self::sign_in_as(server, &id, &secret).await
    }

    async fn get(&self, path: &str) -> Reply {
        send(self.server, "GET", path, &[("cookie", &self.cookie)], "").await
    }

    /// A form post as the console's own page sends it, CSRF token included.
    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let mut all = vec![("csrf_token", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(path, &form(&all), &[]).await
    }

    async fn post_raw(&self, path: &str, body: &str, extra: &[(&str, &str)]) -> Reply {
        let origin = origin(self.server);
        let mut headers = vec![
            ("cookie", self.cookie.as_str()),
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];
        for (k, v) in extra {
            headers.retain(|(name, _)| name != k);
            // An empty value leaves the header out.
            if !v.is_empty() {
                headers.push((k, v));
            }
        }
        send(self.server, "POST", path, &headers, body).await
    }

    /// Opens the Create access key dialog of a key page (`/console/users/NAME`, `/console/root`)
    /// and returns its single-use form token.
    async fn create_nonce(&self, page: &str) -> String {
        let page = self.get(&format!("{page}?dialog=create")).await;
        let at = page
            .body
            .find("name=\"nonce\" value=\"")
            .expect("the create dialog")
            + 20;
        page.body[at..at + 64].to_string()
    }

    /// Creates a key from a key page's dialog, with these extra form fields.
    async fn create_key(&self, page: &str, fields: &[(&str, &str)]) -> Reply {
        let nonce = self.create_nonce(page).await;
        let mut all = vec![("nonce", nonce.as_str())];
        all.extend_from_slice(fields);
        self.post(&format!("{page}/access-keys"), &all).await
    }

    /// Follows a redirect to the page it names.
    async fn follow(&self, reply: &Reply) -> Reply {
        assert_eq!(reply.status, 303, "{}", reply.body);
        self.get(reply.location()).await
    }
}

async fn user_exists(server: &Server, name: &str) -> bool {
    root_iam(server)
        .get_user()
        .user_name(name)
        .send()
        .await
        .is_ok()
}

/// The key ids ListAccessKeys shows for `user`, or for the root user with `None`.
async fn key_ids(server: &Server, user: Option<&str>) -> Vec<String> {
    root_iam(server)
        .list_access_keys()
        .set_user_name(user.map(str::to_string))
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| k.access_key_id().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_named_with_the_port() {
    let server = start().await;
    let (id, secret) = server.root_credentials();
    let reply = sign_in(&server, id, secret).await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.location(), "/console/users");
    let cookie = reply.header("set-cookie").unwrap();
    let (pair, flags) = cookie.split_once(';').unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, cookie_name(&server));
    assert_eq!(value.len(), 64);
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(flags.trim(), "Path=/console; HttpOnly; SameSite=Strict");
    // A second sign-in gets another session.
    let again = sign_in(&server, id, secret).await;
    assert_eq!(again.status, 303);
    let other = again
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert!(other.starts_with(&format!("{}=", cookie_name(&server))));
    assert_ne!(other, pair);
}

#[tokio::test]
async fn every_console_answer_forbids_caching_framing_and_foreign_scripts() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser.post("/console/users", &[("UserName", "hal")]).await;
    let secret_page = browser.create_key("/console/users/hal", &[]).await;
    assert!(secret_page.body.contains("Retrieve access keys"));
    let evil = format!("evil.example:{}", server.local_addr().port());
    for reply in [
        send(&server, "GET", "/console/signin", &[], "").await,
        send(&server, "GET", "/console", &[], "").await,
        send(&server, "GET", "/console/nope", &[], "").await,
        browser.get("/console/users").await,
        browser.get("/console/users/hal").await,
        secret_page,
        browser.post_raw("/console/users", "UserName=x", &[]).await,
        send(&server, "GET", "/console/signin", &[("host", &evil)], "").await,
        browser.get("/console/assets/console.js").await,
        sign_in(&server, "AKIANOSUCHKEY0000000", "x").await,
    ] {
        assert_eq!(reply.header("content-security-policy"), Some(CSP));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("referrer-policy"), Some("same-origin"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    }
    let css = browser.get("/console/assets/console.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[tokio::test]
async fn signed_out_pages_redirect_to_the_sign_in_page() {
    let server = start().await;
    for path in ["/console", "/console/users", "/console/users/alice"] {
        let reply = send(&server, "GET", path, &[], "").await;
        assert_eq!((reply.status, reply.location()), (303, "/console/signin"));
    }
    let page = send(&server, "GET", "/console/signin", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Sign in to iamlite</h1>"));
    assert!(!page.body.contains("Sign in with email and password"));
    // A post without a session changes nothing and is sent to sign in.
    let origin = origin(&server);
    let reply = send(
        &server,
        "POST",
        "/console/users",
        &[("origin", &origin)],
        &form(&[("UserName", "mallory")]),
    )
    .await;
    assert_eq!((reply.status, reply.location()), (303, "/console/signin"));
    assert!(!user_exists(&server, "mallory").await);
}

#[tokio::test]
async fn unknown_wrong_inactive_and_expired_keys_get_one_generic_message() {
    let server = start().await;
    let iam = root_iam(&server);
    let (inactive, inactive_secret) = user_with_key(&iam, "ivy").await;
    iam.update_access_key()
        .user_name("ivy")
        .access_key_id(&inactive)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    // An expiring key, made through the console (the AWS API has no expiration).
    let browser = Browser::root(&server).await;
    browser.post("/console/users", &[("UserName", "eve")]).await;
    let created = browser
        .create_key("/console/users/eve", &[("expiration", "2099-01-01T00:00")])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let (expiring, expiring_secret) = created_pair(&created);
    assert!(sign_in(&server, &expiring, &expiring_secret).await.status == 303);
    server.advance_clock(Duration::from_secs(100 * 365 * 24 * 3600));

    let (root_id, _) = server.root_credentials();
    for (id, secret) in [
        ("AKIANOSUCHKEY0000000", "whatever"),
        (root_id, "wrong-secret"),
        (inactive.as_str(), inactive_secret.as_str()),
        (expiring.as_str(), expiring_secret.as_str()),
        ("", ""),
    ] {
        let reply = sign_in(&server, id, secret).await;
        assert_eq!(reply.status, 401, "{id}");
        assert!(reply.header("set-cookie").is_none());
        assert!(
            reply.body.contains(&format!(
                "<div class=\"message alert\" role=\"alert\">{MSG_BAD_PAIR}</div>"
            )),
            "{}",
            reply.body
        );
        assert!(!reply.body.contains(secret) || secret.is_empty());
    }
}

#[tokio::test]
async fn posts_from_another_origin_or_without_the_right_token_are_refused_and_change_nothing() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    let good = form(&[("csrf_token", &browser.csrf), ("UserName", "mallory")]);
    let no_token = form(&[("UserName", "mallory")]);
    let wrong_token = form(&[("csrf_token", &"0".repeat(64)), ("UserName", "mallory")]);
    // Another port on 127.0.0.1 is the same site: its cookie goes along, SameSite or not.
    let other_port = format!("http://127.0.0.1:{}", server.local_addr().port() + 1);
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (good.clone(), vec![("origin", other_port.as_str())]),
        (good.clone(), vec![("origin", "http://evil.example")]),
        (good.clone(), vec![("sec-fetch-site", "same-site")]),
        (good.clone(), vec![("sec-fetch-site", "cross-site")]),
        (
            good.clone(),
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
        ),
        (
            good.clone(),
            vec![("origin", "null"), ("sec-fetch-site", "")],
        ),
        (no_token, vec![]),
        (wrong_token, vec![]),
    ];
    for (body, extra) in &cases {
        let reply = browser.post_raw("/console/users", body, extra).await;
        assert_eq!(reply.status, 403, "{extra:?}: {}", reply.body);
        assert!(reply.body.contains("role=\"alert\""));
    }
    // Sign-in forms too: a foreign page cannot sign a victim into an attacker's session.
    let (id, secret) = server.root_credentials();
    let body = form(&[("access_key_id", id), ("secret_access_key", secret)]);
    for headers in [
        vec![("origin", other_port.as_str())],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let reply = send(&server, "POST", "/console/signin", &headers, &body).await;
        assert_eq!(reply.status, 403, "{headers:?}");
        assert!(reply.header("set-cookie").is_none());
    }
    assert!(!user_exists(&server, "mallory").await);

    // The same post from the console's own page works.
    let reply = browser.post_raw("/console/users", &good, &[]).await;
    assert_eq!(reply.location(), "/console/users/mallory");
    assert!(user_exists(&server, "mallory").await);
}

#[tokio::test]
async fn a_foreign_host_name_is_refused_against_dns_rebinding() {
    let server = start().await;
    let port = server.local_addr().port();
    let evil = format!("evil.example:{port}");
    let reply = send(&server, "GET", "/console/signin", &[("host", &evil)], "").await;
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("see --allowed-host"));
    let (id, secret) = server.root_credentials();
    let body = form(&[("access_key_id", id), ("secret_access_key", secret)]);
    let origin = format!("http://{evil}");
    let reply = send(
        &server,
        "POST",
        "/console/signin",
        &[("host", &evil), ("origin", &origin)],
        &body,
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("set-cookie").is_none());
    let localhost = format!("localhost:{port}");
    let reply = send(
        &server,
        "GET",
        "/console/signin",
        &[("host", &localhost)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);

    let allowed = Server::builder()
        .allowed_host("iam.test")
        .start()
        .await
        .unwrap();
    let host = format!("iam.test:{}", allowed.local_addr().port());
    let reply = send(&allowed, "GET", "/console/signin", &[("host", &host)], "").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn hostile_names_and_descriptions_render_as_text() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser.post("/console/users", &[("UserName", "bob")]).await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
    let reply = browser
        .create_key("/console/users/bob", &[("description", hostile)])
        .await;
    assert_eq!(reply.status, 200);
    let page = browser.get("/console/users/bob").await;
    assert!(page.body.contains(
        "<td>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;'&amp;</td>"
    ), "{}", page.body);
    assert!(!page.body.contains("<script>alert"));
    assert!(!page.body.contains("<img"));
    // A name from the URL is echoed in the error, escaped.
    let reply = browser
        .get("/console/users/%3Cscript%3Ex%3C%2Fscript%3E")
        .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.body.contains(
            "NoSuchEntity: The user with name &lt;script&gt;x&lt;/script&gt; cannot be found."
        ),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("<script>x"));
}

#[tokio::test]
async fn the_session_ends_when_its_key_is_deactivated_deleted_or_expires() {
    let server = start().await;
    let iam = root_iam(&server);
    let (key, secret) = user_with_key(&iam, "dora").await;
    let browser = Browser::sign_in_as(&server, &key, &secret).await;
    assert!(
        browser
            .get("/console/users")
            .await
            .body
            .contains("Signed in as dora (account 123456789012)")
    );
    iam.update_access_key()
        .user_name("dora")
        .access_key_id(&key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let reply = browser.get("/console/users").await;
    assert_eq!(reply.location(), "/console/signin?ended=key");
    let cleared = format!(
        "{}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        cookie_name(&server)
    );
    assert_eq!(reply.header("set-cookie"), Some(cleared.as_str()));
    let page = browser.follow(&reply).await;
    assert!(page.body.contains(
        "Your session ended because the access key you signed in with is no longer active."
    ));
    // Reactivating the key does not bring the session back.
    iam.update_access_key()
        .user_name("dora")
        .access_key_id(&key)
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin"
    );

    let browser = Browser::sign_in_as(&server, &key, &secret).await;
    iam.update_access_key()
        .user_name("dora")
        .access_key_id(&key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.delete_access_key()
        .user_name("dora")
        .access_key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin?ended=key"
    );
}

#[tokio::test]
async fn deactivating_the_sign_in_key_from_the_console_signs_out() {
    let server = start().await;
    let iam = root_iam(&server);
    let (key, secret) = user_with_key(&iam, "sam").await;
    let browser = Browser::sign_in_as(&server, &key, &secret).await;
    let dialog = browser
        .get(&format!("/console/users/sam?dialog=update&key={key}"))
        .await;
    assert!(
        dialog
            .body
            .contains("You signed in with this key. Deactivating it signs you out.")
    );
    let reply = browser
        .post(
            "/console/users/sam/access-keys/update",
            &[
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
                ("no_expiration", "on"),
            ],
        )
        .await;
    assert_eq!(reply.location(), "/console/signin?ended=key");
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin"
    );
}

#[tokio::test]
async fn idle_sessions_end_after_thirty_minutes_and_all_after_eight_hours() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    server.advance_clock(Duration::from_secs(29 * 60));
    assert_eq!(browser.get("/console/users").await.status, 200);
    server.advance_clock(Duration::from_secs(30 * 60));
    let reply = browser.get("/console/users").await;
    assert_eq!(reply.location(), "/console/signin?ended=expired");
    assert!(
        browser
            .follow(&reply)
            .await
            .body
            .contains("Your session has expired. Sign in again.")
    );

    let browser = Browser::root(&server).await;
    for _ in 0..16 {
        server.advance_clock(Duration::from_secs(29 * 60));
        assert_eq!(browser.get("/console/users").await.status, 200);
    }
    server.advance_clock(Duration::from_secs(20 * 60));
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin?ended=expired"
    );
}

#[tokio::test]
async fn sign_out_needs_the_token_and_ends_the_session() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    let refused = browser.post_raw("/console/signout", "", &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(browser.get("/console/users").await.status, 200);
    let reply = browser.post("/console/signout", &[]).await;
    assert_eq!(reply.location(), "/console/signin");
    assert!(reply.header("set-cookie").unwrap().ends_with("Max-Age=0"));
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin"
    );
}

#[tokio::test]
async fn a_replayed_create_form_makes_no_second_key() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser
        .post("/console/users", &[("UserName", "rita")])
        .await;
    let nonce = browser.create_nonce("/console/users/rita").await;
    let path = "/console/users/rita/access-keys";
    let first = browser.post(path, &[("nonce", &nonce)]).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("<h1>Retrieve access keys</h1>"));
    assert!(first.body.contains("download=\"rita_accessKeys.csv\""));
    let again = browser.post(path, &[("nonce", &nonce)]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("no second access key was created"));
    assert!(!again.body.contains("secret-value"));
    let missing = browser.post(path, &[]).await;
    assert_eq!(missing.status, 409);
    assert_eq!(key_ids(&server, Some("rita")).await.len(), 1);
}

#[tokio::test]
async fn api_errors_are_shown_as_code_and_message_and_the_quota_disables_create() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    let reply = browser
        .post("/console/users", &[("UserName", "bad name!")])
        .await;
    let page = browser.follow(&reply).await;
    assert!(page.body.contains(
        "<div class=\"message alert\" role=\"alert\">ValidationError: The specified value for userName is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-</div>"
    ), "{}", page.body);
    browser
        .post("/console/users", &[("UserName", "quinn")])
        .await;
    let page = browser
        .follow(
            &browser
                .post("/console/users", &[("UserName", "QUINN")])
                .await,
        )
        .await;
    assert!(
        page.body
            .contains("EntityAlreadyExists: User with name QUINN already exists."),
        "{}",
        page.body
    );

    browser.create_key("/console/users/quinn", &[]).await;
    let nonce = browser.create_nonce("/console/users/quinn").await;
    assert_eq!(
        browser.create_key("/console/users/quinn", &[]).await.status,
        200
    );
    let full = browser.get("/console/users/quinn").await;
    assert!(full.body.contains(
        "<button type=\"submit\" name=\"dialog\" value=\"create\" disabled aria-describedby=\"quota-note\">Create access key</button>"
    ), "{}", full.body);
    assert!(full.body.contains(
        "This user already has 2 access keys, the maximum. Delete one to create another."
    ));
    // A form opened before the quota was reached still meets the store's rule.
    let reply = browser
        .post("/console/users/quinn/access-keys", &[("nonce", &nonce)])
        .await;
    let page = browser.follow(&reply).await;
    assert!(
        page.body
            .contains("LimitExceeded: Cannot exceed quota for AccessKeysPerUser: 2")
    );
    assert_eq!(key_ids(&server, Some("quinn")).await.len(), 2);
}

#[tokio::test]
async fn an_active_key_is_not_deleted_and_a_typed_id_must_match() {
    let server = start().await;
    let iam = root_iam(&server);
    let (key, _) = user_with_key(&iam, "kim").await;
    let browser = Browser::root(&server).await;
    let dialog = browser
        .get(&format!("/console/users/kim?dialog=delete&key={key}"))
        .await;
    assert!(
        dialog
            .body
            .contains("This key is active. Deactivate the key first")
    );
    assert!(!dialog.body.contains("To confirm, enter the access key ID"));
    let path = "/console/users/kim/access-keys/delete";
    let page = browser
        .follow(
            &browser
                .post(path, &[("AccessKeyId", &key), ("confirm", &key)])
                .await,
        )
        .await;
    assert!(
        page.body.contains(&format!(
            "DeleteConflict: The Access Key with id {key} must be Inactive to be deleted."
        )),
        "{}",
        page.body
    );
    let reply = browser
        .post(
            "/console/users/kim/access-keys/update",
            &[("AccessKeyId", &key), ("Status", "Inactive")],
        )
        .await;
    assert!(
        browser
            .follow(&reply)
            .await
            .body
            .contains(&format!("Access key {key} updated."))
    );
    let page = browser
        .follow(
            &browser
                .post(path, &[("AccessKeyId", &key), ("confirm", "AKIA")])
                .await,
        )
        .await;
    assert!(
        page.body
            .contains("The access key ID you entered does not match. Nothing was deleted.")
    );
    assert_eq!(key_ids(&server, Some("kim")).await, vec![key.clone()]);
    let page = browser
        .follow(
            &browser
                .post(path, &[("AccessKeyId", &key), ("confirm", &key)])
                .await,
        )
        .await;
    assert!(page.body.contains(&format!("Access key {key} deleted.")));
    assert!(page.body.contains("No access keys"));
    assert!(key_ids(&server, Some("kim")).await.is_empty());
}

#[tokio::test]
async fn no_update_or_delete_dialog_opens_without_a_selected_key() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser
        .post("/console/users", &[("UserName", "nora")])
        .await;
    for dialog in ["update", "delete"] {
        let page = browser
            .get(&format!("/console/users/nora?dialog={dialog}"))
            .await;
        assert!(page.body.contains(
            "<div class=\"message alert\" role=\"alert\">Select an access key first.</div>"
        ));
        assert!(!page.body.contains("<dialog"));
    }
}

#[tokio::test]
async fn the_update_dialog_keeps_changes_clears_and_sets_the_expiration() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser.post("/console/users", &[("UserName", "uma")]).await;
    let created = browser.create_key("/console/users/uma", &[]).await;
    let (key, _) = created_pair(&created);
    let path = "/console/users/uma/access-keys/update";
    browser
        .post(
            path,
            &[
                ("AccessKeyId", &key),
                ("Status", "Active"),
                ("expiration", "2099-03-04T05:06:07"),
            ],
        )
        .await;
    let page = browser.get("/console/users/uma").await;
    assert!(
        page.body
            .contains("<time datetime=\"2099-03-04T05:06:07Z\">2099-03-04 05:06:07 UTC</time>"),
        "{}",
        page.body
    );
    // The dialog is pre-filled with the date; sending it back unchanged keeps it.
    let dialog = browser
        .get(&format!("/console/users/uma?dialog=update&key={key}"))
        .await;
    assert!(dialog.body.contains("value=\"2099-03-04T05:06:07\""));
    browser
        .post(
            path,
            &[
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
                ("expiration", "2099-03-04T05:06:07"),
            ],
        )
        .await;
    let page = browser.get("/console/users/uma").await;
    assert!(page.body.contains("2099-03-04 05:06:07 UTC"));
    assert!(page.body.contains(">Inactive</span>"));
    browser
        .post(
            path,
            &[
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
                ("expiration", "2099-03-04T05:06:07"),
                ("no_expiration", "on"),
            ],
        )
        .await;
    let page = browser.get("/console/users/uma").await;
    assert!(!page.body.contains("2099-03-04"));
    let bad = browser
        .post(
            path,
            &[
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
                ("expiration", "2001-01-01T00:00"),
            ],
        )
        .await;
    assert!(
        browser
            .follow(&bad)
            .await
            .body
            .contains("InvalidInput: The expiration date has passed.")
    );
}

#[tokio::test]
async fn users_are_created_listed_and_deleted_after_typing_the_name() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    let reply = browser
        .post(
            "/console/users",
            &[("UserName", "walt"), ("Path", "/team/")],
        )
        .await;
    assert_eq!(reply.location(), "/console/users/walt");
    let page = browser.follow(&reply).await;
    assert!(page.body.contains("User walt created."));
    assert!(
        page.body
            .contains("arn:aws:iam::123456789012:user/team/walt")
    );
    root_iam(&server)
        .create_user()
        .user_name("api-made")
        .send()
        .await
        .unwrap();
    let list = browser.get("/console/users").await;
    assert!(
        list.body
            .contains("<a href=\"/console/users/api-made\">api-made</a>")
    );
    assert!(list.body.contains("<caption>Users</caption>"));
    let path = "/console/users/walt/delete";
    let page = browser
        .follow(&browser.post(path, &[("confirm", "wal")]).await)
        .await;
    assert!(
        page.body
            .contains("The user name you entered does not match. Nothing was deleted.")
    );
    assert!(user_exists(&server, "walt").await);
    let reply = browser.post(path, &[("confirm", "walt")]).await;
    assert_eq!(reply.location(), "/console/users");
    assert!(
        browser
            .follow(&reply)
            .await
            .body
            .contains("User walt deleted.")
    );
    assert!(!user_exists(&server, "walt").await);
}

#[tokio::test]
async fn each_account_sees_only_its_own_users() {
    let server = Server::builder()
        .seed_file("fixtures/seed.toml")
        .unwrap()
        .start()
        .await
        .unwrap();
    let root = Browser::root(&server).await;
    assert!(root.get("/console/users").await.body.contains(">alice</a>"));
    assert_eq!(root.get("/console/users/ci-deployer").await.status, 404);
    let other = Browser::sign_in_as(
        &server,
        "AKIAQYLPMN5HDEPLOYRA",
        "deployerSecretKey0000000000000000000000A",
    )
    .await;
    let list = other.get("/console/users").await;
    assert!(
        list.body
            .contains("Signed in as ci-deployer (account 111122223333)")
    );
    assert!(list.body.contains(">ci-deployer</a>"));
    assert!(!list.body.contains(">alice</a>"));
    assert_eq!(other.get("/console/users/alice").await.status, 404);
    let reply = other
        .post("/console/users/alice/delete", &[("confirm", "alice")])
        .await;
    assert!(other.follow(&reply).await.body.contains("NoSuchEntity"));
    assert!(user_exists(&server, "alice").await);
}

#[tokio::test]
async fn the_root_login_and_password_sign_in_too() {
    let server = Server::builder()
        .root_login("admin@example.com", "correct horse")
        .start()
        .await
        .unwrap();
    let page = send(&server, "GET", "/console/signin", &[], "").await;
    assert!(page.body.contains("Sign in with email and password"));
    let post = |email: &'static str, password: &'static str| {
        let server = &server;
        async move {
            let body = form(&[
                ("method", "password"),
                ("email", email),
                ("password", password),
            ]);
            send(server, "POST", "/console/signin", &[], &body).await
        }
    };
    let bad = post("admin@example.com", "wrong").await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("Incorrect email or password."));
    let good = post("admin@example.com", "correct horse").await;
    assert_eq!(good.location(), "/console/users");
    let cookie = good
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let users = send(&server, "GET", "/console/users", &[("cookie", &cookie)], "").await;
    assert!(
        users
            .body
            .contains("Signed in as root (account 123456789012)")
    );
}

#[tokio::test]
async fn ten_failed_sign_ins_block_the_address_for_a_minute() {
    let server = start().await;
    for _ in 0..10 {
        assert_eq!(
            sign_in(&server, "AKIANOSUCHKEY0000000", "x").await.status,
            401
        );
    }
    let (id, secret) = server.root_credentials();
    let blocked = sign_in(&server, id, secret).await;
    assert_eq!(blocked.status, 429);
    assert_eq!(blocked.header("retry-after"), Some("60"));
    assert!(
        blocked
            .body
            .contains("Too many failed sign-ins from this address.")
    );
    assert!(blocked.header("set-cookie").is_none());
    server.advance_clock(Duration::from_secs(61));
    assert_eq!(sign_in(&server, id, secret).await.status, 303);
}

#[tokio::test]
async fn signing_in_is_not_a_use_of_the_key() {
    let server = start().await;
    let iam = root_iam(&server);
    let (key, secret) = user_with_key(&iam, "lou").await;
    Browser::sign_in_as(&server, &key, &secret).await;
    let used = iam
        .get_access_key_last_used()
        .access_key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(
        used.access_key_last_used()
            .unwrap()
            .last_used_date()
            .is_none()
    );
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let server = Server::builder().console(false).start().await.unwrap();
    let reply = send(&server, "GET", "/console/signin", &[], "").await;
    assert_eq!(reply.status, 403);
    assert!(
        reply
            .body
            .contains("<Code>MissingAuthenticationToken</Code>"),
        "{}",
        reply.body
    );
    assert!(reply.header("content-security-policy").is_none());
}

/// The created key's id and secret, read from the Retrieve access keys page.
fn created_pair(reply: &Reply) -> (String, String) {
    let at = reply.body.find("id=\"access-key-id\">").unwrap() + 19;
    let id = reply.body[at..at + 20].to_string();
    let at = reply.body.find("id=\"secret-value\" hidden>").unwrap() + 25;
    (id, reply.body[at..at + 40].to_string())
}

fn minutes_from_now(server: &Server, minutes: i64) -> String {
    let at = server.clock().now() + time::Duration::minutes(minutes);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    at.format(&format).unwrap()
}

#[tokio::test]
async fn a_session_ends_when_its_key_expires() {
    let server = start().await;
    let root = Browser::root(&server).await;
    root.post("/console/users", &[("UserName", "tess")]).await;
    let created = root
        .create_key(
            "/console/users/tess",
            &[("expiration", &minutes_from_now(&server, 10))],
        )
        .await;
    let (key, secret) = created_pair(&created);
    let browser = Browser::sign_in_as(&server, &key, &secret).await;
    server.advance_clock(Duration::from_secs(9 * 60));
    assert_eq!(browser.get("/console/users").await.status, 200);
    server.advance_clock(Duration::from_secs(2 * 60));
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin?ended=key"
    );
    // The root session, on an unexpiring key, goes on.
    assert_eq!(root.get("/console/users").await.status, 200);
}

#[tokio::test]
async fn a_status_change_keeps_an_expiration_that_has_passed() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser.post("/console/users", &[("UserName", "pat")]).await;
    let created = browser
        .create_key(
            "/console/users/pat",
            &[("expiration", &minutes_from_now(&server, 5))],
        )
        .await;
    let (key, _) = created_pair(&created);
    server.advance_clock(Duration::from_secs(10 * 60));
    let dialog = browser
        .get(&format!("/console/users/pat?dialog=update&key={key}"))
        .await;
    let marker = "name=\"expiration\" step=\"1\" value=\"";
    let at = dialog.body.find(marker).unwrap() + marker.len();
    let prefilled = dialog.body[at..at + 19].to_string();
    let delete = browser
        .get(&format!("/console/users/pat?dialog=delete&key={key}"))
        .await;
    assert!(
        delete
            .body
            .contains("This key has expired, but its status is still Active.")
    );
    let reply = browser
        .post(
            "/console/users/pat/access-keys/update",
            &[
                ("AccessKeyId", &key),
                ("Status", "Inactive"),
                ("expiration", &prefilled),
            ],
        )
        .await;
    let page = browser.follow(&reply).await;
    assert!(
        page.body.contains(&format!("Access key {key} updated.")),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Expired</span>"));
}

#[tokio::test]
async fn without_the_script_a_date_and_no_expiration_are_read_sensibly() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    browser
        .post("/console/users", &[("UserName", "noel")])
        .await;
    let (key, _) = created_pair(&browser.create_key("/console/users/noel", &[]).await);
    let path = "/console/users/noel/access-keys/update";
    let update = |pairs: Vec<(&'static str, String)>| {
        let browser = &browser;
        let key = key.clone();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("AccessKeyId", &key), ("Status", "Active")];
            all.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            let reply = browser.post(path, &all).await;
            browser.follow(&reply).await.body
        }
    };
    // A key that never expired: the box comes checked; a typed date is that date.
    let page = update(vec![
        ("expiration", "2098-05-06T07:08".into()),
        ("no_expiration", "on".into()),
    ])
    .await;
    assert!(page.contains("2098-05-06 07:08:00 UTC"), "{page}");
    // The pre-filled date with the box checked: no expiration any more.
    let page = update(vec![
        ("expiration", "2098-05-06T07:08:00".into()),
        ("no_expiration", "on".into()),
    ])
    .await;
    assert!(!page.contains("2098-05-06"), "{page}");
    // Another date with the box checked is ambiguous, and changes nothing.
    update(vec![("expiration", "2098-05-06T07:08".into())]).await;
    let page = update(vec![
        ("expiration", "2099-01-01T00:00".into()),
        ("no_expiration", "on".into()),
    ])
    .await;
    assert!(
        page.contains("ValidationError: Choose an expiration date or No expiration, not both.")
    );
    assert!(page.contains("2098-05-06 07:08:00 UTC"));
}

#[tokio::test]
async fn a_reset_or_import_ends_every_session() {
    let server = start().await;
    let browser = Browser::root(&server).await;
    let admin = |path: &'static str, body: String| {
        let server = &server;
        async move { send(server, "POST", path, &[], &body).await }
    };
    assert_eq!(admin("/_iamlite/reset", String::new()).await.status, 200);
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin"
    );
    let browser = Browser::root(&server).await;
    let state = send(&server, "GET", "/_iamlite/state", &[], "").await;
    assert_eq!(admin("/_iamlite/state", state.body).await.status, 200);
    assert_eq!(
        browser.get("/console/users").await.location(),
        "/console/signin"
    );
}

#[tokio::test]
async fn console_pages_do_not_move_seeded_ids() {
    async fn user_id_after(console_views: usize) -> String {
        let server = Server::builder().id_seed(7).start().await.unwrap();
        let browser = Browser::root(&server).await;
        for _ in 0..console_views {
            browser.get("/console/users").await;
            browser.get("/console/assets/console.css").await;
        }
        root_iam(&server)
            .create_user()
            .user_name("seeded")
            .send()
            .await
            .unwrap()
            .user
            .unwrap()
            .user_id
    }
    assert_eq!(user_id_after(0).await, user_id_after(5).await);
}

#[tokio::test]
async fn signing_in_again_ends_the_session_the_browser_had() {
    let server = start().await;
    let first = Browser::root(&server).await;
    let (id, secret) = server.root_credentials();
    let body = form(&[("access_key_id", id), ("secret_access_key", secret)]);
    let reply = send(
        &server,
        "POST",
        "/console/signin",
        &[("cookie", &first.cookie)],
        &body,
    )
    .await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        first.get("/console/users").await.location(),
        "/console/signin"
    );
}

#[tokio::test]
async fn the_quota_text_follows_the_flavour() {
    let server = Server::builder()
        .flavor(iamlite::Flavor::Outscale)
        .start()
        .await
        .unwrap();
    let iam = root_iam(&server);
    iam.create_user().user_name("olga").send().await.unwrap();
    let browser = Browser::root(&server).await;
    for n in 0..10 {
        let page = browser.get("/console/users/olga").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("quota-note"), "after {n} keys");
        iam.create_access_key()
            .user_name("olga")
            .send()
            .await
            .unwrap();
    }
    let page = browser.get("/console/users/olga").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(
        "This user already has 10 access keys, the maximum. Delete one to create another."
    ));
}

#[tokio::test]
async fn the_root_user_manages_its_own_keys_and_no_one_else_does() {
    let server = start().await;
    let (root_key, _) = server.root_credentials();
    let root_key = root_key.to_string();
    let browser = Browser::root(&server).await;
    let page = browser.get("/console/users").await;
    assert!(
        page.body
            .contains("<a href=\"/console/root\">Root user</a>")
    );
    let page = browser.get("/console/root").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Root user</h1>"));
    assert!(page.body.contains("arn:aws:iam::123456789012:root"));
    assert!(
        page.body
            .contains("<caption>Access keys for the root user</caption>")
    );
    assert!(
        page.body
            .contains(&format!("aria-label=\"Select access key {root_key}\""))
    );
    assert!(!page.body.contains("Delete user"));

    let created = browser.create_key("/console/root", &[]).await;
    assert_eq!(created.status, 200);
    assert!(created.body.contains("download=\"rootkey.csv\""));
    assert!(
        created
            .body
            .contains("<a class=\"button\" href=\"/console/root\">Done</a>")
    );
    let (new_key, _) = created_pair(&created);
    assert_eq!(key_ids(&server, None).await.len(), 2);
    let full = browser.get("/console/root").await;
    assert!(full.body.contains(
        "The root user already has 2 access keys, the maximum. Delete one to create another."
    ));

    // An Active root key is not deleted here either; an Inactive one is.
    let path = "/console/root/access-keys/delete";
    let reply = browser
        .post(path, &[("AccessKeyId", &new_key), ("confirm", &new_key)])
        .await;
    assert!(browser.follow(&reply).await.body.contains("DeleteConflict"));
    browser
        .post(
            "/console/root/access-keys/update",
            &[("AccessKeyId", &new_key), ("Status", "Inactive")],
        )
        .await;
    let reply = browser
        .post(path, &[("AccessKeyId", &new_key), ("confirm", &new_key)])
        .await;
    assert!(
        browser
            .follow(&reply)
            .await
            .body
            .contains(&format!("Access key {new_key} deleted."))
    );
    assert_eq!(key_ids(&server, None).await, vec![root_key.clone()]);

    // An IAM user of the account gets no such page and cannot post to it.
    let iam = root_iam(&server);
    let (key, secret) = user_with_key(&iam, "ursula").await;
    let user = Browser::sign_in_as(&server, &key, &secret).await;
    assert!(!user.get("/console/users").await.body.contains("Root user"));
    assert_eq!(user.get("/console/root").await.status, 404);
    let reply = user
        .post(
            "/console/root/access-keys/update",
            &[("AccessKeyId", &root_key), ("Status", "Inactive")],
        )
        .await;
    assert_eq!(reply.status, 404);
    let reply = user
        .post("/console/root/access-keys", &[("nonce", "x")])
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(key_ids(&server, None).await, vec![root_key]);
    assert_eq!(key_ids(&server, Some("ursula")).await.len(), 1);
}

#[tokio::test]
async fn malformed_console_requests_get_a_4xx_page_and_change_nothing() {
    let server = Server::builder()
        .limits(iamlite::Limits {
            max_body_bytes: 4096,
            ..iamlite::Limits::default()
        })
        .start()
        .await
        .unwrap();
    let browser = Browser::root(&server).await;
    let token = format!("csrf_token={}", browser.csrf);
    for (path, body, status) in [
        // Broken percent-encoding and bytes that are not UTF-8.
        ("/console/users", format!("{token}&UserName=%ZZ"), 400),
        ("/console/users", format!("{token}&UserName=%FF%FE"), 400),
        // Over the body limit.
        (
            "/console/users",
            format!("{token}&UserName={}", "a".repeat(5000)),
            413,
        ),
        // A user name no API would take, and one from a path that is not UTF-8.
        (
            "/console/users/%FF/delete",
            format!("{token}&confirm=x"),
            404,
        ),
        (
            "/console/users/a%2Fb/access-keys",
            format!("{token}&nonce=x"),
            409,
        ),
    ] {
        let reply = browser.post_raw(path, &body, &[]).await;
        assert_eq!(
            reply.status,
            status,
            "{path} {}",
            &body[..body.len().min(80)]
        );
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }
    let reply = browser
        .post("/console/users", &[("UserName", &"b".repeat(65))])
        .await;
    let page = browser.follow(&reply).await;
    assert!(
        page.body
            .contains("ValidationError: 1 validation error detected"),
        "{}",
        page.body
    );
    // A request line the console does not know, and a method it does not serve.
    assert_eq!(browser.get("/console/users/a/b/c/d").await.status, 404);
    let reply = send(
        &server,
        "PUT",
        "/console/users",
        &[("cookie", &browser.cookie)],
        "",
    )
    .await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        root_iam(&server)
            .list_users()
            .send()
            .await
            .unwrap()
            .users()
            .len(),
        0
    );
}
