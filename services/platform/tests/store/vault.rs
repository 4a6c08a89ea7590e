use platform::vault::{Vault, VaultError};
use uuid::Uuid;

use crate::helpers::store;

async fn vault() -> (crate::helpers::Store, Vault) {
    let s = store().await;
    let vault = Vault::new(s.store.pool().clone(), &Vault::generate_master_key());
    (s, vault)
}

#[tokio::test]
async fn a_sealed_record_opens_to_its_plaintext_and_is_not_stored_in_the_clear() {
    let (s, vault) = vault().await;
    let subject = Uuid::now_v7();

    let record = vault
        .put(
            subject,
            "contact",
            "Jane Head, jane@school.example".as_bytes(),
        )
        .await
        .unwrap();

    let opened = vault.get(record).await.unwrap();
    assert_eq!(opened.plaintext, b"Jane Head, jane@school.example");
    assert_eq!(
        (opened.subject_id, opened.kind.as_str()),
        (subject, "contact")
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM vault_records")
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("Jane"));
    assert!(
        !format!("{opened:?}").contains("Jane"),
        "Debug must not print personal data"
    );
}

#[tokio::test]
async fn erasing_a_subject_makes_every_record_about_them_unreadable_and_leaves_others() {
    let (_s, vault) = vault().await;
    let (erased, kept) = (Uuid::now_v7(), Uuid::now_v7());
    let gone = [
        vault.put(erased, "contact", b"a").await.unwrap(),
        vault.put(erased, "narrative", b"b").await.unwrap(),
    ];
    let other = vault.put(kept, "contact", b"c").await.unwrap();

    let count = vault.erase_subject(erased).await.unwrap();
    let again = vault.erase_subject(erased).await.unwrap();

    assert_eq!((count, again), (2, 2));
    for record in gone {
        assert!(matches!(vault.get(record).await, Err(VaultError::Erased)));
    }
    assert_eq!(vault.get(other).await.unwrap().plaintext, b"c");
    assert!(
        matches!(
            vault.put(erased, "contact", b"new").await,
            Err(VaultError::Erased)
        ),
        "no new data about an erased subject"
    );
}

#[tokio::test]
async fn a_vault_with_another_master_key_cannot_open_records() {
    let (s, vault) = vault().await;
    let record = vault
        .put(Uuid::now_v7(), "contact", b"secret")
        .await
        .unwrap();
    let stranger = Vault::new(s.store.pool().clone(), &Vault::generate_master_key());

    let result = stranger.get(record).await;

    assert!(matches!(result, Err(VaultError::Integrity)), "{result:?}");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_record_fails_authentication() {
    let (s, vault) = vault().await;
    let subject = Uuid::now_v7();
    let a = vault.put(subject, "contact", b"first").await.unwrap();
    let b = vault.put(subject, "contact", b"second").await.unwrap();
    sqlx::query("UPDATE vault_records SET ciphertext = (SELECT ciphertext FROM vault_records WHERE record_id = $1), nonce = (SELECT nonce FROM vault_records WHERE record_id = $1) WHERE record_id = $2")
        .bind(a)
        .bind(b)
        .execute(s.store.pool())
        .await
        .unwrap();

    assert!(matches!(vault.get(b).await, Err(VaultError::Integrity)));
}

#[tokio::test]
async fn an_unknown_record_is_not_found() {
    let (_s, vault) = vault().await;

    assert!(matches!(
        vault.get(Uuid::now_v7()).await,
        Err(VaultError::NotFound)
    ));
}

#[test]
fn master_keys_must_be_32_bytes_of_hex() {
    assert!(Vault::parse_master_key(&"ab".repeat(32)).is_ok());
    assert!(Vault::parse_master_key(&"ab".repeat(31)).is_err());
    assert!(Vault::parse_master_key(&"zz".repeat(32)).is_err());
    assert!(Vault::parse_master_key("").is_err());
}
