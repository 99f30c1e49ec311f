//! Verification per algorithm, with tokens signed independently by
//! jsonwebtoken's RustCrypto signers: valid tokens verify in every key form
//! jsonwebtoken stores; flipped, foreign, truncated and algorithm-swapped
//! signatures are refused; short RSA keys and hostile key material give an
//! error, never a panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::jwks::KeySet;
use crate::tests::{ed_key, oct_key, p256_key, p384_key, rsa_1024, rsa_key, TestKey};

/// Every algorithm Tollgate accepts (the library's own lists).
fn all() -> impl Iterator<Item = Algorithm> + Clone {
    crate::SYMMETRIC.into_iter().chain(crate::ASYMMETRIC)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `(signing input, decoded signature)` of a token signed by `encoding`.
fn signed(alg: Algorithm, encoding: &EncodingKey) -> (Vec<u8>, Vec<u8>) {
    signed_for("1", alg, encoding)
}

fn signed_for(sub: &str, alg: Algorithm, encoding: &EncodingKey) -> (Vec<u8>, Vec<u8>) {
    let token = jsonwebtoken::encode(&Header::new(alg), &json!({ "sub": sub }), encoding).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    (
        input.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
}

/// The decoding key a JWKS gives for `jwk` (the production path).
fn from_jwk(jwk: &serde_json::Value) -> DecodingKey {
    let set = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1, "{jwk}");
    set.keys[0].verifying.decoding().clone()
}

/// Every way of checking: the function, the provider's verifier, and a
/// [`VerifyingKey`] twice (the first call parses an RSA key, the second
/// uses the parsed key) — all must agree.
fn check(alg: Algorithm, key: &DecodingKey, message: &[u8], signature: &[u8]) -> bool {
    let direct = verify(alg, key, message, signature);
    let through_provider = (provider().verifier_factory)(&alg, key)
        .is_ok_and(|v| v.verify(message, &signature.to_vec()).is_ok());
    assert_eq!(direct.is_ok(), through_provider, "{alg:?}: {direct:?}");
    let prepared = VerifyingKey::new(key.clone());
    for call in ["first", "second"] {
        let outcome = prepared.verify(alg, message, signature);
        assert_eq!(outcome, direct, "{alg:?}, {call} call of a prepared key");
    }
    direct.is_ok()
}

/// One algorithm: a signer, a stranger's key of the same kind, and the
/// public key in every form jsonwebtoken can hold it.
struct Case {
    signer: TestKey,
    stranger: TestKey,
    keys: Vec<(&'static str, DecodingKey)>,
    /// Public key bytes an attacker could use as an HMAC secret.
    public_bytes: Vec<Vec<u8>>,
}

fn case(alg: Algorithm) -> Case {
    // The pkcs8 trait every curve crate here re-exports.
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    let lf = p256::pkcs8::LineEnding::LF;
    match alg.family() {
        jsonwebtoken::AlgorithmFamily::Rsa => {
            let signer = rsa_key("k", alg, false);
            let stranger = rsa_key("k", alg, true);
            let pem = DecodingKey::from_rsa_pem(&signer.public_pem).unwrap();
            let der = pem.try_get_as_bytes().unwrap().to_vec();
            Case {
                keys: vec![
                    ("jwk n/e", from_jwk(&signer.jwk)),
                    ("SPKI PEM", pem),
                    ("PKCS#1 DER", DecodingKey::from_rsa_der(&der)),
                ],
                public_bytes: vec![signer.public_pem.clone(), der],
                signer,
                stranger,
            }
        }
        jsonwebtoken::AlgorithmFamily::Ec => {
            let (signer, stranger) = if alg == Algorithm::ES256 {
                (p256_key("k"), p256_key("k"))
            } else {
                (p384_key("k"), p384_key("k"))
            };
            let point = signer.public_pem.clone();
            let pem = if alg == Algorithm::ES256 {
                p256::PublicKey::from_sec1_bytes(&point)
                    .unwrap()
                    .to_public_key_pem(lf)
                    .unwrap()
            } else {
                p384::PublicKey::from_sec1_bytes(&point)
                    .unwrap()
                    .to_public_key_pem(lf)
                    .unwrap()
            };
            Case {
                keys: vec![
                    ("jwk x/y", from_jwk(&signer.jwk)),
                    (
                        "SPKI PEM",
                        DecodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
                    ),
                    ("SEC1 point", DecodingKey::from_ec_der(&point)),
                ],
                public_bytes: vec![point, pem.into_bytes()],
                signer,
                stranger,
            }
        }
        jsonwebtoken::AlgorithmFamily::Ed => {
            let signer = ed_key("k");
            let raw = signer.public_pem.clone();
            let pem = ed25519_dalek::VerifyingKey::from_bytes(&raw.clone().try_into().unwrap())
                .unwrap()
                .to_public_key_pem(lf)
                .unwrap();
            Case {
                keys: vec![
                    ("jwk x", from_jwk(&signer.jwk)),
                    (
                        "SPKI PEM",
                        DecodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
                    ),
                    ("raw", DecodingKey::from_ed_der(&raw)),
                ],
                public_bytes: vec![raw, pem.into_bytes()],
                signer,
                stranger: ed_key("k"),
            }
        }
        jsonwebtoken::AlgorithmFamily::Hmac => {
            let signer = oct_key("k", alg);
            Case {
                keys: vec![("jwk k", from_jwk(&signer.jwk))],
                public_bytes: Vec::new(),
                signer,
                stranger: oct_key("k", alg),
            }
        }
    }
}

#[test]
fn every_algorithm_verifies_its_own_signature_and_refuses_forgeries() {
    for alg in all() {
        let case = case(alg);
        let (message, signature) = signed(alg, &case.signer.encoding);
        let (_, foreign) = signed(alg, &case.stranger.encoding);
        let (other_message, _) = signed_for("admin", alg, &case.signer.encoding);
        for (form, key) in &case.keys {
            let name = format!("{alg:?} ({form})");
            assert!(check(alg, key, &message, &signature), "{name}: valid");
            for index in [0, signature.len() / 2, signature.len() - 1] {
                let mut flipped = signature.clone();
                flipped[index] ^= 0x01;
                assert_eq!(
                    verify(alg, key, &message, &flipped),
                    Err(VerifyError::Refused),
                    "{name}: byte {index} flipped"
                );
                assert!(!check(alg, key, &message, &flipped));
            }
            assert!(
                !check(alg, key, &message, &foreign),
                "{name}: another key's signature"
            );
            assert!(
                !check(alg, key, &other_message, &signature),
                "{name}: signature moved to another payload"
            );
            assert!(!check(
                alg,
                key,
                &message,
                &signature[..signature.len() - 1]
            ));
            assert!(!check(alg, key, &message, &[]));
            let mut longer = signature.clone();
            longer.push(0);
            assert!(!check(alg, key, &message, &longer), "{name}: trailing byte");
        }
    }
}

#[test]
fn a_swapped_algorithm_is_refused() {
    for alg in all() {
        let case = case(alg);
        let (message, signature) = signed(alg, &case.signer.encoding);
        for (form, key) in &case.keys {
            for other in all().filter(|o| *o != alg) {
                let name = format!("{alg:?} key ({form}) checked as {other:?}");
                let expected = if other.family() == alg.family() {
                    // Same key type, other hash or padding: the maths fails.
                    VerifyError::Refused
                } else {
                    VerifyError::KeyFamilyMismatch
                };
                assert_eq!(
                    verify(other, key, &message, &signature),
                    Err(expected),
                    "{name}"
                );
                assert!(!check(other, key, &message, &signature), "{name}");
                if expected == VerifyError::KeyFamilyMismatch {
                    assert!(
                        (provider().verifier_factory)(&other, key).is_err(),
                        "{name}: the provider refuses to build the verifier"
                    );
                }
            }
            // The classic confusion: an HS token keyed with the public key's
            // bytes, checked against the public key.
            for secret in &case.public_bytes {
                for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    let (message, signature) = signed(hs, &EncodingKey::from_secret(secret));
                    assert_eq!(
                        verify(hs, key, &message, &signature),
                        Err(VerifyError::KeyFamilyMismatch),
                        "{hs:?} keyed with the {alg:?} public key ({form})"
                    );
                    assert!(!check(hs, key, &message, &signature));
                }
            }
        }
    }
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    use rsa::pkcs1::{EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
    use rsa::traits::PublicKeyParts as _;
    let private = rsa_1024();
    let public = private.to_public_key();
    let encoding = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
    let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
    let keys = [
        DecodingKey::from_rsa_raw_components(&n, &e),
        DecodingKey::from_rsa_der(public.to_pkcs1_der().unwrap().as_bytes()),
    ];
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        // RustCrypto signs with it; Tollgate will not verify with it.
        let (message, signature) = signed(alg, &encoding);
        for key in &keys {
            assert_eq!(
                verify(alg, key, &message, &signature),
                Err(VerifyError::Refused),
                "{alg:?}"
            );
            assert!(!check(alg, key, &message, &signature));
        }
    }
    // A JWKS never gets that far: such a key is skipped when parsed, also
    // when `n` is padded with zero bytes to look 2048 bits long.
    let mut padded = vec![0u8; 256 - n.len()];
    padded.extend_from_slice(&n);
    for n in [&n, &padded] {
        let jwk = json!({"kty": "RSA", "n": b64(n), "e": b64(&e)});
        let set = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
        assert!(set.keys.is_empty(), "{} bytes", n.len());
    }
    // Nor a modulus over 8192 bits.
    let jwk = json!({"kty": "RSA", "n": b64(&[0xff; 1025]), "e": b64(&e)});
    let set = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    assert!(set.keys.is_empty());
}

#[test]
fn pss_signatures_need_a_salt_as_long_as_the_hash() {
    // RFC 7518 §3.5: PS256's salt is 32 bytes. A signature made by the
    // key's owner with another salt length is still refused.
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
    let signer = rsa_key("k", Algorithm::PS256, false);
    let key = from_jwk(&signer.jwk);
    let private = &crate::tests::rsa_keys().0;
    let message = b"eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIxIn0";
    let mut rng = rand::thread_rng();
    for (salt, accepted) in [(32, true), (0, false), (20, false), (64, false)] {
        let signing =
            rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(private.clone(), salt);
        let signature = signing.sign_with_rng(&mut rng, message).to_vec();
        assert_eq!(
            check(Algorithm::PS256, &key, message, &signature),
            accepted,
            "salt of {salt} bytes"
        );
    }
}

#[test]
fn a_zero_padded_modulus_of_2048_bits_still_verifies() {
    let signer = rsa_key("k", Algorithm::RS256, false);
    let n = URL_SAFE_NO_PAD
        .decode(signer.jwk["n"].as_str().unwrap())
        .unwrap();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    let e = signer.jwk["e"].as_str().unwrap();
    let key = from_jwk(&json!({"kty": "RSA", "n": b64(&padded), "e": e}));
    let (message, signature) = signed(Algorithm::RS256, &signer.encoding);
    assert_eq!(verify(Algorithm::RS256, &key, &message, &signature), Ok(()));
}

#[test]
fn hostile_keys_and_signatures_give_errors_never_panics() {
    let n = URL_SAFE_NO_PAD
        .decode(
            rsa_key("k", Algorithm::RS256, false).jwk["n"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let huge_n = vec![0xffu8; 1100];
    let keys: Vec<(Algorithm, DecodingKey)> = vec![
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&[], &[]),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&n, &[]),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&n, &[0; 8]),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&n, &[1]),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&n, &[1; 6]),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_raw_components(&[0; 256], &[1, 0, 1]),
        ),
        (
            Algorithm::PS256,
            DecodingKey::from_rsa_raw_components(&huge_n, &[1, 0, 1]),
        ),
        (Algorithm::RS256, DecodingKey::from_rsa_der(&[])),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_der(&[0x30, 0x82, 0xff, 0xff, 2, 1]),
        ),
        (Algorithm::ES256, DecodingKey::from_ec_der(&[])),
        (Algorithm::ES256, DecodingKey::from_ec_der(&[4; 65])),
        (Algorithm::ES384, DecodingKey::from_ec_der(&[4; 65])),
        (Algorithm::ES384, DecodingKey::from_ec_der(&[2; 49])),
        (Algorithm::EdDSA, DecodingKey::from_ed_der(&[])),
        // RustCrypto's verifier slices the first 32 bytes and would panic here.
        (Algorithm::EdDSA, DecodingKey::from_ed_der(&[1, 2, 3])),
        (Algorithm::EdDSA, DecodingKey::from_ed_der(&[9; 64])),
        (Algorithm::HS256, DecodingKey::from_secret(&[])),
    ];
    let signatures: [&[u8]; 6] = [&[], &[0], &[0; 64], &[0xff; 96], &n, &[0xab; 10_000]];
    for (alg, key) in &keys {
        for signature in signatures {
            assert!(
                !check(*alg, key, b"e30.e30", signature),
                "{alg:?} with a {}-byte signature",
                signature.len()
            );
        }
    }
    // A small-order key with R = identity and S = 0 satisfies the
    // cofactorless equation for any message (ring's Ed25519 accepts it);
    // small-order keys are refused.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut forged = identity.to_vec();
    forged.extend_from_slice(&[0; 32]);
    let weak = DecodingKey::from_ed_der(&identity);
    for message in [&b"e30.e30"[..], b"anything"] {
        assert_eq!(
            verify(Algorithm::EdDSA, &weak, message, &forged),
            Err(VerifyError::Refused)
        );
    }
    // A JWKS holding it skips it.
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&identity)});
    let set = KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    assert!(set.keys.is_empty());
    // RSA components on a key of another family cannot be built through
    // jsonwebtoken, but `verify` still refuses the shape.
    assert_eq!(
        verify(
            Algorithm::RS256,
            &DecodingKey::from_secret(b"k"),
            b"m",
            b"s"
        ),
        Err(VerifyError::KeyFamilyMismatch)
    );
}

#[test]
fn signing_and_key_utils_are_jsonwebtokens_own() {
    let rsa = rsa_key("k", Algorithm::PS256, false);
    for key in [
        rsa,
        p256_key("k"),
        ed_key("k"),
        oct_key("k", Algorithm::HS512),
    ] {
        let signer = (provider().signer_factory)(&key.alg, &key.encoding).unwrap();
        let message = b"header.payload";
        let signature = jsonwebtoken::signature::Signer::try_sign(&*signer, message).unwrap();
        assert_eq!(
            verify(key.alg, &from_jwk(&key.jwk), message, &signature),
            Ok(()),
            "{:?}",
            key.alg
        );
    }
    let digest =
        (provider().key_utils.compute_digest)(b"abc", jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
    assert_eq!(b64(&digest), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

#[test]
fn the_install_outcome_names_the_provider_in_place() {
    assert_eq!(outcome(Ok(())), ProcessProvider::Tollgate);
    assert_eq!(outcome(Err(provider())), ProcessProvider::Tollgate);
    assert_eq!(
        outcome(Err(&rust_crypto::DEFAULT_PROVIDER)),
        ProcessProvider::Other
    );
    // Whatever this test process installed first, asking again gives the
    // same answer and never panics.
    assert_eq!(install(), install());
}
