//! The admin endpoints against a browser as attacker: another site's page (by `Origin` or
//! `Sec-Fetch-Site`) and DNS rebinding (a foreign `Host`) are refused, and change nothing; curl
//! and same-origin requests are served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use iamlite::Server;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one raw HTTP/1.1 request with exactly these headers; returns the status and body.
async fn raw(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: 0\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(answer).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

async fn with_user() -> Server {
    let server = Server::builder().start().await.unwrap();
    root_iam(&server)
        .create_user()
        .user_name("survivor")
        .send()
        .await
        .unwrap();
    server
}

async fn still_has_the_user(server: &Server) {
    root_iam(server)
        .get_user()
        .user_name("survivor")
        .send()
        .await
        .expect("the refused request changed nothing");
}

#[tokio::test]
async fn a_reset_posted_by_another_sites_page_is_refused() {
    let server = with_user().await;
    let host = server.local_addr().to_string();
    for headers in [
        vec![("host", host.as_str()), ("origin", "http://evil.example")],
        vec![("host", host.as_str()), ("origin", "null")],
        vec![("host", host.as_str()), ("sec-fetch-site", "cross-site")],
        vec![("host", host.as_str()), ("sec-fetch-site", "same-site")],
        vec![
            ("host", host.as_str()),
            ("origin", &format!("http://{host}.evil.example")),
        ],
    ] {
        let (status, body) = raw(&server, "POST", "/_iamlite/reset", &headers).await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("another site"), "{body}");
        still_has_the_user(&server).await;
    }
}

#[tokio::test]
async fn a_rebound_host_name_cannot_read_the_state() {
    let server = with_user().await;
    let port = server.local_addr().port();
    let rebound = format!("evil.example:{port}");
    let (status, body) = raw(&server, "GET", "/_iamlite/state", &[("host", &rebound)]).await;
    assert_eq!(status, 403, "{body}");
    let (_, secret) = server.root_credentials();
    assert!(!body.contains(secret));
    let (status, _) = raw(&server, "POST", "/_iamlite/reset", &[("host", &rebound)]).await;
    assert_eq!(status, 403);
    let (status, _) = raw(&server, "GET", "/_iamlite/health", &[]).await;
    assert_eq!(status, 403, "a request without any host is refused too");
    still_has_the_user(&server).await;
}

#[tokio::test]
async fn curl_and_same_origin_requests_are_served() {
    let server = with_user().await;
    let host = server.local_addr().to_string();
    let port = server.local_addr().port();
    let localhost = format!("localhost:{port}");
    let same_origin = format!("http://{host}");
    for headers in [
        vec![("host", host.as_str())],
        vec![("host", localhost.as_str())],
        vec![("host", host.as_str()), ("origin", same_origin.as_str())],
        vec![("host", host.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("host", host.as_str()), ("sec-fetch-site", "none")],
    ] {
        let (status, body) = raw(&server, "GET", "/_iamlite/health", &headers).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
    }
    let (status, body) = raw(&server, "POST", "/_iamlite/reset", &[("host", &host)]).await;
    assert_eq!(status, 200, "{body}");
    let err = aws_error(
        root_iam(&server)
            .get_user()
            .user_name("survivor")
            .send()
            .await,
    );
    assert_eq!(err.code, "NoSuchEntity");
}

#[tokio::test]
async fn a_configured_host_name_is_served_and_a_token_holder_may_use_any() {
    let server = Server::builder()
        .allowed_host("iamlite.test")
        .start()
        .await
        .unwrap();
    let port = server.local_addr().port();
    let (status, _) = raw(
        &server,
        "GET",
        "/_iamlite/health",
        &[("host", &format!("IAMLITE.test:{port}"))],
    )
    .await;
    assert_eq!(status, 200);

    let server = Server::builder()
        .admin_token("s3cret")
        .start()
        .await
        .unwrap();
    let name = format!("iamlite.internal:{port}");
    let (status, _) = raw(&server, "GET", "/_iamlite/health", &[("host", &name)]).await;
    assert_eq!(status, 403, "no token");
    let headers = [("host", name.as_str()), ("x-iamlite-admin-token", "s3cret")];
    let (status, _) = raw(&server, "GET", "/_iamlite/health", &headers).await;
    assert_eq!(status, 200);
    let headers = [
        ("host", name.as_str()),
        ("x-iamlite-admin-token", "s3cret"),
        ("origin", "http://evil.example"),
    ];
    let (status, _) = raw(&server, "GET", "/_iamlite/health", &headers).await;
    assert_eq!(
        status, 403,
        "a token does not make another site's page welcome"
    );
}

/// An address of this machine that is not loopback (the one it would reach other hosts from).
fn non_loopback_ip() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    probe.connect("192.0.2.1:9").unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "this machine needs a non-loopback address for this test, got {ip}"
    );
    ip
}

#[tokio::test]
async fn other_machines_are_refused_without_a_token_even_on_all_interfaces() {
    let all = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let server = Server::builder().listen(all).start().await.unwrap();
    let port = server.local_addr().port();
    let outside = std::net::SocketAddr::new(non_loopback_ip(), port);
    let get = |addr: std::net::SocketAddr, token: Option<&'static str>| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let port = addr.port();
        let mut request = format!(
            "GET /_iamlite/state HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n"
        );
        if let Some(t) = token {
            request.push_str(&format!("x-iamlite-admin-token: {t}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()[9..12]
            .parse::<u16>()
            .unwrap()
    };
    // The same server, the same Host: served to a local process, not to another address.
    assert_eq!(
        get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), None).await,
        200
    );
    assert_eq!(get(outside, None).await, 404);
    let guarded = Server::builder()
        .listen(all)
        .admin_token("s3cret")
        .start()
        .await
        .unwrap();
    let outside = std::net::SocketAddr::new(non_loopback_ip(), guarded.local_addr().port());
    assert_eq!(
        get(outside, Some("s3cret")).await,
        200,
        "a token opens it to other machines"
    );
}
