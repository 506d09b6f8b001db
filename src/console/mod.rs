//! The console face, `/console`: server-rendered pages for users and access keys, signed in with
//! an access key pair (or the root login), over the same core as the APIs.
//!
//! A browser is treated as a possible attacker: every request must name a loopback (or
//! `--allowed-host`) host, against DNS rebinding; every form post must come from this origin
//! (`Origin`, `Sec-Fetch-Site`) and, once signed in, carry the session's CSRF token, because
//! SameSite cookies do not separate two ports of 127.0.0.1. Every answer forbids caching and
//! framing and allows only this server's own script and stylesheet.

mod handlers;
pub mod pages;
pub mod session;
mod sign_in;

pub use session::Sessions;

use crate::browser;
use crate::query::ApiError;
use crate::service::{Answer, AppState, read_body};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, request};
use http_body_util::Full;
use maud::Markup;
use session::{Ended, Flash, Session};

pub const PREFIX: &str = "/console";
pub const ASSET_CSS: &str = "/console/assets/console.css";
pub const ASSET_JS: &str = "/console/assets/console.js";
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a path is the console's.
pub fn is_console_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/console/")
}

/// Whose access keys a page or form is about: an IAM user's, or the root user's own (for the
/// root user only, as in AWS's "Security credentials").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    User(String),
    Root,
}

impl Target {
    pub(crate) fn href(&self) -> String {
        match self {
            Target::User(name) => pages::user_href(name),
            Target::Root => format!("{PREFIX}/root"),
        }
    }

    /// The `UserName` the API would be sent (none: the caller's own keys).
    pub(crate) fn user_name(&self) -> Option<&str> {
        match self {
            Target::User(name) => Some(name),
            Target::Root => None,
        }
    }

    pub(crate) fn owner(&self) -> crate::model::Owner {
        match self {
            Target::User(name) => crate::model::Owner::User(name.clone()),
            Target::Root => crate::model::Owner::Root,
        }
    }
}

/// What a console path names. User names are percent-decoded from their segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Home,
    SignIn,
    SignOut,
    Users,
    Keys(Target),
    DeleteUser(String),
    CreateKey(Target),
    UpdateKey(Target),
    DeleteKey(Target),
    Asset(&'static str, &'static str),
    NotFound,
}

fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
        .filter(|s| !s.is_empty())
}

fn route(path: &str) -> Route {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let user = |s: &str, make: fn(Target) -> Route| {
        decode(s).map_or(Route::NotFound, |name| make(Target::User(name)))
    };
    match segments.as_slice() {
        [] => Route::Home,
        ["signin"] => Route::SignIn,
        ["signout"] => Route::SignOut,
        ["users"] => Route::Users,
        ["users", name] => user(name, Route::Keys),
        ["users", name, "delete"] => decode(name).map_or(Route::NotFound, Route::DeleteUser),
        ["users", name, "access-keys"] => user(name, Route::CreateKey),
        ["users", name, "access-keys", "update"] => user(name, Route::UpdateKey),
        ["users", name, "access-keys", "delete"] => user(name, Route::DeleteKey),
        ["root"] => Route::Keys(Target::Root),
        ["root", "access-keys"] => Route::CreateKey(Target::Root),
        ["root", "access-keys", "update"] => Route::UpdateKey(Target::Root),
        ["root", "access-keys", "delete"] => Route::DeleteKey(Target::Root),
        ["assets", "console.css"] => Route::Asset(CSS, "text/css; charset=utf-8"),
        ["assets", "console.js"] => Route::Asset(JS, "text/javascript; charset=utf-8"),
        _ => Route::NotFound,
    }
}

/// The headers every console answer carries.
fn secure(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not no-referrer: Chromium then sends `Origin: null` on the console's own posts.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::service::retry_after(&mut response);
    response
}

fn page(status: StatusCode, markup: Markup) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(markup.into_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A bare page for refusals that come before any session is known.
fn refusal(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    page(
        status,
        pages::notice(
            pages::Frame {
                title: text,
                who: None,
                flash: Some(Flash::Alert(text.to_string())),
            },
            "Request refused",
            (PREFIX, "Go to the console"),
        ),
    )
}

/// The session cookie's name: the port is in it because browsers share cookies across ports, so
/// two servers on one host would otherwise sign each other out.
fn cookie_name(parts: &request::Parts) -> String {
    let port = browser::authority(parts).map_or(80, browser::port);
    format!("iamlite_console_{port}")
}

fn cookie_value<'a>(parts: &'a request::Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(response: &mut Response<Full<Bytes>>, name: &str, value: Option<&str>) {
    let cookie = match value {
        Some(v) => format!("{name}={v}; Path={PREFIX}; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A console answer.
pub(crate) type Reply = Response<Full<Bytes>>;
/// An answer that cuts a handler short (boxed: answers are large next to what handlers return).
pub(crate) type Early = Box<Reply>;

/// Why the sign-in page is shown again (`?ended=`).
const ENDED_KEY: &str = "key";
const ENDED_EXPIRED: &str = "expired";

/// One request as the handlers see it.
pub(crate) struct Req<'a> {
    state: &'a AppState,
    parts: &'a request::Parts,
    cookie: String,
    body: Bytes,
}

/// A signed-in request's session, checked against the store.
pub(crate) struct Signed {
    id: String,
    session: Session,
}

impl Req<'_> {
    fn query(&self, name: &str) -> Option<String> {
        let query = self.parts.uri.query()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The form's fields, in order, decoded as strictly as the Query API decodes its bodies
    /// (bad escapes or bytes that are not UTF-8 get 400); empty fields are left out, as an API
    /// client would.
    fn form(&self) -> Result<Vec<(String, String)>, Early> {
        crate::query::Params::parse(b"", &self.body)
            .map(|params| {
                params
                    .into_pairs()
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            // A 400 here, whatever status the API gives the same fault.
            .map_err(|e| Box::new(refusal(StatusCode::BAD_REQUEST, &e.to_string())))
    }

    /// The signed-in session, if the cookie names a live one whose sign-in key is still Active
    /// and unexpired; otherwise the redirect to the sign-in page.
    async fn signed_in(&self) -> Result<Signed, Early> {
        let now = self.state.clock.now_millis();
        let Some(id) = cookie_value(self.parts, &self.cookie) else {
            return Err(Box::new(redirect(&format!("{PREFIX}/signin"))));
        };
        let session = match self.state.console.touch(id, now) {
            Ok(s) => s,
            Err(Ended::Unknown) => return Err(Box::new(redirect(&format!("{PREFIX}/signin")))),
            Err(Ended::Expired) => {
                return Err(Box::new(
                    self.signed_out(&format!("{PREFIX}/signin?ended={ENDED_EXPIRED}")),
                ));
            }
        };
        if let Some(key) = &session.sign_in_key {
            let caller = &session.caller;
            let usable = match self.state.store.credential(key).await {
                Ok(found) => found.is_some_and(|c| {
                    c.status == crate::model::KeyStatus::Active
                        && !c.expired_at(now)
                        && c.account_id == caller.account_id
                        && c.principal == caller.principal
                }),
                Err(e) => return Err(Box::new(self.error_page(&e.into()))),
            };
            if !usable {
                self.state.console.end(id);
                tracing::info!(access_key_id = %key, "console session ended: its key is no longer usable");
                return Err(Box::new(
                    self.signed_out(&format!("{PREFIX}/signin?ended={ENDED_KEY}")),
                ));
            }
        }
        Ok(Signed {
            id: id.to_string(),
            session,
        })
    }

    /// A redirect that also clears the session cookie.
    fn signed_out(&self, location: &str) -> Response<Full<Bytes>> {
        let mut response = redirect(location);
        set_cookie(&mut response, &self.cookie, None);
        response
    }

    /// Checks the form's CSRF token against the session's.
    fn csrf_ok(&self, signed: &Signed) -> bool {
        let given = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&self.body)
            .ok()
            .and_then(|pairs| {
                pairs
                    .into_iter()
                    .find(|(k, _)| k == "csrf_token")
                    .map(|(_, v)| v)
            })
            .unwrap_or_default();
        signed.session.csrf_ok(&given)
    }

    fn frame<'s>(
        &self,
        signed: &'s Signed,
        title: &'s str,
        flash: Option<Flash>,
    ) -> pages::Frame<'s> {
        pages::Frame {
            title,
            who: Some(pages::Who {
                label: who_label(&signed.session),
                account_id: &signed.session.caller.account_id,
                csrf_token: &signed.session.csrf_token,
                root: signed.session.caller.principal == crate::model::Principal::Root,
            }),
            flash,
        }
    }

    /// A page for an error with no better place to show it (a storage fault, say).
    fn error_page(&self, e: &ApiError) -> Response<Full<Bytes>> {
        refusal(e.code.status(), &e.to_string())
    }
}

fn who_label(session: &Session) -> &str {
    match &session.caller.principal {
        crate::model::Principal::Root => "root",
        crate::model::Principal::User { name, .. } => name,
    }
}

/// Answers one console request. Never fails: every problem becomes a page or a redirect.
pub async fn handle<B>(state: &AppState, parts: request::Parts, body: B) -> Answer
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let route = route(parts.uri.path());
    let action = handlers::action_name(&route, &parts.method);
    let mut access_key_id = None;
    let response = if !browser::host_allowed(&state.config, &parts) {
        refusal(
            StatusCode::FORBIDDEN,
            "The console answers only to a loopback host name (see --allowed-host).",
        )
    } else if parts.method == Method::POST && !browser::sent_by_this_origin(&parts) {
        refusal(
            StatusCode::FORBIDDEN,
            "This form was sent by another site's page. Nothing was changed.",
        )
    } else if parts.method != Method::POST
        && parts.method != Method::GET
        && parts.method != Method::HEAD
    {
        refusal(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
    } else {
        let limit = state.config.limits.max_body_bytes;
        match read_body(state, &parts, body, limit).await {
            Err(e) => {
                let e = ApiError::from(e);
                refusal(e.code.status(), &e.to_string())
            }
            Ok(body) => {
                let req = Req {
                    state,
                    cookie: cookie_name(&parts),
                    parts: &parts,
                    body,
                };
                handlers::dispatch(&req, route, &mut access_key_id).await
            }
        }
    };
    Answer {
        response: secure(response),
        action,
        access_key_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_pages_and_decode_user_names() {
        assert_eq!(route("/console"), Route::Home);
        assert_eq!(route("/console/"), Route::Home);
        assert_eq!(route("/console/users"), Route::Users);
        assert_eq!(
            route("/console/users/a%2Bb%40c"),
            Route::Keys(Target::User("a+b@c".into()))
        );
        assert_eq!(
            route("/console/users/alice/access-keys/update"),
            Route::UpdateKey(Target::User("alice".into()))
        );
        assert_eq!(route("/console/root"), Route::Keys(Target::Root));
        assert_eq!(
            route("/console/root/access-keys/delete"),
            Route::DeleteKey(Target::Root)
        );
        assert_eq!(route("/console/users/%FF"), Route::NotFound);
        assert_eq!(route("/console/nope"), Route::NotFound);
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/users"));
        assert!(!is_console_path("/consoles"));
    }
}
