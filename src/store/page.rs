//! Pagination: opaque markers (a kind tag and the next item's sort key) and cutting a page.

use crate::error::{Error, Result};
use crate::model::Page;
use data_encoding::BASE64;

pub(super) fn encode_marker(kind: &str, key: &str) -> String {
    BASE64.encode(format!("{kind}:{key}").as_bytes())
}

pub(super) fn decode_marker(marker: &str, kind: &str) -> Result<String> {
    let raw = BASE64
        .decode(marker.as_bytes())
        .map_err(|_| Error::InvalidMarker)?;
    let text = String::from_utf8(raw).map_err(|_| Error::InvalidMarker)?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_string)
        .ok_or(Error::InvalidMarker)
}

/// The sort key a marker of `kind` carries, or `""` (the start) without a marker.
pub(super) fn start_key(marker: Option<&str>, kind: &str) -> Result<String> {
    marker.map_or(Ok(String::new()), |m| decode_marker(m, kind))
}

/// Cuts a `max + 1` row result to a page, using the extra row to build the next marker.
pub(super) fn paginate<T>(
    mut items: Vec<T>,
    max: usize,
    marker_of: impl Fn(&T) -> String,
) -> Page<T> {
    let next = if items.len() > max {
        let next = marker_of(&items[max]);
        items.truncate(max);
        Some(next)
    } else {
        None
    };
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        let m = encode_marker("u", "alice");
        assert_eq!(decode_marker(&m, "u").unwrap(), "alice");
        assert_eq!(decode_marker(&m, "k"), Err(Error::InvalidMarker));
        assert_eq!(decode_marker("!!", "u"), Err(Error::InvalidMarker));
    }
}
