//! OUTSCALE's dates: read as ISO 8601 (a date, or a date and time, basic or extended), written as
//! the API's examples write them (`2063-04-05T00:00:00.000+0000`).

pub use crate::clock::parse_iso8601 as parse;
use time::OffsetDateTime;
use time::macros::format_description;

/// `2010-10-01T12:34:56.789+0000`, UTC.
pub fn format(millis: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_s_examples_read_and_write_as_the_api_does() {
        let d = parse("2063-04-05").unwrap();
        assert_eq!(format(d), "2063-04-05T00:00:00.000+0000");
        for same in [
            "2063-04-05T00:00:00.000Z",
            "2063-04-05T00:00:00Z",
            "2063-04-05T02:00:00+02:00",
            "2063-04-05T00:00:00.000+0000",
            "2063-04-05T00:00:00",
            "20630405",
            "20630405T000000Z",
        ] {
            assert_eq!(parse(same), Some(d), "{same}");
        }
        assert_eq!(
            format(parse("2010-10-01T12:34:56.789Z").unwrap()),
            "2010-10-01T12:34:56.789+0000"
        );
        for bad in [
            "",
            "tomorrow",
            "2063-13-01",
            "2063-04-05T25:00:00Z",
            "05/04/2063",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
