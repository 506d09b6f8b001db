//! Signing keys (the scheme's four-HMAC derivation) and the constant-time signature check.

use super::Claim;
use crate::error::AuthError;
use crate::model::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A derived SigV4 signing key (secret material: never logged).
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // HMAC takes a key of any length; the error case cannot happen, and would yield a key that
    // verifies nothing rather than a panic.
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        mac.update(data);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// The scheme's four-HMAC key derivation for the claim's scope (the scope's own date, as the
/// client signed it).
pub fn signing_key(secret: &Secret, claim: &Claim) -> SigningKey {
    let seed = zeroize::Zeroizing::new(format!("{}{}", claim.scheme.key_prefix, secret.expose()));
    let mut key = hmac_sha256(seed.as_bytes(), claim.scope.date.as_bytes());
    for part in [
        claim.scope.region.as_bytes(),
        claim.scope.service.as_bytes(),
        claim.scheme.terminator.as_bytes(),
    ] {
        let next = hmac_sha256(&key, part);
        zeroize::Zeroize::zeroize(&mut key);
        key = next;
    }
    SigningKey(key)
}

/// The signature the client should have sent.
pub fn expected_signature(key: &SigningKey, string_to_sign: &str) -> String {
    aws_sigv4::sign::v4::calculate_signature(key.0, string_to_sign.as_bytes())
}

/// Constant-time comparison of the claimed signature with the expected one.
pub fn verify(claim: &Claim, key: &SigningKey, string_to_sign: &str) -> Result<(), AuthError> {
    let expected = expected_signature(key, string_to_sign);
    if bool::from(expected.as_bytes().ct_eq(claim.signature.as_bytes())) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mode, Scheme, Scope, parse_amz_date};
    use super::*;

    fn claim(scheme: &'static Scheme, region: &str, service: &str) -> Claim {
        Claim {
            scheme,
            access_key_id: "AKIDEXAMPLE".into(),
            scope: Scope {
                date: "20240131".into(),
                region: region.into(),
                service: service.into(),
            },
            amz_date: "20240131T120000Z".into(),
            time: parse_amz_date("20240131T120000Z").unwrap(),
            signed_headers: "host".into(),
            signature: String::new(),
            mode: Mode::Header,
            security_token: None,
        }
    }

    #[test]
    fn aws4_keys_are_the_ones_aws_sigv4_derives() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let ours = signing_key(
            &Secret::new(secret),
            &claim(&Scheme::AWS4, "us-east-1", "iam"),
        );
        let time = std::time::SystemTime::from(parse_amz_date("20240131T120000Z").unwrap());
        let theirs = aws_sigv4::sign::v4::generate_signing_key(secret, time, "us-east-1", "iam");
        assert_eq!(ours.0.as_slice(), theirs.as_ref());
    }

    #[test]
    fn osc4_keys_and_signatures_match_an_independent_implementation() {
        // Computed with Python's hmac module, as osc-sdk-python's authentication.py derives them.
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let c = claim(&Scheme::OSC4, "eu-west-2", "api");
        let key = signing_key(&secret, &c);
        assert_eq!(
            hex::encode(key.0),
            "11a7c233e8fb469feec391fcf52436577210d7e4e87cb3747a511cd206e3d7d0"
        );
        let sts = super::super::string_to_sign(&c, b"canonical");
        assert!(sts.starts_with(
            "OSC4-HMAC-SHA256\n20240131T120000Z\n20240131/eu-west-2/api/osc4_request\n"
        ));
        assert_eq!(
            expected_signature(&key, &sts),
            "3bd98fefb19b30d51b5e35cc0a23cb5ed00f1bafd940f8b03565e7c69c55acf1"
        );
    }
}
