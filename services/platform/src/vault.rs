//! The personal-data vault: per-subject encrypted records that can be erased by destroying the
//! subject's key (crypto-shredding), while the event log that refers to them stays intact.
//!
//! Events never carry names, contact details, narratives or wellbeing information; they carry a
//! record id from here. Records are sealed with XChaCha20-Poly1305 under the subject's key, with
//! the record id and kind as associated data so a ciphertext cannot be moved to another record.
//! Subject keys are stored wrapped under the master key, which is configuration, not data.
//!
//! What the vault holds about a subject (record ids, kinds, dates, whether erased) and the erasure
//! itself need no master key: [`subject_entry`], [`subjects_among`] and [`erase_within`] run in a
//! caller's transaction, so an erasure commits together with the event that records it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use jiff::Timestamp;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::pg::{PgTimestamp, Pool};

/// Bytes in a master or subject key.
pub const KEY_LEN: usize = 32;

/// Why the vault could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The subject was erased: the record exists but can never be read.
    #[error("the data subject was erased")]
    Erased,
    #[error("no such record")]
    NotFound,
    /// The master key is not the one the data was sealed with, or the data was tampered with.
    #[error("a vault key or record failed authentication")]
    Integrity,
    #[error("the master key must be {KEY_LEN} bytes, hex encoded")]
    BadMasterKey,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A decrypted record.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub record_id: Uuid,
    pub subject_id: Uuid,
    pub kind: String,
    pub plaintext: Vec<u8>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("record_id", &self.record_id)
            .field("subject_id", &self.subject_id)
            .field("kind", &self.kind)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// A service's vault, in its schema.
pub struct Vault {
    pool: Pool,
    master: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault whose subject keys are wrapped under `master`.
    pub fn new(pool: Pool, master: &SecretBox<[u8; KEY_LEN]>) -> Self {
        let master = XChaCha20Poly1305::new(&Key::from(*master.expose_secret()));
        Vault { pool, master }
    }

    /// Parses a hex-encoded master key (64 hex digits), as given in `REDRESS_VAULT_KEY`.
    ///
    /// # Errors
    /// [`VaultError::BadMasterKey`] when it is not 32 bytes of hex.
    pub fn parse_master_key(hex: &str) -> Result<SecretBox<[u8; KEY_LEN]>, VaultError> {
        let hex = hex.trim();
        if hex.len() != KEY_LEN * 2 {
            return Err(VaultError::BadMasterKey);
        }
        let mut key = Box::new([0u8; KEY_LEN]);
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| VaultError::BadMasterKey)?;
        }
        Ok(SecretBox::new(key))
    }

    /// A fresh random master key, for development and tests.
    pub fn generate_master_key() -> SecretBox<[u8; KEY_LEN]> {
        let mut key = Box::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(key.as_mut_slice());
        SecretBox::new(key)
    }

    /// Seals `plaintext` for `subject_id` (creating the subject's key on first use) and returns
    /// the record id events refer to.
    ///
    /// # Errors
    /// [`VaultError::Erased`] when the subject was erased (no new data about them is kept);
    /// database errors.
    pub async fn put(
        &self,
        subject_id: Uuid,
        kind: &str,
        plaintext: &[u8],
    ) -> Result<Uuid, VaultError> {
        let subject_key = self.subject_key(subject_id, true).await?;
        let record_id = Uuid::now_v7();
        let nonce = random_nonce();
        let cipher = XChaCha20Poly1305::new(&Key::from(*subject_key.expose_secret()));
        let aad = record_aad(record_id, kind);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Integrity)?;
        sqlx::query(
            "INSERT INTO vault_records (record_id, subject_id, kind, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record_id)
        .bind(subject_id)
        .bind(kind)
        .bind(nonce.as_slice())
        .bind(&ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(record_id)
    }

    /// Opens a record.
    ///
    /// # Errors
    /// [`VaultError::NotFound`], [`VaultError::Erased`], [`VaultError::Integrity`].
    pub async fn get(&self, record_id: Uuid) -> Result<Record, VaultError> {
        let row: Option<(Uuid, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT subject_id, kind, nonce, ciphertext FROM vault_records WHERE record_id = $1",
        )
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?;
        let (subject_id, kind, nonce, ciphertext) = row.ok_or(VaultError::NotFound)?;
        let subject_key = self.subject_key(subject_id, false).await?;
        let cipher = XChaCha20Poly1305::new(&Key::from(*subject_key.expose_secret()));
        let aad = record_aad(record_id, &kind);
        let nonce = nonce_from(&nonce)?;
        let plaintext = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Integrity)?;
        Ok(Record {
            record_id,
            subject_id,
            kind,
            plaintext,
        })
    }

    /// Erases a data subject: destroys their key so every record about them becomes unreadable.
    /// Idempotent. Returns how many records were made unreadable.
    ///
    /// # Errors
    /// Database errors.
    pub async fn erase_subject(&self, subject_id: Uuid) -> Result<u64, VaultError> {
        let mut tx = self.pool.begin().await?;
        let records = erase_within(&mut tx, subject_id).await?;
        tx.commit().await?;
        Ok(records)
    }

    async fn subject_key(
        &self,
        subject_id: Uuid,
        create: bool,
    ) -> Result<SecretBox<[u8; KEY_LEN]>, VaultError> {
        if create {
            let mut fresh = [0u8; KEY_LEN];
            rand::rng().fill_bytes(&mut fresh);
            let nonce = random_nonce();
            let wrapped = self
                .master
                .encrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &fresh,
                        aad: subject_id.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Integrity)?;
            fresh.fill(0);
            let stored = [nonce.as_slice(), &wrapped].concat();
            sqlx::query("INSERT INTO vault_subjects (subject_id, wrapped_key) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(subject_id)
                .bind(&stored)
                .execute(&self.pool)
                .await?;
        }
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT wrapped_key FROM vault_subjects WHERE subject_id = $1")
                .bind(subject_id)
                .fetch_optional(&self.pool)
                .await?;
        let wrapped = match row {
            None => return Err(VaultError::NotFound),
            Some((None,)) => return Err(VaultError::Erased),
            Some((Some(wrapped),)) => wrapped,
        };
        let (nonce, sealed) = wrapped
            .split_at_checked(NONCE_LEN)
            .ok_or(VaultError::Integrity)?;
        let mut key = self
            .master
            .decrypt(
                &nonce_from(nonce)?,
                Payload {
                    msg: sealed,
                    aad: subject_id.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Integrity)?;
        let mut out = Box::new([0u8; KEY_LEN]);
        if key.len() != KEY_LEN {
            return Err(VaultError::Integrity);
        }
        out.copy_from_slice(&key);
        key.fill(0);
        Ok(SecretBox::new(out))
    }
}

/// What the vault holds about a subject, without opening anything: readable without the master
/// key, for operators looking a subject up before an erasure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectEntry {
    pub subject_id: Uuid,
    pub created_at: Timestamp,
    /// When the subject's key was destroyed; `None` while their records can be read.
    pub erased_at: Option<Timestamp>,
    /// Oldest first.
    pub records: Vec<RecordEntry>,
}

/// One record of a [`SubjectEntry`]: its id, kind and age, never its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordEntry {
    pub record_id: Uuid,
    pub kind: String,
    pub created_at: Timestamp,
}

/// The vault's entry for `subject_id` as `conn`'s transaction sees it, or `None` when the vault
/// never held anything about them. With `lock`, the subject's row stays locked until the
/// transaction ends, so an erasure and what it records about the subject agree.
///
/// # Errors
/// Database errors.
pub async fn subject_entry(
    conn: &mut PgConnection,
    subject_id: Uuid,
    lock: bool,
) -> Result<Option<SubjectEntry>, VaultError> {
    let sql = if lock {
        "SELECT created_at, erased_at FROM vault_subjects WHERE subject_id = $1 FOR UPDATE"
    } else {
        "SELECT created_at, erased_at FROM vault_subjects WHERE subject_id = $1"
    };
    let row: Option<(PgTimestamp, Option<PgTimestamp>)> = sqlx::query_as(sql)
        .bind(subject_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((created_at, erased_at)) = row else {
        return Ok(None);
    };
    let records: Vec<(Uuid, String, PgTimestamp)> = sqlx::query_as(
        "SELECT record_id, kind, created_at FROM vault_records WHERE subject_id = $1
         ORDER BY created_at, record_id",
    )
    .bind(subject_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(SubjectEntry {
        subject_id,
        created_at: created_at.0,
        erased_at: erased_at.map(|at| at.0),
        records: records
            .into_iter()
            .map(|(record_id, kind, created_at)| RecordEntry {
                record_id,
                kind,
                created_at: created_at.0,
            })
            .collect(),
    }))
}

/// The subjects `ids` lead to: those among them, and those of the records among them. In id
/// order, each once.
///
/// # Errors
/// Database errors.
pub async fn subjects_among(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, VaultError> {
    Ok(sqlx::query_scalar(
        "SELECT subject_id FROM vault_subjects WHERE subject_id = ANY($1)
         UNION SELECT subject_id FROM vault_records WHERE record_id = ANY($1)
         ORDER BY 1",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// [`Vault::erase_subject`] in `conn`'s transaction, so the erasure commits together with what
/// records it. Needs no master key.
///
/// # Errors
/// Database errors.
pub async fn erase_within(conn: &mut PgConnection, subject_id: Uuid) -> Result<u64, VaultError> {
    sqlx::query(
        "INSERT INTO vault_subjects (subject_id, wrapped_key, erased_at) VALUES ($1, NULL, now())
         ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL, erased_at = coalesce(vault_subjects.erased_at, now())",
    )
    .bind(subject_id)
    .execute(&mut *conn)
    .await?;
    let records: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vault_records WHERE subject_id = $1")
            .bind(subject_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(records.unsigned_abs())
}

const NONCE_LEN: usize = 24;

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

fn nonce_from(bytes: &[u8]) -> Result<XNonce, VaultError> {
    if bytes.len() == NONCE_LEN {
        Ok(XNonce::from(
            <[u8; NONCE_LEN]>::try_from(bytes).map_err(|_| VaultError::Integrity)?,
        ))
    } else {
        Err(VaultError::Integrity)
    }
}

fn record_aad(record_id: Uuid, kind: &str) -> Vec<u8> {
    [record_id.as_bytes().as_slice(), kind.as_bytes()].concat()
}
