//! Issuing tokens: the development `redress token issue` command and tests sign with a
//! [`TokenIssuer`]; production tokens come from the identity provider, verified by the same
//! [`Authenticator`](super::Authenticator).

use std::fmt;
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::auth::KeyError;
use super::role::Role;

/// PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410 §7), up to the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// `SubjectPublicKeyInfo` for Ed25519 (RFC 8410 §4), up to the 32-byte public key.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("role {0} acts for a provider, so a provider is required")]
    MissingProvider(Role),
    #[error("role {0} does not act for a provider, so no provider may be given")]
    UnexpectedProvider(Role),
    #[error("subject is empty")]
    EmptySubject,
    #[error("failed to sign the token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// Signs EdDSA tokens that an [`Authenticator`](super::Authenticator) holding the matching
/// public key under the same `kid` accepts.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// Builds an issuer from an Ed25519 private key in PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] when the PEM is not an Ed25519 private key.
    pub fn new(
        private_pem: &SecretString,
        kid: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let invalid = |source| KeyError::InvalidKey {
            kid: kid.to_owned(),
            source,
        };
        let key =
            EncodingKey::from_ed_pem(private_pem.expose_secret().as_bytes()).map_err(invalid)?;
        // Signing is where a malformed key would surface; find out now instead.
        jsonwebtoken::crypto::sign(b"probe", &key, Algorithm::EdDSA).map_err(invalid)?;
        Ok(Self {
            key,
            kid: kid.to_owned(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Issues a token for `subject` acting as `role`, valid from now for `ttl`.
    ///
    /// # Errors
    /// [`TokenError`] when the subject is empty, the provider does not fit the role (required
    /// exactly when [`Role::acts_for_provider`]), or signing fails.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        provider: Option<&str>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        if subject.trim().is_empty() {
            return Err(TokenError::EmptySubject);
        }
        let provider = provider.filter(|provider| !provider.trim().is_empty());
        match (role.acts_for_provider(), provider) {
            (true, None) => return Err(TokenError::MissingProvider(role)),
            (false, Some(_)) => return Err(TokenError::UnexpectedProvider(role)),
            _ => {}
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = IssuedClaims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: subject,
            role,
            provider,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl.as_secs()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(TokenError::Sign)
    }
}

/// Generates a fresh Ed25519 key pair for development and tests, as
/// `(private key PKCS#8 PEM, public key SPKI PEM)`.
///
/// The seed comes from the operating system's random source; the public key is derived by
/// `jsonwebtoken`'s own crypto backend, so no extra dependency is needed.
///
/// # Errors
/// [`KeyError::Generate`] when the operating system's random source fails.
pub fn generate_dev_keypair() -> Result<(SecretString, String), KeyError> {
    use rand::TryRngCore as _;

    let mut der = Vec::with_capacity(48);
    der.extend_from_slice(&PKCS8_ED25519_PREFIX);
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|error| KeyError::Generate(error.into()))?;
    der.extend_from_slice(&seed);

    let derive = |source: jsonwebtoken::errors::Error| KeyError::Generate(source.into());
    let jwk = Jwk::from_encoding_key(&EncodingKey::from_ed_der(&der), Algorithm::EdDSA)
        .map_err(derive)?;
    let public = DecodingKey::from_jwk(&jwk).map_err(derive)?;
    let public = public.try_get_as_bytes().map_err(derive)?;
    let mut spki = Vec::with_capacity(44);
    spki.extend_from_slice(&SPKI_ED25519_PREFIX);
    spki.extend_from_slice(public);

    Ok((
        SecretString::from(pem("PRIVATE KEY", &der)),
        pem("PUBLIC KEY", &spki),
    ))
}

/// RFC 7468 textual encoding: standard padded base64 in 64-character lines.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(der.len().div_ceil(3) * 4);
    // `chunks(3)` never yields an empty slice, so `chunk[0]` exists.
    for chunk in der.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let bits = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(char::from(
                    ALPHABET[((bits >> (18 - 6 * i)) & 0x3f) as usize],
                ));
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    // `encoded` is ASCII, so every 64-byte chunk is valid UTF-8.
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
