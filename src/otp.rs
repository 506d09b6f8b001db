//! One-time passwords of virtual MFA devices: RFC 6238 codes (30 s steps, SHA-1, 6 digits, through
//! `totp-rs`), the `otpauth://` URI an authenticator app reads, and that URI as a QR code PNG.

use data_encoding::BASE32_NOPAD;
use totp_rs::{Algorithm, Builder, Totp};

/// RFC 6238's step and AWS's code length.
pub const STEP_SECONDS: u64 = 30;
const DIGITS: u8 = 6;
/// How many steps before or after the current one a code may come from (clock drift).
pub const SKEW_STEPS: u64 = 1;
/// Pixels per QR module, and the quiet zone around the code in modules.
const QR_SCALE: usize = 4;
const QR_QUIET_ZONE: usize = 4;

fn totp(seed_base32: &str) -> Option<Totp> {
    let secret = BASE32_NOPAD
        .decode(seed_base32.trim_end_matches('=').as_bytes())
        .ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .build()
        .ok()
}

/// The code of a step (`step` counts 30-second steps since the Unix epoch).
pub fn code_at_step(seed_base32: &str, step: u64) -> Option<String> {
    totp(seed_base32).map(|t| t.generate(step * STEP_SECONDS).to_string())
}

/// The step whose code `code` is, among the steps `first..=last`, if any.
pub fn step_of(seed_base32: &str, code: &str, first: u64, last: u64) -> Option<u64> {
    let t = totp(seed_base32)?;
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Every candidate is computed and compared, so the time taken does not tell which matched.
    let mut found = None;
    for step in first..=last {
        let expected = t.generate(step * STEP_SECONDS).to_string();
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), code.as_bytes()).into();
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The step `unix_millis` falls in.
pub fn step_at(unix_millis: i64) -> u64 {
    u64::try_from(unix_millis.max(0)).unwrap_or(0) / 1000 / STEP_SECONDS
}

/// `otpauth://totp/<device>@<account>?secret=<seed>`, as AWS's QR codes hold it.
pub fn otpauth_uri(device_name: &str, account_name: &str, seed_base32: &str) -> String {
    // RFC 3986's unreserved characters stay; `@` (the separator) and the rest are escaped.
    const LABEL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let encode = |s: &str| percent_encoding::utf8_percent_encode(s, LABEL).to_string();
    format!(
        "otpauth://totp/{}@{}?secret={seed_base32}",
        encode(device_name),
        encode(account_name)
    )
}

/// `text` as a QR code in a grayscale PNG, with a quiet zone, ready for any authenticator app.
pub fn qr_png(text: &str) -> Option<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let modules = code.width();
    let side = (modules + 2 * QR_QUIET_ZONE) * QR_SCALE;
    let dark = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if dark[y * modules + x] == qrcode::Color::Dark {
                for dy in 0..QR_SCALE {
                    let row = (y + QR_QUIET_ZONE) * QR_SCALE + dy;
                    let start = row * side + (x + QR_QUIET_ZONE) * QR_SCALE;
                    pixels[start..start + QR_SCALE].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).ok()?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"), in base32.
    const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        // (time in seconds, the 8-digit value of appendix B); 6-digit codes are its last 6 digits.
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = time / STEP_SECONDS;
            assert_eq!(code_at_step(RFC_SEED, step).unwrap(), eight[2..], "{time}");
            assert_eq!(
                step_of(RFC_SEED, &eight[2..], step - 1, step + 1),
                Some(step)
            );
        }
        assert_eq!(step_of(RFC_SEED, "000000", 1, 3), None);
        assert_eq!(step_of(RFC_SEED, "12345", 1, 3), None);
        assert_eq!(step_of(RFC_SEED, "abcdef", 1, 3), None);
    }

    #[test]
    fn the_qr_png_is_a_png_of_the_uri() {
        let uri = otpauth_uri("alice", "123456789012", RFC_SEED);
        assert_eq!(
            uri,
            "otpauth://totp/alice@123456789012?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let png = qr_png(&uri).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
