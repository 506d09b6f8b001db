//! Identifier generation: AWS-shaped access key ids that encode the account, user ids, secrets and request ids.
//!
//! One random source serves them all, so `IdGen::seeded` makes every generated value reproducible.

use crate::model::{Flavor, Secret};
use data_encoding::{BASE32_NOPAD, BASE64};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Mutex;

pub const LONG_TERM_KEY_PREFIX: &str = "AKIA";
pub use crate::model::SESSION_KEY_PREFIX;
pub const USER_ID_PREFIX: &str = "AIDA";

pub struct IdGen {
    rng: Mutex<ChaCha20Rng>,
    flavor: Flavor,
}

impl std::fmt::Debug for IdGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdGen")
    }
}

impl IdGen {
    /// Unpredictable ids, seeded from the operating system.
    pub fn from_entropy() -> Self {
        IdGen {
            rng: Mutex::new(ChaCha20Rng::from_os_rng()),
            flavor: Flavor::Aws,
        }
    }

    /// Reproducible ids: the same seed and the same calls give the same values.
    pub fn seeded(seed: u64) -> Self {
        IdGen {
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
            flavor: Flavor::Aws,
        }
    }

    /// Access key ids in `flavor`'s shape.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    fn fill(&self, buf: &mut [u8]) {
        // A poisoned lock only means another thread panicked mid-fill; the generator is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.fill_bytes(buf);
    }

    /// The 16 base32 characters after the prefix: a generation flag, 40 bits of account, random rest.
    fn account_tagged(&self, account: &str) -> String {
        let account: u64 = account.parse().unwrap_or(0) & 0xff_ffff_ffff;
        let mut random = [0u8; 5];
        self.fill(&mut random);
        let z: u64 = (1 << 47) | (account << 7) | u64::from(random[0] & 0x7f);
        let mut raw = [0u8; 10];
        raw[..6].copy_from_slice(&z.to_be_bytes()[2..]);
        raw[6..].copy_from_slice(&random[1..]);
        BASE32_NOPAD.encode(&raw)
    }

    pub fn access_key_id(&self, account: &str) -> String {
        match self.flavor {
            Flavor::Aws => format!("{LONG_TERM_KEY_PREFIX}{}", self.account_tagged(account)),
            Flavor::Outscale => self.outscale_key_id(),
        }
    }

    /// 20 characters of A-Z and 0-9, as OUTSCALE's key ids (no prefix, no account inside).
    fn outscale_key_id(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        // Bytes past the last whole multiple of 36 are drawn again, so every character is as likely.
        const LIMIT: u8 = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        let mut out = String::with_capacity(20);
        let mut buf = [0u8; 32];
        while out.len() < 20 {
            self.fill(&mut buf);
            for b in buf.iter().filter(|&&b| b < LIMIT) {
                if out.len() == 20 {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
        }
        out
    }

    pub fn user_id(&self, account: &str) -> String {
        let mut extra = [0u8; 1];
        self.fill(&mut extra);
        let last = BASE32_NOPAD.encode(&extra);
        format!(
            "{USER_ID_PREFIX}{}{}",
            self.account_tagged(account),
            &last[..1]
        )
    }

    /// `ASIA` + the account-tagged tail, as STS's session key ids (whatever the flavour).
    pub fn session_key_id(&self, account: &str) -> String {
        format!("{SESSION_KEY_PREFIX}{}", self.account_tagged(account))
    }

    /// An opaque session token: base64 of 144 random bytes (192 characters). Nothing in it is
    /// derived from the session's id or secret.
    pub fn session_token(&self) -> Secret {
        let mut raw = [0u8; 144];
        self.fill(&mut raw);
        let token = Secret::new(BASE64.encode(&raw));
        zeroize::Zeroize::zeroize(&mut raw);
        token
    }

    /// A virtual MFA device's TOTP secret: 40 random bytes in base32 (64 characters, as AWS's).
    pub fn mfa_seed(&self) -> Secret {
        let mut raw = [0u8; 40];
        self.fill(&mut raw);
        let seed = Secret::new(data_encoding::BASE32.encode(&raw));
        zeroize::Zeroize::zeroize(&mut raw);
        seed
    }

    /// 40 characters of `A–Z a–z 0–9 + /`, like AWS secrets.
    pub fn secret(&self) -> Secret {
        let mut raw = [0u8; 30];
        self.fill(&mut raw);
        let s = Secret::new(BASE64.encode(&raw));
        zeroize::Zeroize::zeroize(&mut raw);
        s
    }

    /// STS's `x-amz-sts-extended-request-id`: base64 of `1:<region>:S:<epoch ms>:R:<8 alphanumerics>`,
    /// the shape real STS answers carry.
    pub fn sts_extended_request_id(&self, region: &str, epoch_ms: i64) -> String {
        const ALPHANUMERIC: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = [0u8; 8];
        self.fill(&mut raw);
        let tail: String = raw
            .iter()
            .map(|b| char::from(ALPHANUMERIC[usize::from(*b) % ALPHANUMERIC.len()]))
            .collect();
        BASE64.encode(format!("1:{region}:S:{epoch_ms}:R:{tail}").as_bytes())
    }

    /// A lowercase UUID v4, as AWS writes RequestId.
    pub fn request_id(&self) -> String {
        let mut raw = [0u8; 16];
        self.fill(&mut raw);
        uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

/// The account a current-generation access key id encodes, or `None` for old-generation or malformed ids.
pub fn account_from_key_id(id: &str) -> Option<String> {
    let tail = id.get(4..20)?;
    if id.len() != 20 {
        return None;
    }
    let raw = BASE32_NOPAD.decode(tail.as_bytes()).ok()?;
    let mut z = [0u8; 8];
    z[2..].copy_from_slice(raw.get(..6)?);
    let z = u64::from_be_bytes(z);
    if z & (1 << 47) == 0 {
        return None;
    }
    Some(format!("{:012}", (z & 0x7fff_ffff_ff80) >> 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_encode_the_account() {
        let ids = IdGen::seeded(7);
        let id = ids.access_key_id("123456789012");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIARZPUZDIK"), "{id}");
        assert_eq!(account_from_key_id(&id).as_deref(), Some("123456789012"));
    }

    #[test]
    fn a_real_key_decodes_to_its_account() {
        assert_eq!(
            account_from_key_id("AKIAVCODYLSA53PQK4ZA").as_deref(),
            Some("348839763073")
        );
        assert_eq!(account_from_key_id("AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn user_ids_and_secrets_have_aws_shapes() {
        let ids = IdGen::from_entropy();
        let uid = ids.user_id("123456789012");
        assert_eq!(uid.len(), 21);
        assert!(uid.starts_with("AIDA"));
        let secret = ids.secret();
        assert_eq!(secret.expose().len(), 40);
        assert!(
            secret
                .expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        );
        let rid = ids.request_id();
        assert_eq!(rid.len(), 36);
        assert_eq!(rid, rid.to_lowercase());
    }

    #[test]
    fn outscale_key_ids_are_twenty_letters_and_digits() {
        let ids = IdGen::seeded(3).with_flavor(Flavor::Outscale);
        for _ in 0..100 {
            let id = ids.access_key_id("123456789012");
            assert!(crate::model::is_outscale_access_key_id(&id), "{id}");
            assert!(!id.starts_with("AKIA"));
        }
    }

    #[test]
    fn seeded_generators_repeat() {
        let (a, b) = (IdGen::seeded(42), IdGen::seeded(42));
        assert_eq!(
            a.access_key_id("111122223333"),
            b.access_key_id("111122223333")
        );
        assert_eq!(a.secret(), b.secret());
        assert_eq!(a.request_id(), b.request_id());
    }
}
