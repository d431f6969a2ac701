//! OAuth 2.0 for Okta: the `private_key_jwt` client assertion (RFC 7523, signed here with the
//! configured RSA or P-256 key) and the access token it buys at `{org}/oauth2/v1/token`.
//!
//! Nothing in this module ever formats a key, an assertion or an access token into a message.

use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::rand_core::{OsRng, RngCore};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion: Okta accepts up to an hour; a short one is worth less if it leaks.
pub const ASSERTION_LIFETIME: i64 = 300;
const MIN_RSA_BITS: usize = 2048;
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The key that signs client assertions.
pub enum SigningKey {
    Rs256(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    Es256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.alg())
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 (RSA or P-256), PKCS#1 (RSA) or SEC1 (P-256). Errors
    /// describe the file, never its content.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let label = pem
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or("not a PEM file (no -----BEGIN line)")?;
        let rsa = |key: rsa::RsaPrivateKey| -> Result<SigningKey, String> {
            if key.size() * 8 < MIN_RSA_BITS {
                return Err(format!(
                    "the RSA key has {} bits; Okta needs at least {MIN_RSA_BITS}",
                    key.size() * 8
                ));
            }
            Ok(SigningKey::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(
                key,
            ))))
        };
        match label {
            "PRIVATE KEY" => {
                if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
                    return rsa(key);
                }
                p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .map(SigningKey::Es256)
                    .map_err(|_| {
                        "a PKCS#8 key that is neither RSA nor EC P-256 (Okta service apps take RS256 or ES256 here)".to_string()
                    })
            }
            "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|e| format!("not a valid PKCS#1 RSA private key: {e}"))
                .and_then(rsa),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_pem(pem)
                .map(|k| SigningKey::Es256(k.into()))
                .map_err(|_| "not a valid SEC1 EC P-256 private key".to_string()),
            "ENCRYPTED PRIVATE KEY" => Err(
                "the private key is encrypted; store it unencrypted in a root-only file (chmod 600)"
                    .into(),
            ),
            other => Err(format!(
                "a PEM \"{}\", not a private key",
                crate::scim::printable(other)
            )),
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rs256(_) => "RS256",
            SigningKey::Es256(_) => "ES256",
        }
    }

    /// The JWS signature of `input` (RFC 7518 §3.3 and §3.4: ES256 is `r || s`, 64 bytes).
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            SigningKey::Rs256(key) => key
                .try_sign_with_rng(&mut OsRng, input)
                .map(|s| s.to_vec())
                .map_err(|e| format!("cannot sign the client assertion: {e}")),
            SigningKey::Es256(key) => {
                let signature: p256::ecdsa::Signature = key
                    .try_sign(input)
                    .map_err(|e| format!("cannot sign the client assertion: {e}"))?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }
}

/// A unique `jti`: 128 random bits, hex.
pub fn random_jti() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("no randomness for the client assertion: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The client assertion JWT for Okta's token endpoint: `iss` = `sub` = the client id, `aud` = the
/// token endpoint's full URL, `iat` now, `exp` five minutes later, a fresh `jti`.
pub fn client_assertion(
    key: &SigningKey,
    key_id: Option<&str>,
    client_id: &str,
    audience: &str,
    now: i64,
    jti: &str,
) -> Result<String, String> {
    let mut header = json!({"alg": key.alg(), "typ": "JWT"});
    if let (Some(kid), Some(object)) = (key_id, header.as_object_mut()) {
        object.insert("kid".into(), Value::String(kid.to_string()));
    }
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": jti,
    });
    let signing_input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
    );
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        Base64UrlUnpadded::encode_string(&signature)
    ))
}

/// An access token and when to stop using it.
pub struct AccessToken {
    value: String,
    refresh_at: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

impl AccessToken {
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Still good for a request now: not within the refresh margin of its expiry.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

/// How long before expiry a token is replaced: a tenth of its life, at most a minute.
pub fn refresh_margin(expires_in: Duration) -> Duration {
    (expires_in / 10).min(Duration::from_secs(60))
}

/// The access token from a successful token response (RFC 6749 §5.1). Okta's lifetime is one hour;
/// a response without `expires_in` is trusted for five minutes.
pub fn parse_token_response(body: &Value, received: Instant) -> Result<AccessToken, String> {
    let token_type = body.get("token_type").and_then(Value::as_str).unwrap_or("");
    if token_type.eq_ignore_ascii_case("DPoP") {
        return Err("Okta issued a DPoP-bound token, which Usher cannot use: in the app's General Settings, turn off \"Require Demonstrating Proof of Possession (DPoP) header in token requests\"".into());
    }
    if !token_type.eq_ignore_ascii_case("Bearer") {
        return Err(format!(
            "the token response has token_type {:?}, not Bearer",
            crate::scim::printable(token_type)
        ));
    }
    let value = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or("the token response has no usable access_token")?;
    let expires_in = Duration::from_secs(
        body.get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300)
            .clamp(1, 24 * 3600),
    );
    Ok(AccessToken {
        value: value.to_string(),
        refresh_at: received + expires_in - refresh_margin(expires_in),
    })
}

/// What the token endpoint said when it refused (RFC 6749 §5.2), with what to do about it.
pub fn describe_token_error(status: u16, body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |k: &str| {
        parsed
            .get(k)
            .and_then(Value::as_str)
            .map(super::server_text)
    };
    let error = field("error").unwrap_or_else(|| "no error code".into());
    let description = field("error_description").unwrap_or_default();
    let hint = match error.as_str() {
        "invalid_client" => "; check client_id, the public key registered for the app (and key_id), that the app uses \"Public key / Private key\" authentication, and this host's clock",
        "invalid_scope" => "; grant the scopes (okta.users.read, okta.groups.read) on the app's \"Okta API Scopes\" tab",
        "invalid_dpop_proof" | "use_dpop_nonce" => "; Usher does not send DPoP proofs: turn off \"Require Demonstrating Proof of Possession (DPoP) header in token requests\" for the app",
        "unauthorized_client" => "; the app must allow the Client Credentials grant",
        _ => "",
    };
    format!(
        "Okta's token endpoint refused the request (HTTP {status} {error}: {description}){hint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;

    const RSA_PKCS8: &str = include_str!("testdata/rsa-pkcs8.pem");
    const RSA_PKCS1: &str = include_str!("testdata/rsa-pkcs1.pem");
    const P256_PKCS8: &str = include_str!("testdata/p256-pkcs8.pem");
    const P256_SEC1: &str = include_str!("testdata/p256-sec1.pem");
    const AUD: &str = "https://example.okta.com/oauth2/v1/token";

    fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
        let pieces: Vec<&str> = jwt.split('.').collect();
        assert_eq!(pieces.len(), 3, "{jwt}");
        let decode = |s: &str| Base64UrlUnpadded::decode_vec(s).unwrap();
        (
            serde_json::from_slice(&decode(pieces[0])).unwrap(),
            serde_json::from_slice(&decode(pieces[1])).unwrap(),
            decode(pieces[2]),
            format!("{}.{}", pieces[0], pieces[1]),
        )
    }

    fn check_claims(claims: &Value) {
        assert_eq!(claims["iss"], "0oaclient");
        assert_eq!(claims["sub"], "0oaclient");
        assert_eq!(claims["aud"], AUD);
        assert_eq!(claims["iat"], 1_700_000_000);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime <= 300, "{lifetime}");
        assert_eq!(claims["jti"], "j1");
    }

    #[test]
    fn rs256_assertion_verifies_with_the_public_key() {
        for pem in [RSA_PKCS8, RSA_PKCS1] {
            let key = SigningKey::from_pem(pem).unwrap();
            assert_eq!(key.alg(), "RS256");
            let jwt = client_assertion(&key, Some("kid-1"), "0oaclient", AUD, 1_700_000_000, "j1")
                .unwrap();
            let (header, claims, signature, signing_input) = parts(&jwt);
            assert_eq!(
                header,
                json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
            );
            check_claims(&claims);
            let private = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_PKCS8).unwrap();
            let verifying =
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(private.to_public_key());
            let sig = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
            use rsa::signature::Verifier as _;
            verifying.verify(signing_input.as_bytes(), &sig).unwrap();
            let mut forged = signing_input.clone();
            forged.push('x');
            assert!(verifying.verify(forged.as_bytes(), &sig).is_err());
        }
    }

    #[test]
    fn es256_assertion_verifies_with_the_public_key() {
        let public_pem = {
            let secret = p256::SecretKey::from_pkcs8_pem(P256_PKCS8).unwrap();
            use p256::pkcs8::EncodePublicKey;
            secret
                .public_key()
                .to_public_key_pem(p256::pkcs8::LineEnding::LF)
                .unwrap()
        };
        let verifying = p256::ecdsa::VerifyingKey::from_public_key_pem(&public_pem).unwrap();
        for pem in [P256_PKCS8, P256_SEC1] {
            let key = SigningKey::from_pem(pem).unwrap();
            assert_eq!(key.alg(), "ES256");
            let jwt = client_assertion(&key, None, "0oaclient", AUD, 1_700_000_000, "j1").unwrap();
            let (header, claims, signature, signing_input) = parts(&jwt);
            assert_eq!(header, json!({"alg": "ES256", "typ": "JWT"}));
            check_claims(&claims);
            assert_eq!(signature.len(), 64, "JWS ES256 is r || s");
            let sig = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            verifying.verify(signing_input.as_bytes(), &sig).unwrap();
        }
    }

    #[test]
    fn other_keys_are_refused_without_showing_them() {
        for (pem, want) in [
            (include_str!("testdata/p384-pkcs8.pem"), "neither RSA nor EC P-256"),
            (include_str!("testdata/ed25519-pkcs8.pem"), "neither RSA nor EC P-256"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
            ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a private key"),
            ("just some text", "not a PEM file"),
            ("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "not a valid PKCS#1"),
        ] {
            let err = SigningKey::from_pem(pem).unwrap_err();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("AAAA") && !err.contains("MII"), "{err}");
        }
        let debug = format!("{:?}", SigningKey::from_pem(RSA_PKCS8).unwrap());
        assert_eq!(debug, "SigningKey(RS256, <redacted>)");
    }

    #[test]
    fn jtis_are_unique() {
        let a = random_jti().unwrap();
        let b = random_jti().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn token_responses() {
        let now = Instant::now();
        let token = parse_token_response(
            &json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "eyJ.a.b", "scope": "okta.users.read"}),
            now,
        )
        .unwrap();
        assert_eq!(token.expose(), "eyJ.a.b");
        assert!(token.is_fresh());
        assert_eq!(token.refresh_at - now, Duration::from_secs(3540));
        assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
        let short = parse_token_response(
            &json!({"token_type": "Bearer", "expires_in": 2, "access_token": "t"}),
            now,
        )
        .unwrap();
        assert_eq!(short.refresh_at - now, Duration::from_millis(1800));
        let err = parse_token_response(
            &json!({"token_type": "DPoP", "expires_in": 3600, "access_token": "t"}),
            now,
        )
        .unwrap_err();
        assert!(err.contains("DPoP"), "{err}");
        assert!(parse_token_response(&json!({"token_type": "Bearer"}), now).is_err());
        assert!(
            parse_token_response(&json!({"token_type": "Bearer", "access_token": "a b"}), now)
                .is_err()
        );
    }

    #[test]
    fn token_errors_say_what_to_do() {
        let e = describe_token_error(
            401,
            br#"{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}"#,
        );
        assert!(
            e.contains("HTTP 401 invalid_client: The client_assertion signature is invalid."),
            "{e}"
        );
        assert!(e.contains("public key registered"), "{e}");
        let e = describe_token_error(400, br#"{"error":"invalid_scope","error_description":"x"}"#);
        assert!(e.contains("Okta API Scopes"), "{e}");
        let e = describe_token_error(502, b"<html>");
        assert!(e.contains("HTTP 502 no error code"), "{e}");
    }
}
