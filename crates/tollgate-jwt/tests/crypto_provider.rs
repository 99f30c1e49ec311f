//! The process-wide jsonwebtoken provider, in a process of its own (the
//! provider is fixed by jsonwebtoken's first use): after
//! `tollgate_jwt::crypto::install`, `jsonwebtoken::decode` verifies with
//! ring, which refuses a 1024-bit RSA key that RustCrypto would accept,
//! and signing still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
use serde_json::{json, Map, Value};
use tollgate_jwt::crypto::{install, ProcessProvider};

fn keys(bits: usize) -> (EncodingKey, DecodingKey) {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), bits).unwrap();
    let public = private.to_public_key();
    (
        EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        DecodingKey::from_rsa_der(public.to_pkcs1_der().unwrap().as_bytes()),
    )
}

fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> jsonwebtoken::errors::Result<()> {
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map(|_| ())
}

#[test]
fn installed_first_jsonwebtoken_verifies_with_tollgates_checks() {
    assert_eq!(install(), ProcessProvider::Tollgate);
    assert_eq!(install(), ProcessProvider::Tollgate, "idempotent");

    let claims = json!({"sub": "1"});
    let (encoding, decoding) = keys(2048);
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &encoding).unwrap();
    decode(&token, &decoding, Algorithm::RS256).unwrap();

    // RustCrypto signs with (and would verify with) a 1024-bit key; ring,
    // now behind jsonwebtoken, refuses it as a bad signature.
    let (short_encoding, short_decoding) = keys(1024);
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &short_encoding).unwrap();
    let error = decode(&token, &short_decoding, Algorithm::RS256).unwrap_err();
    assert_eq!(
        error.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );

    // An HS256 token keyed with the RSA key's bytes never meets an HMAC.
    let secret = decoding.try_get_as_bytes().unwrap().to_vec();
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert!(decode(&confused, &decoding, Algorithm::HS256).is_err());
    let (_, message_signature) = confused.split_at(confused.rfind('.').unwrap());
    let signing_input = &confused[..confused.len() - message_signature.len()];
    let verified = jsonwebtoken::crypto::verify(
        &message_signature[1..],
        signing_input.as_bytes(),
        &decoding,
        Algorithm::HS256,
    );
    assert!(verified.is_err(), "{verified:?}");
}
