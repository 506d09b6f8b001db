//! What a browser's request says about where it came from: the host it was sent to (against DNS
//! rebinding) and the page that sent it (against cross-site requests). Shared by the admin face
//! and the console, the two faces a browser can reach.

use crate::config::Config;
use http::header::{HOST, HeaderValue, ORIGIN};
use http::request;

pub const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// The request's `host[:port]`: the Host header, or HTTP/2's `:authority`.
pub fn authority(parts: &request::Parts) -> Option<&str> {
    parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
}

/// The host name of `host[:port]` (an IPv6 literal without its brackets), lowercase.
pub fn host_name(authority: &str) -> String {
    let name = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => match authority.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => authority,
        },
    };
    name.to_ascii_lowercase()
}

/// The port of `host[:port]`, 80 when none is named (plain HTTP).
pub fn port(authority: &str) -> u16 {
    let tail = match authority.rsplit_once(']') {
        Some((_, rest)) => rest,
        None => authority,
    };
    tail.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80)
}

/// A name that only this machine answers to, or one the operator allowed. A page that rebinds
/// its own domain to 127.0.0.1 still sends its domain as the host, and is refused here.
pub fn host_allowed(config: &Config, parts: &request::Parts) -> bool {
    let Some(authority) = authority(parts) else {
        return false;
    };
    let name = host_name(authority);
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || config
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&name))
}

fn header<'a>(parts: &'a request::Parts, name: &str) -> Option<&'a [u8]> {
    parts.headers.get(name).map(HeaderValue::as_bytes)
}

/// Whether `Origin` names this server: the Host header, port included, over `http://`, or
/// `https://` when a TLS proxy in front forwards the Host it was asked for.
fn origin_is_own(parts: &request::Parts, origin: &[u8]) -> bool {
    authority(parts).is_some_and(|a| {
        ["http", "https"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(format!("{scheme}://{a}").as_bytes()))
    })
}

/// Whether a browser says another site's page sent this: an `Origin` other than this server's
/// own, or `Sec-Fetch-Site: cross-site`/`same-site`. Tools that send neither header pass.
pub fn sent_by_another_site(parts: &request::Parts) -> bool {
    if let Some(site) = header(parts, SEC_FETCH_SITE)
        && (site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site"))
    {
        return true;
    }
    header(parts, ORIGIN.as_str()).is_some_and(|origin| !origin_is_own(parts, origin))
}

/// The stricter rule for the console's forms: `Sec-Fetch-Site`, when sent, must be
/// `same-origin` (another port on 127.0.0.1 is `same-site`, and SameSite cookies do not stop
/// it), and `Origin`, when sent, must be this server (`null` passes only with `same-origin`).
pub fn sent_by_this_origin(parts: &request::Parts) -> bool {
    let site = header(parts, SEC_FETCH_SITE);
    if site.is_some_and(|s| !s.eq_ignore_ascii_case(b"same-origin")) {
        return false;
    }
    match header(parts, ORIGIN.as_str()) {
        None => true,
        Some(b"null") => site.is_some(),
        Some(origin) => origin_is_own(parts, origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder().uri("/console/signin");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|_| http::Request::new(()).into_parts().0)
    }

    #[test]
    fn host_names_lose_their_port_and_brackets() {
        assert_eq!(host_name("127.0.0.1:4593"), "127.0.0.1");
        assert_eq!(host_name("[::1]:4593"), "::1");
        assert_eq!(host_name("LocalHost"), "localhost");
        assert_eq!(host_name("evil.example:80"), "evil.example");
        assert_eq!(host_name("evil.example"), "evil.example");
        assert_eq!(port("127.0.0.1:4593"), 4593);
        assert_eq!(port("[::1]:8080"), 8080);
        assert_eq!(port("[::1]"), 80);
        assert_eq!(port("localhost"), 80);
    }

    #[test]
    fn console_forms_need_this_origin_when_the_browser_names_one() {
        let host = ("host", "127.0.0.1:4593");
        assert!(sent_by_this_origin(&parts(&[host])));
        assert!(sent_by_this_origin(&parts(&[
            host,
            ("origin", "http://127.0.0.1:4593"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(sent_by_this_origin(&parts(&[
            host,
            ("origin", "https://127.0.0.1:4593"),
        ])));
        assert!(sent_by_this_origin(&parts(&[
            host,
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ])));
        for refused in [
            vec![host, ("origin", "http://127.0.0.1:8771")],
            vec![host, ("origin", "null")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "none")],
            vec![
                host,
                ("origin", "http://127.0.0.1:8771"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert!(!sent_by_this_origin(&parts(&refused)), "{refused:?}");
        }
    }
}
