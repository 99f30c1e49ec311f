//! Signature verification: every JWS algorithm Tollgate accepts checked
//! against a jsonwebtoken [`DecodingKey`], the key's family matched to the
//! algorithm first. RS* and PS* verify with `aws-lc-rs`, ES256/ES384 and
//! HS* with `ring`, EdDSA with `ed25519-dalek` (its vectorised arithmetic
//! is faster than ring's here), refusing small-order keys.
//!
//! [`VerifyingKey`] is the form key sets hold: for RSA it keeps aws-lc's
//! parsed public key per algorithm, built on the first token that needs
//! it, so a cache miss pays for the modular exponentiation only. ring has
//! no parsed RSA public key (it rebuilds the modulus and its Montgomery
//! constants on every call, a third of its verification); aws-lc's
//! verification with the key parsed once takes about 16 µs here against
//! ring's 21 µs (2048-bit RS256).
//!
//! [`verify`] checks one signature with a bare [`DecodingKey`]; it backs
//! the process-wide jsonwebtoken [`CryptoProvider`] that [`install`] puts
//! in place, so `jsonwebtoken::decode` anywhere in the process verifies
//! this way too; signing and the JWK helpers stay with jsonwebtoken's
//! RustCrypto provider.
//!
//! RSA moduli under 2048 bits (RFC 7518 §3.3) and over 8192 bits are
//! refused: a token checked with such a key fails like a bad signature.

use std::sync::{Arc, LazyLock, OnceLock};

use aws_lc_rs::signature::{self as lc_signature, ParsedPublicKey};

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtVerifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use ring::hmac;
use ring::signature as ring_signature;

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The key is of another family than the algorithm (an RSA key for an
    /// HS256 token, say): refused before any cryptography runs.
    #[error("the key's family does not fit the algorithm")]
    KeyFamilyMismatch,
    /// The key's material is not in the form the algorithm needs (RSA
    /// components given for an EC, Ed25519 or HMAC key).
    #[error("the key's material does not fit the algorithm")]
    UnusableKey,
    /// An algorithm this module does not know.
    #[error("the algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The signature does not verify, or the key is rejected (an RSA
    /// modulus under 2048 bits, an EC point not on the curve, a
    /// small-order Ed25519 key).
    #[error("the signature does not verify")]
    Refused,
}

/// How one algorithm is checked.
enum Check {
    Hmac(hmac::Algorithm),
    /// RSA (PKCS#1 v1.5 or PSS) with aws-lc, and the slot of its parsed
    /// key in a [`VerifyingKey`].
    Rsa(&'static lc_signature::RsaParameters, usize),
    /// ECDSA with fixed-width `r || s` (the JWS encoding) on an
    /// uncompressed EC point.
    Ecdsa(&'static ring_signature::EcdsaVerificationAlgorithm),
    /// Ed25519 on the raw 32-byte public key.
    Ed25519,
}

fn check_for(algorithm: Algorithm) -> Result<Check, VerifyError> {
    use Algorithm as A;
    Ok(match algorithm {
        A::HS256 => Check::Hmac(hmac::HMAC_SHA256),
        A::HS384 => Check::Hmac(hmac::HMAC_SHA384),
        A::HS512 => Check::Hmac(hmac::HMAC_SHA512),
        A::RS256 => Check::Rsa(&lc_signature::RSA_PKCS1_2048_8192_SHA256, 0),
        A::RS384 => Check::Rsa(&lc_signature::RSA_PKCS1_2048_8192_SHA384, 1),
        A::RS512 => Check::Rsa(&lc_signature::RSA_PKCS1_2048_8192_SHA512, 2),
        A::PS256 => Check::Rsa(&lc_signature::RSA_PSS_2048_8192_SHA256, 3),
        A::PS384 => Check::Rsa(&lc_signature::RSA_PSS_2048_8192_SHA384, 4),
        A::PS512 => Check::Rsa(&lc_signature::RSA_PSS_2048_8192_SHA512, 5),
        A::ES256 => Check::Ecdsa(&ring_signature::ECDSA_P256_SHA256_FIXED),
        A::ES384 => Check::Ecdsa(&ring_signature::ECDSA_P384_SHA384_FIXED),
        A::EdDSA => Check::Ed25519,
        _ => return Err(VerifyError::UnsupportedAlgorithm),
    })
}

/// The checks that need no cryptography: the key's family fits the
/// algorithm and its material has the form the algorithm needs.
fn prepare(algorithm: Algorithm, key: &DecodingKey) -> Result<Check, VerifyError> {
    if key.family() != algorithm.family() {
        return Err(VerifyError::KeyFamilyMismatch);
    }
    let check = check_for(algorithm)?;
    match (&check, key.kind()) {
        (Check::Rsa(..), _) | (_, DecodingKeyKind::SecretOrDer(_)) => Ok(check),
        (_, DecodingKeyKind::RsaModulusExponent { .. }) => Err(VerifyError::UnusableKey),
    }
}

/// RSA algorithms, one parsed-key slot each in a [`VerifyingKey`].
const RSA_ALGORITHMS: usize = 6;

/// A verification key as key sets hold it: built once, shared read-only by
/// every request (cloning shares the parsed keys). RSA keys are parsed into
/// aws-lc's form per algorithm on first use; a key aws-lc rejects stays
/// rejected (every token checked with it fails like a bad signature).
#[derive(Clone)]
pub struct VerifyingKey {
    decoding: DecodingKey,
    rsa: Arc<[OnceLock<Option<ParsedPublicKey>>; RSA_ALGORITHMS]>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("VerifyingKey")
            .field("family", &self.decoding.family())
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Wraps `decoding`; nothing is parsed until a token needs it.
    pub fn new(decoding: DecodingKey) -> Self {
        Self {
            decoding,
            rsa: Arc::new(Default::default()),
        }
    }

    /// The key as jsonwebtoken holds it.
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Verifies `signature` over `message` for `algorithm`, like [`verify`],
    /// with RSA keys parsed once.
    pub fn verify(
        &self,
        algorithm: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        match prepare(algorithm, &self.decoding)? {
            Check::Rsa(params, slot) => {
                let parsed = self.rsa[slot].get_or_init(|| parse_rsa(params, &self.decoding));
                verify_rsa(parsed.as_ref(), message, signature)
            }
            check => verify_with(check, &self.decoding, message, signature),
        }
    }
}

/// Verifies `signature` (the decoded third segment) over `message` (the
/// `header.payload` bytes) with `key` for `algorithm`.
///
/// Keys are read as jsonwebtoken stores them: an HMAC secret; an RSA
/// `RSAPublicKey` (PKCS#1 DER) or its `n`/`e` (big-endian; leading zero
/// bytes are tolerated); an uncompressed EC point; a raw Ed25519 key.
pub fn verify(
    algorithm: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    verify_with(prepare(algorithm, key)?, key, message, signature)
}

fn verify_with(
    check: Check,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    let outcome = match (check, key.kind()) {
        (Check::Hmac(hash), DecodingKeyKind::SecretOrDer(secret)) => {
            // Constant-time tag comparison.
            hmac::verify(&hmac::Key::new(hash, secret), message, signature)
        }
        (Check::Rsa(params, _), _) => {
            return verify_rsa(parse_rsa(params, key).as_ref(), message, signature);
        }
        (Check::Ecdsa(verification), DecodingKeyKind::SecretOrDer(point)) => {
            ring_signature::UnparsedPublicKey::new(verification, point).verify(message, signature)
        }
        (Check::Ed25519, DecodingKeyKind::SecretOrDer(public_key)) => {
            return verify_ed25519(public_key, message, signature);
        }
        (_, DecodingKeyKind::RsaModulusExponent { .. }) => return Err(VerifyError::UnusableKey),
    };
    outcome.map_err(|_| VerifyError::Refused)
}

/// aws-lc's parsed form of an RSA key for `params`: from `RSAPublicKey`
/// DER, or from `n`/`e`. `None` when aws-lc rejects it.
fn parse_rsa(
    params: &'static lc_signature::RsaParameters,
    key: &DecodingKey,
) -> Option<ParsedPublicKey> {
    match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der).ok(),
        // aws-lc wants minimal big-endian integers; JWKs in the wild
        // sometimes pad `n` with a zero byte.
        DecodingKeyKind::RsaModulusExponent { n, e } => lc_signature::RsaPublicKeyComponents {
            n: without_leading_zeros(n),
            e: without_leading_zeros(e),
        }
        .to_parsed_public_key(params)
        .ok(),
    }
}

/// Checks an RSA signature; the parameters (padding, hash, 2048–8192
/// bits) are those the key was parsed for.
fn verify_rsa(
    key: Option<&ParsedPublicKey>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    key.ok_or(VerifyError::Refused)?
        .verify_sig(message, signature)
        .map_err(|_| VerifyError::Refused)
}

/// Ed25519 (RFC 8032, canonical `S`), refusing small-order public keys:
/// with one, a signature whose `R` is the identity and `S` zero satisfies
/// the cofactorless equation for any message (ring accepts that forgery).
fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    use ed25519_dalek::Verifier as _;
    let public_key = <&[u8; 32]>::try_from(public_key).map_err(|_| VerifyError::Refused)?;
    let public_key =
        ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| VerifyError::Refused)?;
    if public_key.is_weak() {
        return Err(VerifyError::Refused);
    }
    let signature =
        ed25519_dalek::Signature::from_slice(signature).map_err(|_| VerifyError::Refused)?;
    public_key
        .verify(message, &signature)
        .map_err(|_| VerifyError::Refused)
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The verifier jsonwebtoken gets from [`provider`]: the algorithm and a
/// copy of the key, checked by [`VerifyingKey::verify`].
struct KeyVerifier {
    algorithm: Algorithm,
    key: VerifyingKey,
}

impl Verifier<Vec<u8>> for KeyVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.key
            .verify(self.algorithm, message, signature)
            .map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for KeyVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn new_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match prepare(*algorithm, key) {
        Ok(_) => Ok(Box::new(KeyVerifier {
            algorithm: *algorithm,
            key: VerifyingKey::new(key.clone()),
        })),
        Err(VerifyError::UnsupportedAlgorithm) => Err(ErrorKind::UnsupportedAlgorithm.into()),
        Err(_) => Err(ErrorKind::InvalidKeyFormat.into()),
    }
}

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
    verifier_factory: new_verifier,
    key_utils: rust_crypto::DEFAULT_PROVIDER.key_utils.clone(),
});

/// Tollgate's jsonwebtoken provider: verification by [`verify`],
/// signing and JWK helpers from jsonwebtoken's RustCrypto provider.
pub fn provider() -> &'static CryptoProvider {
    &PROVIDER
}

/// Which provider jsonwebtoken uses in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessProvider {
    /// Tollgate's ([`provider`]).
    Tollgate,
    /// Another one, installed earlier (by the embedding program, or fixed
    /// by a jsonwebtoken call that ran before [`install`]). Tollgate's own
    /// token checks still verify with [`verify`]; other `jsonwebtoken::decode`
    /// calls in the process use that provider.
    Other,
}

/// Installs [`provider`] as jsonwebtoken's provider for this process, once;
/// later calls return the first outcome. Another provider already in place
/// is kept and reported (a warning in the log), never a panic.
pub fn install() -> ProcessProvider {
    static OUTCOME: OnceLock<ProcessProvider> = OnceLock::new();
    *OUTCOME.get_or_init(|| {
        let outcome = outcome(provider().install_default());
        if outcome == ProcessProvider::Other {
            tracing::warn!(
                "jsonwebtoken already has another crypto provider in this process; \
                 Tollgate's token checks still verify with its own code, other jsonwebtoken calls use that provider"
            );
        }
        outcome
    })
}

/// Reads jsonwebtoken's answer to an installation.
fn outcome(installed: Result<(), &'static CryptoProvider>) -> ProcessProvider {
    match installed {
        Ok(()) => ProcessProvider::Tollgate,
        Err(existing) if std::ptr::eq(existing, provider()) => ProcessProvider::Tollgate,
        Err(_) => ProcessProvider::Other,
    }
}

#[cfg(test)]
mod tests;
