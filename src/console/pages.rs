//! The console's HTML, written with maud (escaped at compile time: a user name or tag is always
//! text, never markup). Accessible names here are the contract the browser tests rely on.

use super::session::Flash;
use super::{ASSET_CSS, ASSET_JS, PREFIX};
use crate::model::{AccessKeyMeta, KeyStatus, LastUsed, User};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;
use time::macros::format_description;

/// An Active key this old (in days) or older is called out, as AWS Config's default
/// `maxAccessKeyAge` and CIS 1.14 do.
pub const OLD_KEY_DAYS: i64 = 90;
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Who is signed in, for the header.
pub struct Who<'a> {
    pub label: &'a str,
    pub account_id: &'a str,
    pub csrf_token: &'a str,
    /// The root user also gets a page for its own keys.
    pub root: bool,
}

/// What every page has around its content.
pub struct Frame<'a> {
    pub title: &'a str,
    pub who: Option<Who<'a>>,
    pub flash: Option<Flash>,
}

/// What a path segment leaves as it is: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A user's page in the console's URL space.
pub fn user_href(name: &str) -> String {
    format!("{PREFIX}/users/{}", utf8_percent_encode(name, SEGMENT))
}

fn datetime(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// `2026-12-02T03:04:05Z`, for `<time datetime>`.
fn iso(millis: i64) -> String {
    crate::state::millis_to_rfc3339(millis)
}

/// `2026-12-02 03:04:05 UTC`, for people.
pub fn shown(millis: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    datetime(millis)
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// The value of a `datetime-local` field (seconds included).
pub fn local_input(millis: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    datetime(millis)
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

fn when(millis: i64) -> Markup {
    html! { time datetime=(iso(millis)) { (shown(millis)) } }
}

/// An age in words.
pub fn age(millis: i64) -> String {
    match millis / DAY_MILLIS {
        i64::MIN..=0 => "Less than a day".to_string(),
        1 => "1 day".to_string(),
        days => format!("{days} days"),
    }
}

/// What the Status column says: the expiration outranks the stored status.
pub fn status_text(key: &AccessKeyMeta) -> &'static str {
    if key.expired {
        "Expired"
    } else {
        key.status.as_str()
    }
}

fn key_age(key: &AccessKeyMeta, now: i64) -> String {
    let millis = now - key.create_date;
    let words = age(millis);
    if key.status == KeyStatus::Active && !key.expired && millis >= OLD_KEY_DAYS * DAY_MILLIS {
        format!("{words}. Older than {OLD_KEY_DAYS} days")
    } else {
        words
    }
}

fn message(flash: &Option<Flash>) -> Markup {
    html! {
        @match flash {
            Some(Flash::Status(text)) => div.message.status role="status" { (text) },
            Some(Flash::Alert(text)) => div.message.alert role="alert" { (text) },
            None => div.message role="status" {},
        }
    }
}

/// The page shell: landmarks, skip link, header with the signed-in identity, one message region.
pub fn layout(frame: Frame<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · iamlite console" }
                link rel="stylesheet" href=(ASSET_CSS);
                script src=(ASSET_JS) defer {}
            }
            body {
                a.skip href="#main" { "Skip to main content" }
                header.top {
                    span.brand { "iamlite console" }
                    @if let Some(who) = &frame.who {
                        nav aria-label="Console" {
                            a href={ (PREFIX) "/users" } { "Users" }
                            @if who.root {
                                " "
                                a href={ (PREFIX) "/root" } { "Root user" }
                            }
                        }
                        p.who { "Signed in as " (who.label) " (account " (who.account_id) ")" }
                        form method="post" action={ (PREFIX) "/signout" } {
                            input type="hidden" name="csrf_token" value=(who.csrf_token);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (message(&frame.flash))
                    (content)
                }
            }
        }
    }
}

/// The sign-in page; the password form only when a root login is configured.
pub fn sign_in(flash: Option<Flash>, with_password: bool) -> Markup {
    let content = html! {
        h1 { "Sign in to iamlite" }
        form.card method="post" action={ (PREFIX) "/signin" } {
            input type="hidden" name="method" value="key";
            label for="access-key-id" { "Access key ID" }
            input #access-key-id type="text" name="access_key_id" autocomplete="off"
                spellcheck="false" required autofocus;
            label for="secret-access-key" { "Secret access key" }
            input #secret-access-key type="password" name="secret_access_key" autocomplete="off" required;
            button type="submit" { "Sign in" }
        }
        @if with_password {
            form.card method="post" action={ (PREFIX) "/signin" } aria-labelledby="password-heading" {
                h2 #password-heading { "Sign in with email and password" }
                input type="hidden" name="method" value="password";
                label for="email" { "Email" }
                input #email type="email" name="email" autocomplete="username" required;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { "Sign in with password" }
            }
        }
    };
    layout(
        Frame {
            title: "Sign in",
            who: None,
            flash,
        },
        content,
    )
}

/// One line of the Users table.
pub struct UserLine {
    pub user: User,
    pub keys: Vec<AccessKeyMeta>,
}

fn key_counts(keys: &[AccessKeyMeta]) -> String {
    if keys.is_empty() {
        return "None".to_string();
    }
    let count = |s: &str| keys.iter().filter(|k| status_text(k) == s).count();
    ["Active", "Inactive", "Expired"]
        .iter()
        .map(|s| (count(s), s.to_ascii_lowercase()))
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn oldest_active_age(keys: &[AccessKeyMeta], now: i64) -> String {
    keys.iter()
        .filter(|k| status_text(k) == "Active")
        .min_by_key(|k| k.create_date)
        .map_or_else(|| "None".to_string(), |k| key_age(k, now))
}

/// A server-rendered `<dialog>`: open without script; the script makes it modal. `cancel` is
/// where Cancel (and Escape) goes.
fn dialog(id: &str, title: &str, cancel: &str, body: Markup) -> Markup {
    let heading = format!("{id}-title");
    html! {
        dialog #(id) open aria-labelledby=(heading) data-cancel=(cancel) {
            h2 #(heading) { (title) }
            (body)
            form.cancel method="get" action=(cancel) {
                button type="submit" { "Cancel" }
            }
        }
    }
}

fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

pub fn users(frame: Frame<'_>, lines: &[UserLine], now: i64, create_dialog: bool) -> Markup {
    let token = frame.who.as_ref().map(|w| w.csrf_token.to_string());
    let users_href = format!("{PREFIX}/users");
    let content = html! {
        h1 { "Users" }
        form.actions method="get" action=(users_href) {
            button type="submit" name="dialog" value="create-user" { "Create user" }
        }
        table {
            caption { "Users" }
            thead { tr {
                th scope="col" { "User name" }
                th scope="col" { "Access keys" }
                th scope="col" { "Oldest active key age" }
                th scope="col" { "Created" }
            } }
            tbody {
                @for line in lines {
                    tr {
                        td { a href=(user_href(&line.user.name)) { (line.user.name) } }
                        td { (key_counts(&line.keys)) }
                        td { (oldest_active_age(&line.keys, now)) }
                        td { (when(line.user.create_date)) }
                    }
                }
            }
        }
        @if lines.is_empty() { p { "No users" } }
        @if create_dialog {
            (dialog("create-user", "Create user", &users_href, html! {
                form method="post" action=(users_href) {
                    (csrf(token.as_deref().unwrap_or_default()))
                    label for="user-name" { "User name" }
                    input #user-name type="text" name="UserName" required autofocus
                        autocomplete="off" spellcheck="false";
                    label for="path" { "Path" }
                    input #path type="text" name="Path" placeholder="/" autocomplete="off"
                        aria-describedby="path-hint";
                    p.hint #path-hint { "Optional. Without one, the path is /." }
                    button type="submit" { "Create user" }
                }
            }))
        }
    };
    layout(frame, content)
}

/// Which dialog a user's page opens.
pub enum UserDialog<'a> {
    None,
    CreateKey { nonce: String },
    Update(&'a AccessKeyMeta),
    Delete(&'a AccessKeyMeta),
    DeleteUser,
}

/// Whose keys a page shows, as the page names them.
pub enum Subject<'a> {
    User(&'a User),
    Root {
        account_id: &'a str,
        create_date: i64,
    },
}

impl Subject<'_> {
    fn heading(&self) -> String {
        match self {
            Subject::User(u) => u.name.clone(),
            Subject::Root { .. } => "Root user".to_string(),
        }
    }

    fn arn(&self) -> String {
        match self {
            Subject::User(u) => u.arn(),
            Subject::Root { account_id, .. } => crate::model::root_arn(account_id),
        }
    }

    fn create_date(&self) -> i64 {
        match self {
            Subject::User(u) => u.create_date,
            Subject::Root { create_date, .. } => *create_date,
        }
    }

    fn href(&self) -> String {
        match self {
            Subject::User(u) => user_href(&u.name),
            Subject::Root { .. } => format!("{PREFIX}/root"),
        }
    }

    fn caption(&self) -> String {
        match self {
            Subject::User(u) => format!("Access keys for {}", u.name),
            Subject::Root { .. } => "Access keys for the root user".to_string(),
        }
    }

    fn holder(&self) -> &'static str {
        match self {
            Subject::User(_) => "This user",
            Subject::Root { .. } => "The root user",
        }
    }
}

/// A page of keys (a user's, or the root user's own): details, keys and the dialog asked for.
pub struct UserPage<'a> {
    pub subject: Subject<'a>,
    pub keys: &'a [(AccessKeyMeta, Option<LastUsed>)],
    pub quota: usize,
    pub now: i64,
    /// The key the viewer signed in with, if it is listed here.
    pub sign_in_key: Option<&'a str>,
    pub selected: Option<&'a str>,
    pub dialog: UserDialog<'a>,
}

fn last_used_cells(last: &Option<LastUsed>) -> Markup {
    html! {
        @match last {
            Some(u) => { td { (when(u.date)) } td { (u.region) } td { (u.service) } },
            None => { td { "Never" } td { "N/A" } td { "N/A" } },
        }
    }
}

pub fn user(frame: Frame<'_>, page: UserPage<'_>) -> Markup {
    let token = frame
        .who
        .as_ref()
        .map(|w| w.csrf_token.to_string())
        .unwrap_or_default();
    let name = page.subject.heading();
    let href = page.subject.href();
    let full = page.keys.len() >= page.quota;
    let described = page.keys.iter().any(|(k, _)| k.tag.is_some());
    let content = html! {
        @if let Subject::User(_) = page.subject {
            nav aria-label="Breadcrumb" {
                ol {
                    li { a href={ (PREFIX) "/users" } { "Users" } }
                    li aria-current="page" { (name) }
                }
            }
        }
        h1 { (name) }
        dl.details {
            dt { "ARN" } dd { code { (page.subject.arn()) } }
            dt { "Created" } dd { (when(page.subject.create_date())) }
        }
        section aria-labelledby="keys-heading" {
            h2 #keys-heading { "Access keys" }
            form method="get" action=(href) {
                div.actions role="toolbar" aria-label="Access key actions" {
                    button type="submit" name="dialog" value="create" disabled[full]
                        aria-describedby=[full.then_some("quota-note")] { "Create access key" }
                    button type="submit" name="dialog" value="update" { "Update" }
                    button type="submit" name="dialog" value="delete" { "Delete" }
                }
                @if full {
                    p #quota-note {
                        (page.subject.holder()) " already has " (page.quota)
                        " access keys, the maximum. Delete one to create another."
                    }
                }
                @if page.keys.is_empty() {
                    p { "No access keys" }
                } @else {
                    table {
                        caption { (page.subject.caption()) }
                        thead { tr {
                            th scope="col" { span.visually-hidden { "Select" } }
                            th scope="col" { "Access key ID" }
                            @if described { th scope="col" { "Description" } }
                            th scope="col" { "Status" }
                            th scope="col" { "Created" }
                            th scope="col" { "Age" }
                            th scope="col" { "Expires" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Last used region" }
                            th scope="col" { "Last used service" }
                        } }
                        tbody {
                            @for (key, last) in page.keys {
                                tr {
                                    td {
                                        input type="radio" name="key" value=(key.access_key_id)
                                            checked[page.selected == Some(key.access_key_id.as_str())]
                                            aria-label={ "Select access key " (key.access_key_id) };
                                    }
                                    td { code { (key.access_key_id) } }
                                    @if described { td { (key.tag.as_deref().unwrap_or("")) } }
                                    td { span class={ "state " (status_text(key).to_ascii_lowercase()) } { (status_text(key)) } }
                                    td { (when(key.create_date)) }
                                    td { (key_age(key, page.now)) }
                                    td {
                                        @match key.expiration {
                                            Some(e) => (when(e)),
                                            None => "Never",
                                        }
                                    }
                                    (last_used_cells(last))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Subject::User(_) = page.subject {
            section aria-labelledby="delete-user-heading" {
                h2 #delete-user-heading { "Delete this user" }
                form method="get" action=(href) {
                    button type="submit" name="dialog" value="delete-user" { "Delete user" }
                }
            }
        }
        (user_dialog(&page, &href, &token))
    };
    layout(frame, content)
}

fn user_dialog(page: &UserPage<'_>, href: &str, token: &str) -> Markup {
    let keys_href = format!("{href}/access-keys");
    match &page.dialog {
        UserDialog::None => html! {},
        UserDialog::CreateKey { nonce } => dialog(
            "create-key",
            "Create access key",
            href,
            html! {
                form method="post" action=(keys_href) {
                    (csrf(token))
                    input type="hidden" name="nonce" value=(nonce);
                    label for="expiration" { "Expiration (UTC, optional)" }
                    input #expiration type="datetime-local" name="expiration" step="1" autofocus;
                    label for="description" { "Description" }
                    input #description type="text" name="description" autocomplete="off"
                        aria-describedby="description-hint";
                    p.hint #description-hint { "Optional. Shown beside the key in its user's page." }
                    button type="submit" { "Create access key" }
                }
            },
        ),
        UserDialog::Update(key) => {
            let own = page.sign_in_key == Some(key.access_key_id.as_str());
            dialog(
                "update-key",
                "Update access key",
                href,
                html! {
                    p { "Access key " code { (key.access_key_id) } }
                    @if own {
                        p.warning { "You signed in with this key. Deactivating it signs you out." }
                    }
                    form method="post" action={ (keys_href) "/update" } {
                        (csrf(token))
                        input type="hidden" name="AccessKeyId" value=(key.access_key_id);
                        label for="status" { "Status" }
                        select #status name="Status" autofocus {
                            option value="Active" selected[key.status == KeyStatus::Active] { "Active" }
                            option value="Inactive" selected[key.status == KeyStatus::Inactive] { "Inactive" }
                        }
                        label for="expiration" { "Expiration (UTC)" }
                        input #expiration type="datetime-local" name="expiration" step="1"
                            value=[key.expiration.map(local_input)];
                        div.check {
                            input #no-expiration type="checkbox" name="no_expiration" value="on"
                                checked[key.expiration.is_none()];
                            label for="no-expiration" { "No expiration" }
                        }
                        button type="submit" { "Update" }
                    }
                },
            )
        }
        UserDialog::Delete(key) => dialog(
            "delete-key",
            "Delete access key",
            href,
            html! {
                p {
                    "Access key " code { (key.access_key_id) }
                    " will be deleted permanently. Applications that use it will stop working."
                }
                @if key.status == KeyStatus::Active && key.expired {
                    p.warning {
                        "This key has expired, but its status is still Active. Deactivate the key first: choose Update and set its status to Inactive."
                    }
                } @else if key.status == KeyStatus::Active {
                    p.warning {
                        "This key is active. Deactivate the key first: choose Update and set its status to Inactive."
                    }
                } @else {
                    form method="post" action={ (keys_href) "/delete" } {
                        (csrf(token))
                        input type="hidden" name="AccessKeyId" value=(key.access_key_id);
                        label for="confirm" { "To confirm, enter the access key ID" }
                        input #confirm type="text" name="confirm" autocomplete="off" spellcheck="false" required autofocus;
                        button type="submit" { "Delete" }
                    }
                }
            },
        ),
        UserDialog::DeleteUser => dialog(
            "delete-user",
            "Delete user",
            href,
            html! {
                p { "User " strong { (page.subject.heading()) } " will be deleted permanently." }
                @if !page.keys.is_empty() {
                    p.warning { "This user has access keys. Delete them first." }
                }
                form method="post" action={ (href) "/delete" } {
                    (csrf(token))
                    label for="confirm" { "To confirm, enter the user name" }
                    input #confirm type="text" name="confirm" autocomplete="off" spellcheck="false" required autofocus;
                    button type="submit" { "Delete user" }
                }
            },
        ),
    }
}

/// The CSV AWS's console downloads, as a `data:` URL (no endpoint can hand the secret out again).
fn csv_href(access_key_id: &str, secret: &str) -> String {
    let csv = format!("Access key ID,Secret access key\r\n{access_key_id},{secret}\r\n");
    format!(
        "data:text/csv;charset=utf-8,{}",
        utf8_percent_encode(&csv, NON_ALPHANUMERIC)
    )
}

/// The answer to a create: the only time the secret is shown.
/// `file` is the download's name, `done` where Done leads.
pub fn retrieve(
    frame: Frame<'_>,
    (file, done): (&str, &str),
    access_key_id: &str,
    secret: &str,
) -> Markup {
    let content = html! {
        h1 { "Retrieve access keys" }
        p.warning role="alert" {
            "This is the only time the secret access key can be viewed or downloaded. "
            "You cannot recover it later, but you can create a new access key at any time."
        }
        dl.details {
            dt { "Access key ID" }
            dd { code #access-key-id { (access_key_id) } }
            dt { "Secret access key" }
            dd {
                span #secret-mask aria-hidden="true" { (PreEscaped("&bull;".repeat(16))) }
                code #secret-value hidden { (secret) }
            }
        }
        div.actions {
            button #show-secret type="button" aria-expanded="false" aria-controls="secret-value" {
                "Show secret access key"
            }
            button type="button" data-copy="access-key-id" data-done="Access key ID copied." {
                "Copy access key ID"
            }
            button type="button" data-copy="secret-value" data-done="Secret access key copied." {
                "Copy secret access key"
            }
            a.button href=(csv_href(access_key_id, secret)) download=(file) {
                "Download .csv file"
            }
            a.button href=(done) { "Done" }
        }
    };
    layout(frame, content)
}

/// A page that only says something went wrong, with a way back.
pub fn notice(frame: Frame<'_>, heading: &str, back: (&str, &str)) -> Markup {
    let content = html! {
        h1 { (heading) }
        p { a href=(back.0) { (back.1) } }
    };
    layout(frame, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_words_and_old_active_keys_say_so() {
        assert_eq!(age(0), "Less than a day");
        assert_eq!(age(DAY_MILLIS), "1 day");
        assert_eq!(age(5 * DAY_MILLIS + 1), "5 days");
        let mut key = AccessKeyMeta {
            access_key_id: "AKIA".into(),
            user_name: None,
            status: KeyStatus::Active,
            create_date: 0,
            expiration: None,
            expired: false,
            tag: None,
            last_modified: 0,
        };
        assert_eq!(key_age(&key, 89 * DAY_MILLIS), "89 days");
        assert_eq!(
            key_age(&key, 90 * DAY_MILLIS),
            "90 days. Older than 90 days"
        );
        key.status = KeyStatus::Inactive;
        assert_eq!(key_age(&key, 90 * DAY_MILLIS), "90 days");
    }

    #[test]
    fn the_csv_link_holds_the_header_and_the_pair() {
        let href = csv_href("AKIAEXAMPLE", "a+b/c=");
        assert_eq!(
            href,
            "data:text/csv;charset=utf-8,Access%20key%20ID%2CSecret%20access%20key%0D%0AAKIAEXAMPLE%2Ca%2Bb%2Fc%3D%0D%0A"
        );
    }
}
