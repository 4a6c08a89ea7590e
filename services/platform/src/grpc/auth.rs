//! Authentication: EdDSA-signed JWT bearer tokens, turned into a [`Principal`].
//!
//! Only `EdDSA` (Ed25519) is accepted, so `alg: none` and algorithm confusion (an HMAC token
//! "signed" with the public key) fail before any key is touched. Keys are chosen by the token's
//! `kid`; a token without `kid` is accepted only while exactly one key is configured, so key
//! rotation never makes a token ambiguous.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tonic::{Request, Status};

use super::role::{Role, UnknownRole};

/// The largest bearer token accepted, in bytes. Larger tokens are refused before parsing.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The message every authentication failure carries; the reason is logged, never sent.
pub(crate) const UNAUTHENTICATED_MESSAGE: &str = "invalid or missing credentials";

/// The authenticated caller, put in the request extensions by the server layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: who is calling.
    pub subject: String,
    pub role: Role,
    /// The provider the caller acts for; `Some` exactly when [`Role::acts_for_provider`].
    pub provider: Option<String>,
}

/// Returns the authenticated caller of a request.
///
/// # Errors
/// `UNAUTHENTICATED` when the request carries no [`Principal`]: the method is public in the
/// [`AccessPolicy`](super::AccessPolicy) (public methods are never authenticated) or the
/// server layer is not installed.
pub fn principal<T>(request: &Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| {
        tracing::debug!("handler asked for a principal on an unauthenticated request");
        Status::unauthenticated(UNAUTHENTICATED_MESSAGE)
    })
}

/// Why a request was not authenticated. The server layer logs it at info; every variant
/// becomes the same generic `UNAUTHENTICATED` status, so a caller learns nothing about the
/// check that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("no authorization header")]
    Missing,
    #[error("more than one authorization header")]
    Repeated,
    #[error("authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("bearer token is {0} bytes, over the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("token is malformed or fails validation")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("token algorithm {0:?} is not EdDSA")]
    Algorithm(Algorithm),
    #[error("token has no kid and more than one key is configured")]
    MissingKid,
    #[error("token names unknown key id {0:?}")]
    UnknownKid(String),
    #[error("token has an empty subject")]
    EmptySubject,
    #[error(transparent)]
    UnknownRole(#[from] UnknownRole),
    #[error("role {0} acts for a provider but the token has no provider")]
    MissingProvider(Role),
    #[error("role {0} does not act for a provider but the token names one")]
    UnexpectedProvider(Role),
}

impl From<AuthError> for Status {
    fn from(_: AuthError) -> Self {
        Status::unauthenticated(UNAUTHENTICATED_MESSAGE)
    }
}

/// A key that cannot be used, found while building an [`Authenticator`] or a
/// [`TokenIssuer`](super::TokenIssuer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("no public keys configured")]
    NoKeys,
    #[error("key id {0:?} is configured twice")]
    DuplicateKid(String),
    #[error("key {kid:?} is not an Ed25519 key in PEM")]
    InvalidKey {
        kid: String,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    #[error("key {0:?} is not a 32-byte Ed25519 public key")]
    WrongLength(String),
    #[error("failed to generate a key pair")]
    Generate(#[source] anyhow::Error),
}

/// The role-bearing claims; `exp`, `nbf`, `iss` and `aud` are checked by [`Validation`].
#[derive(Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(default)]
    provider: Option<String>,
    /// Read again only to know how long a verified token may be remembered.
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
}

/// How many verified tokens an [`Authenticator`] remembers; past this it forgets them all.
const VERIFIED_CAPACITY: usize = 4096;

/// A token whose signature and claims were verified, with the times that bound its use.
#[derive(Clone, Debug)]
struct Verified {
    principal: Principal,
    exp: u64,
    nbf: Option<u64>,
}

/// Tokens already verified, by their exact bytes. A client sends the same token with every
/// call until it expires, and checking an Ed25519 signature costs far more than the rest of a
/// request's authentication; the same bytes verified with the same keys verify again, so only
/// the times are checked anew. Only tokens that passed every check are remembered.
#[derive(Debug, Default)]
struct VerifiedTokens(Mutex<HashMap<Box<[u8]>, Verified>>);

impl VerifiedTokens {
    fn get(&self, token: &[u8], now: u64, leeway: u64) -> Option<Principal> {
        let tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let verified = tokens.get(token)?;
        let live = verified.exp.saturating_add(leeway) >= now
            && verified
                .nbf
                .is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        live.then(|| verified.principal.clone())
    }

    fn insert(&self, token: &[u8], verified: Verified) {
        let mut tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() >= VERIFIED_CAPACITY {
            tokens.clear();
        }
        tokens.insert(token.into(), verified);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies bearer tokens: EdDSA only, `kid`-selected key, `exp` required, `nbf` honoured,
/// `iss` and `aud` required and matched, within a small clock leeway.
#[derive(Clone)]
pub struct Authenticator {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Authenticator")
            .field("kids", &kids)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_seconds", &self.validation.leeway)
            .finish()
    }
}

impl Authenticator {
    /// The clock leeway applied to `exp` and `nbf` unless [`Self::with_leeway`] says otherwise.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

    /// Builds an authenticator trusting `public_keys`: `(kid, Ed25519 public key PEM)` pairs.
    ///
    /// # Errors
    /// [`KeyError`] when no key is given, a `kid` repeats, or a key is not an Ed25519 public key.
    pub fn new<K, P>(
        issuer: &str,
        audience: &str,
        public_keys: impl IntoIterator<Item = (K, P)>,
    ) -> Result<Self, KeyError>
    where
        K: Into<String>,
        P: AsRef<[u8]>,
    {
        let mut keys = HashMap::new();
        for (kid, pem) in public_keys {
            let kid = kid.into();
            let key =
                DecodingKey::from_ed_pem(pem.as_ref()).map_err(|source| KeyError::InvalidKey {
                    kid: kid.clone(),
                    source,
                })?;
            if key.try_get_as_bytes().map(<[u8]>::len).ok() != Some(32) {
                return Err(KeyError::WrongLength(kid));
            }
            if keys.contains_key(&kid) {
                return Err(KeyError::DuplicateKid(kid));
            }
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = Self::DEFAULT_LEEWAY.as_secs();
        Ok(Self {
            keys,
            validation,
            verified: Arc::default(),
        })
    }

    /// Replaces the clock leeway (default [`Self::DEFAULT_LEEWAY`]); whole seconds count.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// Authenticates the `authorization: Bearer <token>` header of a request.
    ///
    /// # Errors
    /// An [`AuthError`] naming the first check that failed; convert it into the generic
    /// `UNAUTHENTICATED` status with `Status::from`.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, AuthError> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let header = values.next().ok_or(AuthError::Missing)?;
        if values.next().is_some() {
            return Err(AuthError::Repeated);
        }
        if header.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
            return Err(AuthError::TooLarge(header.len()));
        }
        let token = header
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .filter(|token| !token.is_empty() && !token.contains(&b' '))
            .ok_or(AuthError::NotBearer)?;
        self.verify(token)
    }

    /// Verifies a bare token (no `Bearer ` prefix).
    ///
    /// # Errors
    /// As [`Self::authenticate`].
    pub fn verify(&self, token: &[u8]) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        let now = unix_now();
        if let Some(principal) = self.verified.get(token, now, self.validation.leeway) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Algorithm(header.alg));
        }
        let key = match header.kid {
            Some(kid) => self.keys.get(&kid).ok_or(AuthError::UnknownKid(kid))?,
            None => match (self.keys.len(), self.keys.values().next()) {
                (1, Some(only)) => only,
                _ => return Err(AuthError::MissingKid),
            },
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(AuthError::Invalid)?
            .claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::EmptySubject);
        }
        let role: Role = claims.role.parse()?;
        let provider = claims
            .provider
            .filter(|provider| !provider.trim().is_empty());
        match (role.acts_for_provider(), &provider) {
            (true, None) => return Err(AuthError::MissingProvider(role)),
            (false, Some(_)) => return Err(AuthError::UnexpectedProvider(role)),
            _ => {}
        }
        let principal = Principal {
            subject: claims.sub,
            role,
            provider,
        };
        if let Some(exp) = claims.exp.as_ref().and_then(serde_json::Value::as_u64) {
            let nbf = match &claims.nbf {
                None => Some(None),
                Some(nbf) => nbf.as_u64().map(Some),
            };
            if let Some(nbf) = nbf {
                self.verified.insert(
                    token,
                    Verified {
                        principal: principal.clone(),
                        exp,
                        nbf,
                    },
                );
            }
        }
        Ok(principal)
    }
}
