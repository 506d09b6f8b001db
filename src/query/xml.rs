//! Response bodies: the Query protocol's success envelope, `ErrorResponse`, and the XML shapes actions share.

use super::error::{ApiError, ApiResult};
use crate::core::UserView;
use crate::model::{Page, Tag, User};
use quick_xml::escape::partial_escape;
use serde::Serialize;
use std::fmt::Write;
use time::OffsetDateTime;
use time::macros::format_description;

pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// Real STS writes protocol-level errors (no such action or version) in this namespace.
pub const FAULT_NAMESPACE: &str = "http://webservices.amazon.com/AWSFault/2005-15-09";

/// AWS's timestamp form: ISO 8601, UTC, whole seconds, `Z`.
pub fn timestamp(millis: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// Renders an action's output as its `<ActionResult>` element.
pub fn result<T: Serialize>(action: &str, value: &T) -> ApiResult<String> {
    quick_xml::se::to_string_with_root(&format!("{action}Result"), value).map_err(|e| {
        tracing::error!(error = %e, action, "cannot render response");
        ApiError::service_failure()
    })
}

/// `<ActionResponse xmlns=…>[<ActionResult>…]<ResponseMetadata>…</ResponseMetadata></ActionResponse>`.
pub fn success(namespace: &str, action: &str, result: Option<&str>, request_id: &str) -> String {
    let mut out = String::with_capacity(256 + result.map_or(0, str::len));
    let _ = write!(out, "<{action}Response xmlns=\"{namespace}\">");
    if let Some(result) = result {
        out.push_str(result);
    }
    let _ = writeln!(
        out,
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    out
}

/// `<ErrorResponse>` with Type, Code, Message and a top-level RequestId, as AWS writes it.
pub fn error(namespace: &str, err: &ApiError, request_id: &str) -> String {
    let namespace = if err.code.is_protocol_level() {
        FAULT_NAMESPACE
    } else {
        namespace
    };
    format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>\n",
        err.code.fault().as_str(),
        err.code.as_str(),
        partial_escape(err.message.as_str()),
    )
}

/// A list as the Query protocol writes it: `<Name><member>…</member>…</Name>`, `<Name/>` when empty.
#[derive(Debug, Serialize)]
pub struct Members<T> {
    pub member: Vec<T>,
}

impl<T> From<Vec<T>> for Members<T> {
    fn from(member: Vec<T>) -> Self {
        Members { member }
    }
}

/// A list result: the members under the action's element name, then `IsTruncated` and `Marker`,
/// as every IAM list result has them. (Written by hand: serde's `flatten` would buffer each item.)
pub struct Listing<T> {
    element: &'static str,
    members: Members<T>,
    is_truncated: bool,
    marker: Option<String>,
}

impl<T> Listing<T> {
    /// A page's items, as `<element><member>…</member></element>`.
    pub fn new<I>(element: &'static str, page: Page<I>, item: impl FnMut(I) -> T) -> Self {
        Listing {
            element,
            is_truncated: page.next.is_some(),
            marker: page.next,
            members: page.items.into_iter().map(item).collect::<Vec<_>>().into(),
        }
    }
}

impl<T: Serialize> Serialize for Listing<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Listing", 3)?;
        st.serialize_field(self.element, &self.members)?;
        st.serialize_field("IsTruncated", &self.is_truncated)?;
        if let Some(marker) = &self.marker {
            st.serialize_field("Marker", marker)?;
        }
        st.end()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagXml {
    pub key: String,
    pub value: String,
}

impl From<Tag> for TagXml {
    fn from(t: Tag) -> Self {
        TagXml {
            key: t.key,
            value: t.value,
        }
    }
}

/// The `User` structure; `Tags` appears only when the user has tags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    pub user_id: String,
    pub arn: String,
    pub create_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<PermissionsBoundaryXml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Members<TagXml>>,
}

/// `AttachedPermissionsBoundary`: users can only have a managed policy as their boundary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionsBoundaryXml {
    pub permissions_boundary_type: &'static str,
    pub permissions_boundary_arn: String,
}

impl UserXml {
    /// GetUser's shape: the root user has no name or path, and answers with the account id.
    pub fn from_view(view: UserView) -> Self {
        match view {
            UserView::User(user) => UserXml::new(user, true),
            UserView::Root {
                account_id,
                arn,
                create_date,
            } => UserXml {
                path: None,
                user_name: None,
                user_id: account_id,
                arn,
                create_date: timestamp(create_date),
                permissions_boundary: None,
                tags: None,
            },
        }
    }

    pub fn new(user: User, with_tags: bool) -> Self {
        let arn = user.arn();
        let tags = (with_tags && !user.tags.is_empty())
            .then(|| Members::from(user.tags.into_iter().map(TagXml::from).collect::<Vec<_>>()));
        UserXml {
            path: Some(user.path),
            user_name: Some(user.name),
            user_id: user.user_id,
            arn,
            create_date: timestamp(user.create_date),
            permissions_boundary: user.permissions_boundary.map(|arn| PermissionsBoundaryXml {
                permissions_boundary_type: "PermissionsBoundaryPolicy",
                permissions_boundary_arn: arn,
            }),
            tags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Listing {
        users: Members<UserXml>,
        is_truncated: bool,
    }

    #[test]
    fn empty_lists_are_written_as_empty_elements() {
        let xml = result(
            "ListUsers",
            &Listing {
                users: Members::from(vec![]),
                is_truncated: false,
            },
        )
        .unwrap();
        assert_eq!(
            xml,
            "<ListUsersResult><Users/><IsTruncated>false</IsTruncated></ListUsersResult>"
        );
    }

    #[test]
    fn user_with_tags_and_escaping() {
        let user = User {
            user_id: "AIDA".into(),
            account_id: "123456789012".into(),
            name: "a&b".into(),
            path: "/".into(),
            create_date: 1_329_693_291_999,
            permissions_boundary: None,
            email: None,
            last_modified: 0,
            tags: vec![Tag {
                key: "k<".into(),
                value: "v\"'>".into(),
            }],
        };
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct R {
            user: UserXml,
        }
        let xml = result(
            "GetUser",
            &R {
                user: UserXml::new(user, true),
            },
        )
        .unwrap();
        assert_eq!(
            xml,
            "<GetUserResult><User><Path>/</Path><UserName>a&amp;b</UserName><UserId>AIDA</UserId>\
             <Arn>arn:aws:iam::123456789012:user/a&amp;b</Arn><CreateDate>2012-02-19T23:14:51Z</CreateDate>\
             <Tags><member><Key>k&lt;</Key><Value>v\"'&gt;</Value></member></Tags></User></GetUserResult>"
        );
    }

    #[test]
    fn error_envelope_has_request_id_at_top_level() {
        let e = ApiError::no_such_user("ghost");
        assert_eq!(
            error(IAM_NAMESPACE, &e, "rid"),
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>NoSuchEntity</Code><Message>The user with name ghost cannot be found.</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>\n"
        );
    }
}
