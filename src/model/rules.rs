//! Each of AWS's (and OUTSCALE's) input rules, once: length bounds and a pattern, with the pattern
//! text AWS quotes in its messages. Faces word a broken rule their own way; the seed loader and
//! state import check the same rules.

use super::{TAGS_PER_USER, Tag, is_policy_arn};
use std::sync::LazyLock;

/// One text rule as AWS's service model states it: a length range in characters and a pattern,
/// whose text AWS quotes in its messages.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub min: usize,
    pub max: usize,
    pub pattern: &'static str,
    matches: fn(&str) -> bool,
}

impl TextRule {
    pub fn length_ok(&self, value: &str) -> bool {
        (self.min..=self.max).contains(&value.chars().count())
    }

    pub fn pattern_ok(&self, value: &str) -> bool {
        (self.matches)(value)
    }

    /// Both the length and the pattern hold.
    pub fn check(&self, value: &str) -> bool {
        self.length_ok(value) && self.pattern_ok(value)
    }

    /// The same rule with another maximum length (new user names are shorter than existing ones).
    pub const fn with_max(self, max: usize) -> TextRule {
        TextRule { max, ..self }
    }
}

/// The sentence IAM writes for a user name outside its alphabet, instead of the pattern.
pub const USER_NAME_PATTERN_MESSAGE: &str =
    "It must contain only alphanumeric characters and/or the following: +=,.@_-";

/// A user name as the IAM actions that name an existing user take it; new names are up to 64.
pub const USER_NAME: TextRule = TextRule {
    min: 1,
    max: 128,
    pattern: r"[\w+=,.@-]+",
    matches: |s| !s.is_empty() && s.chars().all(is_user_name_char),
};
pub const NEW_USER_NAME_MAX: usize = 64;
pub const NEW_USER_NAME: TextRule = USER_NAME.with_max(NEW_USER_NAME_MAX);

pub const ACCESS_KEY_ID: TextRule = TextRule {
    min: 16,
    max: 128,
    pattern: r"[\w]+",
    matches: |s| !s.is_empty() && s.chars().all(is_word_char),
};
/// STS's model writes the key id rule with `*` (IAM's with `+`); its messages quote it so.
pub const STS_ACCESS_KEY_ID: TextRule = TextRule {
    pattern: r"[\w]*",
    matches: |s| s.chars().all(is_word_char),
    ..ACCESS_KEY_ID
};

pub const PATH: TextRule = TextRule {
    min: 1,
    max: 512,
    pattern: r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
    matches: is_valid_path,
};
pub const PATH_PREFIX: TextRule = TextRule {
    min: 1,
    max: 512,
    pattern: r"\u002F[\u0021-\u007F]*",
    matches: is_valid_path_prefix,
};
pub const MARKER: TextRule = TextRule {
    min: 1,
    max: 320,
    pattern: r"[\u0020-\u00FF]+",
    matches: |s| !s.is_empty() && s.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c)),
};
pub const TAG_KEY: TextRule = TextRule {
    min: 1,
    max: 128,
    pattern: TAG_KEY_PATTERN,
    matches: |s| TAG_KEY_RE.is_match(s),
};
pub const TAG_VALUE: TextRule = TextRule {
    min: 0,
    max: 256,
    pattern: TAG_VALUE_PATTERN,
    matches: |s| TAG_VALUE_RE.is_match(s),
};
/// The model's `arnType` bounds; a permissions boundary must also be a managed policy's ARN.
pub const PERMISSIONS_BOUNDARY: TextRule = TextRule {
    min: 20,
    max: 2048,
    pattern: "",
    matches: is_policy_arn,
};

/// A virtual MFA device's name (the model's `virtualMFADeviceName`, with IAM's length bound).
pub const MFA_DEVICE_NAME: TextRule = TextRule {
    min: 1,
    max: 226,
    pattern: r"[\w+=,.@-]+",
    matches: |s| !s.is_empty() && s.chars().all(is_user_name_char),
};
/// An MFA serial number: a device ARN or a hardware serial.
pub const MFA_SERIAL: TextRule = TextRule {
    min: 9,
    max: 256,
    pattern: r"[\w+=/:,.@-]+",
    matches: |s| !s.is_empty() && s.chars().all(|c| is_user_name_char(c) || "/:".contains(c)),
};
/// STS writes its MFA rules with `*` (IAM's with `+`); its messages quote them so.
pub const STS_MFA_SERIAL: TextRule = TextRule {
    pattern: r"[\w+=/:,.@-]*",
    ..MFA_SERIAL
};
pub const STS_MFA_CODE: TextRule = TextRule {
    pattern: r"[\d]*",
    ..MFA_CODE
};
/// A 6-digit one-time code.
pub const MFA_CODE: TextRule = TextRule {
    min: 6,
    max: 6,
    pattern: r"[\d]+",
    matches: |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
};

/// OUTSCALE's tag on an access key: any text, within a bound.
pub const KEY_TAG: TextRule = TextRule {
    min: 1,
    max: 255,
    pattern: "",
    matches: |s| !s.chars().any(char::is_control),
};
/// An EIM user's email address, as far as an emulator can tell one.
pub const EMAIL: TextRule = TextRule {
    min: 3,
    max: 255,
    pattern: "",
    matches: |s| {
        s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    },
};

const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";

/// `\w` as AWS's (Java) patterns mean it: ASCII letters, digits and underscore.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn is_user_name_char(c: char) -> bool {
    is_word_char(c) || "+=,.@-".contains(c)
}

pub fn is_valid_path(p: &str) -> bool {
    p == "/"
        || (p.len() >= 3
            && p.starts_with('/')
            && p.ends_with('/')
            && p.bytes().all(|b| (0x21..=0x7e).contains(&b)))
}

pub fn is_valid_path_prefix(p: &str) -> bool {
    p.starts_with('/') && p.bytes().all(|b| (0x21..=0x7f).contains(&b))
}

/// AWS's tag patterns are Java regular expressions; `regex` has the same Unicode general
/// categories, so the model's pattern text is used as it is.
fn whole_match(pattern: &str) -> regex::Regex {
    #[allow(clippy::expect_used)] // A constant pattern, compiled (and tested) once.
    regex::Regex::new(&format!("^(?:{pattern})$")).expect("the model's tag patterns compile")
}

static TAG_KEY_RE: LazyLock<regex::Regex> = LazyLock::new(|| whole_match(TAG_KEY_PATTERN));
static TAG_VALUE_RE: LazyLock<regex::Regex> = LazyLock::new(|| whole_match(TAG_VALUE_PATTERN));

/// What is wrong with a set of tags, for the seed loader and state import (the Query face reports
/// each field its own way).
pub fn check_tags(tags: &[Tag]) -> Result<(), String> {
    if tags.len() > TAGS_PER_USER {
        return Err(format!("more than {TAGS_PER_USER} tags"));
    }
    let mut lower = std::collections::HashSet::new();
    for t in tags {
        if !TAG_KEY.check(&t.key) || !TAG_VALUE.check(&t.value) {
            return Err(format!("tag '{}' breaks AWS's tag rules", t.key));
        }
        if !lower.insert(t.key.to_lowercase()) {
            return Err(format!(
                "tag key '{}' repeats (tag keys ignore case)",
                t.key
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_model_pattern() {
        for ok in ["/", "///", "/a/", "/a/b/", "/~!/"] {
            assert!(PATH.check(ok), "{ok}");
        }
        for bad in ["", "//", "a/", "/a", "/a b/", "/é/"] {
            assert!(!PATH.check(bad), "{bad}");
        }
    }

    #[test]
    fn rules_check_length_and_pattern() {
        assert!(NEW_USER_NAME.check("alice+bob@x.y"));
        assert!(!NEW_USER_NAME.check(&"a".repeat(65)));
        assert!(USER_NAME.check(&"a".repeat(128)));
        assert!(!USER_NAME.check("bad/name"));
        assert!(ACCESS_KEY_ID.check("AKIAIOSFODNN7EXAMPLE"));
        assert!(!ACCESS_KEY_ID.check("AKIA-OSFODNN7EXAMPLE"));
        assert!(TAG_VALUE.check(""));
        assert!(!TAG_KEY.check(""));
        assert!(TAG_KEY.check("cost center:é"));
        assert!(PERMISSIONS_BOUNDARY.check("arn:aws:iam::aws:policy/PowerUserAccess"));
        assert!(!PERMISSIONS_BOUNDARY.check("arn:aws:iam::aws:role/x"));
    }

    #[test]
    fn tags_are_checked_once_for_seeds_and_imports() {
        let tag = |k: &str| Tag {
            key: k.into(),
            value: "v".into(),
        };
        assert_eq!(check_tags(&[tag("a"), tag("b")]), Ok(()));
        assert!(
            check_tags(&[tag("a"), tag("A")])
                .unwrap_err()
                .contains("repeats")
        );
        assert!(check_tags(&[tag("bad<")]).unwrap_err().contains("rules"));
    }
}
