//! Request parameters from the URL query and the form body: strict decoding, first-wins lookups, `member.N` lists.

use super::error::{ApiError, ApiResult};
use percent_encoding::percent_decode;
use std::collections::BTreeMap;

/// Decoded `name=value` pairs in arrival order (URL query first, then body).
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn decode_component(raw: &[u8]) -> ApiResult<String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                if hex.is_none() {
                    return Err(ApiError::malformed_query_string("invalid percent-encoding"));
                }
                i += 3;
            }
            _ => i += 1,
        }
    }
    // The escapes are known to be well formed; the crate does the decoding.
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    bytes.extend(percent_decode(&plus_as_space));
    String::from_utf8(bytes).map_err(|_| ApiError::malformed_query_string("invalid UTF-8"))
}

impl Params {
    /// Parses `a=b&c=d` data. Empty segments are skipped; a name without `=` has an empty value.
    pub fn extend_from(&mut self, data: &[u8]) -> ApiResult<()> {
        for part in data.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &b""[..]),
            };
            self.pairs
                .push((decode_component(name)?, decode_component(value)?));
        }
        Ok(())
    }

    /// Parameters already decoded (the console's form fields), in order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        Params {
            pairs: pairs.into_iter().collect(),
        }
    }

    pub fn parse(query: &[u8], body: &[u8]) -> ApiResult<Params> {
        let mut params = Params::default();
        params.extend_from(query)?;
        params.extend_from(body)?;
        Ok(params)
    }

    /// Every pair, in order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// The first value given for `name` (AWS ignores later repeats).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Entries of a `prefix.member.N[.field]` list, ordered by N. Returns, per index, the value of
    /// each field (`""` for a plain string list). Gaps are closed; non-numeric or zero indexes are ignored.
    pub fn members(&self, prefix: &str) -> Vec<BTreeMap<&str, &str>> {
        let mut by_index: BTreeMap<u64, BTreeMap<&str, &str>> = BTreeMap::new();
        let head = format!("{prefix}.member.");
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(&head) else {
                continue;
            };
            let (index, field) = match rest.split_once('.') {
                Some((i, f)) => (i, f),
                None => (rest, ""),
            };
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            if index == 0 {
                continue;
            }
            by_index.entry(index).or_default().entry(field).or_insert(v);
        }
        by_index.into_values().collect()
    }

    /// Whether any parameter of a `prefix.member.N` list was sent (an empty list is a list too).
    pub fn has_list(&self, prefix: &str) -> bool {
        let head = format!("{prefix}.member.");
        self.pairs
            .iter()
            .any(|(k, _)| k.starts_with(&head) || k == prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_plus_is_space() {
        let p = Params::parse(b"Action=GetUser", b"UserName=a+b%2Bc&UserName=second").unwrap();
        assert_eq!(p.get("Action"), Some("GetUser"));
        assert_eq!(p.get("UserName"), Some("a b+c"));
    }

    #[test]
    fn bad_escapes_and_bad_utf8_are_rejected() {
        for bad in [&b"a=%zz"[..], b"a=%4", b"a=%", b"a=%ff%fe", b"\xff=1"] {
            let err = Params::parse(bad, b"").unwrap_err();
            assert_eq!(
                err.code,
                crate::query::error::ErrorCode::MalformedQueryString
            );
        }
    }

    #[test]
    fn member_lists_are_ordered_and_gaps_closed() {
        let p = Params::parse(
            b"",
            b"Tags.member.3.Key=c&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.x.Key=z&Tags.member.18446744073709551615.Key=big",
        )
        .unwrap();
        let tags = p.members("Tags");
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[0].get("Key"), Some(&"a"));
        assert_eq!(tags[0].get("Value"), Some(&"1"));
        assert_eq!(tags[1].get("Key"), Some(&"c"));
        assert_eq!(tags[2].get("Key"), Some(&"big"));
        let keys = Params::parse(b"", b"TagKeys.member.2=b&TagKeys.member.1=a").unwrap();
        let keys: Vec<_> = keys.members("TagKeys").into_iter().map(|m| m[""]).collect();
        assert_eq!(keys, ["a", "b"]);
    }
}
