//! The console's pages and form posts (signing in is `sign_in`'s): each form is read into the
//! Query API's parameters, so the API's parser validates it; then the core action runs, and the
//! answer follows post/redirect/get.

use super::pages::{self, Subject, UserDialog, UserLine, UserPage};
use super::session::Flash;
use super::{
    ENDED_KEY, Early, PREFIX, Reply, Req, Route, Signed, Target, page, redirect, refusal, sign_in,
};
use crate::core::{self, Ctx, PageRequest};
use crate::model::{AccessKeyMeta, Change, KEY_TAG, KeyStatus, LastUsed, Page, Principal, User};
use crate::query::validate::{ValidationStyle, Validator};
use crate::query::{ApiError, ErrorCode, Params, QueryAction};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;

const NO_SUCH_PAGE: &str = "There is no such console page.";
const SELECT_FIRST: &str = "Select an access key first.";
/// The most items one listing call asks the store for (IAM's own maximum).
const PAGE_SIZE: usize = 1000;

/// The request log's action name for a console request.
pub(super) fn action_name(route: &Route, method: &Method) -> &'static str {
    let post = method == Method::POST;
    match route {
        Route::SignIn if post => "ConsoleSignIn",
        Route::SignOut => "ConsoleSignOut",
        Route::Users if post => "ConsoleCreateUser",
        Route::DeleteUser(_) => "ConsoleDeleteUser",
        Route::CreateKey(_) => "ConsoleCreateAccessKey",
        Route::UpdateKey(_) => "ConsoleUpdateAccessKey",
        Route::DeleteKey(_) => "ConsoleDeleteAccessKey",
        Route::Asset(..) => "ConsoleAsset",
        _ => "ConsolePage",
    }
}

pub(super) async fn dispatch(req: &Req<'_>, route: Route, key: &mut Option<String>) -> Reply {
    let post = req.parts.method == Method::POST;
    match route {
        Route::Asset(body, content_type) => asset(body, content_type),
        Route::NotFound => refusal(StatusCode::NOT_FOUND, NO_SUCH_PAGE),
        Route::SignIn if post => sign_in::sign_in(req, key).await,
        Route::SignIn => sign_in::sign_in_page(req).await,
        _ => {
            let signed = match req.signed_in().await {
                Ok(s) => s,
                Err(reply) => return *reply,
            };
            key.clone_from(&signed.session.sign_in_key);
            if post && !req.csrf_ok(&signed) {
                return refusal(
                    StatusCode::FORBIDDEN,
                    "This form has expired or did not come from this console. Nothing was changed.",
                );
            }
            // The root user's own keys are the root user's business only (AWS's "Security
            // credentials"); for anyone else those pages do not exist.
            let root_keys = matches!(
                &route,
                Route::Keys(Target::Root)
                    | Route::CreateKey(Target::Root)
                    | Route::UpdateKey(Target::Root)
                    | Route::DeleteKey(Target::Root)
            );
            if root_keys && signed.session.caller.principal != Principal::Root {
                return refusal(StatusCode::NOT_FOUND, NO_SUCH_PAGE);
            }
            let outcome = match (route, post) {
                (Route::Home, false) => Ok(redirect(&format!("{PREFIX}/users"))),
                (Route::SignOut, true) => Ok(sign_in::sign_out(req, &signed)),
                (Route::Users, false) => users_page(req, &signed).await,
                (Route::Users, true) => create_user(req, &signed).await,
                (Route::Keys(target), false) => user_page(req, &signed, &target).await,
                (Route::DeleteUser(name), true) => delete_user(req, &signed, &name).await,
                (Route::CreateKey(target), true) => create_key(req, &signed, &target).await,
                (Route::UpdateKey(target), true) => update_key(req, &signed, &target).await,
                (Route::DeleteKey(target), true) => delete_key(req, &signed, &target).await,
                _ => Ok(refusal(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed.",
                )),
            };
            outcome.unwrap_or_else(|reply| *reply)
        }
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

pub(super) fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn ctx<'a>(req: &'a Req<'_>, signed: &'a Signed) -> Ctx<'a> {
    Ctx {
        store: &req.state.store,
        ids: &req.state.ids,
        caller: &signed.session.caller,
        now: req.state.clock.now_millis(),
    }
}

/// Walks a listing page by page: `request` names the next page, `take` keeps one and says
/// whether another follows.
#[derive(Default)]
struct Pages {
    marker: Option<String>,
}

impl Pages {
    fn request(&self) -> PageRequest {
        PageRequest {
            marker: self.marker.clone(),
            max_items: PAGE_SIZE,
        }
    }

    fn take<T>(
        &mut self,
        page: crate::error::Result<Page<T>>,
        into: &mut Vec<T>,
    ) -> Result<bool, Early> {
        let page = page.map_err(|e| Box::new(refusal_for(&e.into())))?;
        into.extend(page.items);
        self.marker = page.next;
        Ok(self.marker.is_some())
    }
}

fn refusal_for(e: &ApiError) -> Reply {
    refusal(e.code.status(), &e.to_string())
}

async fn user_keys(
    req: &Req<'_>,
    signed: &Signed,
    target: &Target,
) -> Result<Vec<AccessKeyMeta>, Early> {
    let owner = target.owner();
    let now = req.state.clock.now_millis();
    let account = &signed.session.caller.account_id;
    let (mut pages, mut keys) = (Pages::default(), Vec::new());
    loop {
        let request = pages.request();
        let page = req
            .state
            .store
            .list_access_keys(account, &owner, &request, now);
        if !pages.take(page.await, &mut keys)? {
            return Ok(keys);
        }
    }
}

async fn users_page(req: &Req<'_>, signed: &Signed) -> Result<Reply, Early> {
    let account = &signed.session.caller.account_id;
    let (mut pages, mut users) = (Pages::default(), Vec::<User>::new());
    loop {
        let page = req
            .state
            .store
            .list_users(account, "/", &pages.request())
            .await;
        if !pages.take(page, &mut users)? {
            break;
        }
    }
    let mut lines = Vec::with_capacity(users.len());
    for user in users {
        let keys = user_keys(req, signed, &Target::User(user.name.clone())).await?;
        lines.push(UserLine { user, keys });
    }
    let flash = req.state.console.take_flash(&signed.id);
    let create = req.query("dialog").as_deref() == Some("create-user");
    let now = req.state.clock.now_millis();
    Ok(page(
        StatusCode::OK,
        pages::users(req.frame(signed, "Users", flash), &lines, now, create),
    ))
}

/// Parameters for the Query API's parser: the user from the path first (the first value wins),
/// then the form's fields.
fn params(user_name: Option<&str>, form: Vec<(String, String)>) -> Params {
    let first = user_name.map(|n| ("UserName".to_string(), n.to_string()));
    Params::from_pairs(first.into_iter().chain(form))
}

/// After a change: the message for the next page, and the redirect to it.
fn after(req: &Req<'_>, signed: &Signed, flash: Flash, location: &str) -> Reply {
    req.state.console.set_flash(&signed.id, flash);
    redirect(location)
}

fn failed(req: &Req<'_>, signed: &Signed, e: ApiError, location: &str) -> Reply {
    after(req, signed, Flash::Alert(e.to_string()), location)
}

async fn create_user(req: &Req<'_>, signed: &Signed) -> Result<Reply, Early> {
    let users = format!("{PREFIX}/users");
    let input = match <core::CreateUser as QueryAction>::parse(&params(None, req.form()?)) {
        Ok(i) => i,
        Err(e) => return Ok(failed(req, signed, e, &users)),
    };
    Ok(match core::create_user(&ctx(req, signed), input).await {
        Ok(user) => after(
            req,
            signed,
            Flash::Status(format!("User {} created.", user.name)),
            &pages::user_href(&user.name),
        ),
        Err(e) => failed(req, signed, e.into(), &users),
    })
}

async fn user_page(req: &Req<'_>, signed: &Signed, target: &Target) -> Result<Reply, Early> {
    let ctx = ctx(req, signed);
    let account = &ctx.caller.account_id;
    let found = match target {
        Target::User(name) => req.state.store.get_user(account, name).await.map(Some),
        Target::Root => Ok(None),
    };
    let user = match found {
        Ok(u) => u,
        Err(e) => {
            let e = ApiError::from(e);
            let markup = pages::notice(
                req.frame(signed, "No such user", Some(Flash::Alert(e.to_string()))),
                "No such user",
                (&format!("{PREFIX}/users"), "Back to Users"),
            );
            return Ok(page(e.code.status(), markup));
        }
    };
    let subject = match &user {
        Some(u) => Subject::User(u),
        None => Subject::Root {
            account_id: account,
            create_date: req
                .state
                .store
                .account_create_date(account)
                .await
                .map_err(|e| Box::new(refusal_for(&e.into())))?,
        },
    };
    let mut keys: Vec<(AccessKeyMeta, Option<LastUsed>)> = Vec::new();
    for key in user_keys(req, signed, target).await? {
        let last = req
            .state
            .store
            .access_key_last_used(&ctx.caller.account_id, &key.access_key_id)
            .await
            .map_err(|e| Box::new(refusal_for(&e.into())))?
            .and_then(|k| k.last_used);
        keys.push((key, last));
    }
    let selected = req.query("key");
    let find = |id: &Option<String>| {
        id.as_deref()
            .and_then(|id| keys.iter().find(|(k, _)| k.access_key_id == id))
            .map(|(k, _)| k)
    };
    let quota = req.state.store.key_quota();
    let mut flash = req.state.console.take_flash(&signed.id);
    let dialog = match req.query("dialog").as_deref() {
        Some("create") if keys.len() < quota => UserDialog::CreateKey {
            nonce: req.state.console.issue_nonce(&signed.id),
        },
        Some("update") | Some("delete") if find(&selected).is_none() => {
            flash = Some(Flash::Alert(SELECT_FIRST.to_string()));
            UserDialog::None
        }
        Some("update") => find(&selected).map_or(UserDialog::None, UserDialog::Update),
        Some("delete") => find(&selected).map_or(UserDialog::None, UserDialog::Delete),
        Some("delete-user") if user.is_some() => UserDialog::DeleteUser,
        _ => UserDialog::None,
    };
    let title = match target {
        Target::User(name) => name.as_str(),
        Target::Root => "Root user",
    };
    let markup = pages::user(
        req.frame(signed, title, flash),
        UserPage {
            subject,
            keys: &keys,
            quota,
            now: ctx.now,
            sign_in_key: signed.session.sign_in_key.as_deref(),
            selected: selected.as_deref(),
            dialog,
        },
    );
    Ok(page(StatusCode::OK, markup))
}

async fn delete_user(req: &Req<'_>, signed: &Signed, name: &str) -> Result<Reply, Early> {
    let here = pages::user_href(name);
    let form = req.form()?;
    if field(&form, "confirm") != name {
        let text = "The user name you entered does not match. Nothing was deleted.";
        return Ok(after(req, signed, Flash::Alert(text.to_string()), &here));
    }
    let input = match <core::DeleteUser as QueryAction>::parse(&params(Some(name), form)) {
        Ok(i) => i,
        Err(e) => return Ok(failed(req, signed, e, &here)),
    };
    Ok(match core::delete_user(&ctx(req, signed), input).await {
        Ok(()) => after(
            req,
            signed,
            Flash::Status(format!("User {name} deleted.")),
            &format!("{PREFIX}/users"),
        ),
        Err(e) => failed(req, signed, e.into(), &here),
    })
}

/// A `datetime-local` value (`2027-01-31T12:00` or with seconds), read as UTC.
fn expiration(text: &str) -> Result<i64, ApiError> {
    let with_seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let without = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(text, &with_seconds)
        .or_else(|_| time::PrimitiveDateTime::parse(text, &without))
        .map(|t| crate::clock::unix_millis(t.assume_utc()))
        .map_err(|_| {
            ApiError::new(
                ErrorCode::ValidationError,
                "The expiration must be a date and time such as 2027-01-31T12:00 (UTC).",
            )
        })
}

async fn create_key(req: &Req<'_>, signed: &Signed, target: &Target) -> Result<Reply, Early> {
    let here = target.href();
    let name = target.user_name();
    let form = req.form()?;
    if !req
        .state
        .console
        .redeem_nonce(&signed.id, field(&form, "nonce"))
    {
        let text = "This form was already used, so no second access key was created. \
                    The secret access key of the first one cannot be shown again.";
        let markup = pages::notice(
            req.frame(
                signed,
                "Access key already created",
                Some(Flash::Alert(text.to_string())),
            ),
            "Access key already created",
            (&here, "Back to the user"),
        );
        return Ok(page(StatusCode::CONFLICT, markup));
    }
    let parsed = (|| {
        let mut input = <core::CreateAccessKey as QueryAction>::parse(&params(name, form.clone()))?;
        let description = field(&form, "description");
        if !description.is_empty() {
            let mut v = Validator::new(ValidationStyle::Iam);
            v.rule("description", description, &KEY_TAG);
            v.finish()?;
            input.tag = Some(description.to_string());
        }
        let date = field(&form, "expiration");
        if !date.is_empty() {
            input.expiration = Some(expiration(date)?);
        }
        Ok::<_, ApiError>(input)
    })();
    let input = match parsed {
        Ok(i) => i,
        Err(e) => return Ok(failed(req, signed, e, &here)),
    };
    match core::create_access_key(&ctx(req, signed), input).await {
        Ok(created) => {
            let id = created.meta.access_key_id.clone();
            let flash = Some(Flash::Status(format!("Access key {id} created.")));
            // AWS's console names the root user's file rootkey.csv.
            let file = match name {
                Some(user) => format!("{user}_accessKeys.csv"),
                None => "rootkey.csv".to_string(),
            };
            let markup = pages::retrieve(
                req.frame(signed, "Retrieve access keys", flash),
                (&file, &here),
                &id,
                created.secret.expose(),
            );
            Ok(page(StatusCode::OK, markup))
        }
        Err(e) => Ok(failed(req, signed, e.into(), &here)),
    }
}

/// What the update form asks of the expiration. The field is pre-filled, so an unchanged value
/// keeps the date (even a past one) instead of setting it again. Without the script, which
/// disables the field while "No expiration" is checked, both may arrive: a new date typed for a
/// key that never expired is that date; the current date with the box checked clears it.
fn expiration_change(
    form: &[(String, String)],
    current: Option<i64>,
) -> Result<Change<i64>, ApiError> {
    let text = field(form, "expiration");
    let never = field(form, "no_expiration") == "on";
    let unchanged =
        |date: i64| current.is_some_and(|c| c.div_euclid(1000) == date.div_euclid(1000));
    let clear = if current.is_some() {
        Change::Clear
    } else {
        Change::Keep
    };
    if text.is_empty() {
        return Ok(clear);
    }
    let date = expiration(text)?;
    Ok(match (never, current) {
        (true, None) => Change::Set(date),
        (true, Some(_)) if unchanged(date) => clear,
        (true, Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "Choose an expiration date or No expiration, not both.",
            ));
        }
        (false, _) if unchanged(date) => Change::Keep,
        (false, _) => Change::Set(date),
    })
}

async fn update_key(req: &Req<'_>, signed: &Signed, target: &Target) -> Result<Reply, Early> {
    let here = target.href();
    let name = target.user_name();
    let form = req.form()?;
    let keys = user_keys(req, signed, target).await?;
    let parsed = (|| {
        let mut input = <core::UpdateAccessKey as QueryAction>::parse(&params(name, form.clone()))?;
        let current = keys
            .iter()
            .find(|k| k.access_key_id == input.access_key_id)
            .and_then(|k| k.expiration);
        input.expiration = expiration_change(&form, current)?;
        Ok::<_, ApiError>(input)
    })();
    let input = match parsed {
        Ok(i) => i,
        Err(e) => return Ok(failed(req, signed, e, &here)),
    };
    let id = input.access_key_id.clone();
    match core::update_access_key(&ctx(req, signed), input).await {
        Ok(key) => {
            if key.status == KeyStatus::Inactive {
                req.state.console.end_for_key(&id);
                if signed.session.sign_in_key.as_deref() == Some(id.as_str()) {
                    return Ok(req.signed_out(&format!("{PREFIX}/signin?ended={ENDED_KEY}")));
                }
            }
            let text = format!("Access key {id} updated.");
            Ok(after(req, signed, Flash::Status(text), &here))
        }
        Err(e) => Ok(failed(req, signed, e.into(), &here)),
    }
}

async fn delete_key(req: &Req<'_>, signed: &Signed, target: &Target) -> Result<Reply, Early> {
    let here = target.href();
    let name = target.user_name();
    let form = req.form()?;
    let mut input = match <core::DeleteAccessKey as QueryAction>::parse(&params(name, form.clone()))
    {
        Ok(i) => i,
        Err(e) => return Ok(failed(req, signed, e, &here)),
    };
    if field(&form, "confirm") != input.access_key_id {
        let text = "The access key ID you entered does not match. Nothing was deleted.";
        return Ok(after(req, signed, Flash::Alert(text.to_string()), &here));
    }
    // As the AWS console: an Active key must be deactivated before it can be deleted.
    input.must_be_inactive = core::MustBeInactive::Always;
    let id = input.access_key_id.clone();
    match core::delete_access_key(&ctx(req, signed), input).await {
        Ok(()) => {
            req.state.console.end_for_key(&id);
            let text = format!("Access key {id} deleted.");
            Ok(after(req, signed, Flash::Status(text), &here))
        }
        Err(e) => Ok(failed(req, signed, e.into(), &here)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_expiration_field_and_its_checkbox_are_read_together() {
        let date = expiration("2098-05-06T07:08").ok();
        let other = "2099-01-01T00:00";
        let read = |pairs: &[(&str, &str)], current| expiration_change(&form(pairs), current);
        assert_eq!(read(&[], None), Ok(Change::Keep));
        assert_eq!(read(&[], date), Ok(Change::Clear));
        assert_eq!(read(&[("no_expiration", "on")], date), Ok(Change::Clear));
        let same = [("expiration", "2098-05-06T07:08:00")];
        assert_eq!(read(&same, date), Ok(Change::Keep));
        let typed = [("expiration", "2098-05-06T07:08"), ("no_expiration", "on")];
        assert_eq!(
            read(&typed, None),
            Ok(Change::Set(date.unwrap_or_default()))
        );
        assert_eq!(read(&typed, date), Ok(Change::Clear));
        let both = [("expiration", other), ("no_expiration", "on")];
        assert!(read(&both, date).is_err());
        assert!(read(&[("expiration", "tomorrow")], None).is_err());
    }
}
