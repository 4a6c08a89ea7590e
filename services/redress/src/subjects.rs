//! `redress subjects find|show|forget`: the data subjects whose personal data the vaults hold.
//!
//! An operator with an erasure request knows the case (a complaint, an inspection), not the
//! subject: `find` reads the case's streams in every service's log, takes every UUID their
//! payloads carry (record references such as `complainant_ref` or `vault:<id>`, and the stream
//! id itself, under which an inspection's records are kept) and asks every service's vault which
//! subjects those lead to. `show` lists one subject's records — ids, kinds, dates, never content —
//! and their erasure. `forget` is [`complaints::erasure::forget`]: the complaints vault is the
//! only one any service writes records to; a subject another service's vault holds records of is
//! refused, since that service cannot record an erasure.

use std::io::Write;

use anyhow::Context as _;
use complaints::erasure::{self, Forget, Outcome, Record};
use platform::event_store::EventStore;
use platform::pg::Pool;
use platform::vault::{self, SubjectEntry};
use serde::Serialize;
use uuid::Uuid;

use crate::cli::{SubjectsFindArgs, SubjectsForgetArgs, SubjectsShowArgs};
use crate::payload;
use crate::services::Service;

/// A subject in one service's vault, as `find` and `show` print it.
#[derive(Debug, Serialize)]
pub struct SubjectReport {
    pub service: &'static str,
    pub subject_id: Uuid,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When the subject's key was destroyed; `null` while the records can be read.
    pub erased_at: Option<String>,
    pub records: Vec<RecordReport>,
    /// The recorded erasure, once forgotten.
    pub erasure: Option<ErasureReport>,
}

#[derive(Debug, Serialize)]
pub struct RecordReport {
    pub record_id: Uuid,
    pub kind: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct ErasureReport {
    pub forgotten_at: String,
    /// `subject-request`, `retention-ended`, `unlawfully-held`, `legal-obligation`; `unknown`
    /// for a ground this build does not know.
    pub ground: String,
    pub request_ref: String,
    pub requested_by_ref: String,
    /// How many records the erasure made unreadable.
    pub records: usize,
}

/// Prints the subjects the stream's events refer to.
///
/// # Errors
/// When no log has the stream, and database errors.
pub async fn find(args: &SubjectsFindArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let descriptors = payload::descriptor_pool()?;
    let mut ids = vec![args.stream_id];
    let mut found_stream = false;
    for service in Service::ALL {
        let pool = connect(&args.output.database.database_url, service).await?;
        let events = EventStore::new(pool.clone())
            .read_stream(args.stream_id, 0)
            .await
            .with_context(|| format!("Failed to read the {} log", service.name()))?;
        pool.close().await;
        found_stream |= !events.is_empty();
        for event in events {
            // A payload this build cannot decode carries nothing it could find.
            if let Ok(message) = payload::decode(&descriptors, &event.event_type, &event.payload) {
                let json = serde_json::to_value(&message).context("Failed to read a payload")?;
                collect_ids(&json, &mut ids);
            }
        }
    }
    anyhow::ensure!(
        found_stream,
        "no stream {} in any service's log",
        args.stream_id
    );
    ids.sort_unstable();
    ids.dedup();
    let mut reports = Vec::new();
    for service in Service::ALL {
        let pool = connect(&args.output.database.database_url, service).await?;
        let mut conn = pool.acquire().await.context("Failed to connect")?;
        let subjects = vault::subjects_among(&mut conn, &ids)
            .await
            .with_context(|| format!("Failed to read the {} vault", service.name()))?;
        drop(conn);
        for subject_id in subjects {
            reports.extend(report(&pool, service, subject_id).await?);
        }
        pool.close().await;
    }
    if args.output.json {
        write_json(out, &reports)
    } else if reports.is_empty() {
        writeln!(
            out,
            "stream {} refers to no data subject in any vault",
            args.stream_id
        )
        .context("Failed to write the report")
    } else {
        write_text(out, &reports)
    }
}

/// Prints what every service's vault holds about the subject.
///
/// # Errors
/// When no vault knows the subject, and database errors.
pub async fn show(args: &SubjectsShowArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    for service in Service::ALL {
        let pool = connect(&args.output.database.database_url, service).await?;
        reports.extend(report(&pool, service, args.subject_id).await?);
        pool.close().await;
    }
    anyhow::ensure!(
        !reports.is_empty(),
        "no data subject {} in any service's vault",
        args.subject_id
    );
    if args.output.json {
        write_json(out, &reports)
    } else {
        write_text(out, &reports)
    }
}

/// Forgets the subject and prints what changed, or that nothing did.
///
/// # Errors
/// A subject no vault knows, or one whose records are in a vault other than complaints'; a
/// missing reference; database errors. Nothing is changed then.
pub async fn forget(args: &SubjectsForgetArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let subject_id = args.subject_id;
    for service in [Service::Escalation, Service::LearningReviews] {
        let pool = connect(&args.database.database_url, service).await?;
        let mut conn = pool.acquire().await.context("Failed to connect")?;
        let entry = vault::subject_entry(&mut conn, subject_id, false)
            .await
            .with_context(|| format!("Failed to read the {} vault", service.name()))?;
        drop(conn);
        pool.close().await;
        if let Some(entry) = entry.filter(|e| !e.records.is_empty()) {
            anyhow::bail!(
                "the {} vault holds {} records of data subject {subject_id}, and {} cannot record \
                 an erasure: nothing changed",
                service.name(),
                entry.records.len(),
                service.name()
            );
        }
    }
    let pool = connect(&args.database.database_url, Service::Complaints).await?;
    let outcome = erasure::forget(
        &pool,
        Forget {
            subject_id,
            ground: args.ground.into(),
            request_ref: args.request_ref.clone(),
            requested_by_ref: args.requested_by.clone(),
            at: jiff::Timestamp::now(),
        },
    )
    .await;
    pool.close().await;
    let line = match outcome {
        Ok(Outcome::Forgotten { entry, appended }) => {
            let kinds: Vec<&str> = entry.records.iter().map(|r| r.kind.as_str()).collect();
            format!(
                "forgot data subject {subject_id} in complaints: {} records made unreadable ({}); \
                 recorded as DataSubjectForgotten in stream {} at version {}",
                entry.records.len(),
                kinds.join(", "),
                appended.stream_id,
                appended.version
            )
        }
        Ok(Outcome::AlreadyForgotten { record }) => match record {
            Some(record) => format!(
                "data subject {subject_id} was already forgotten at {} ({}): nothing changed",
                record.forgotten_at,
                describe(&record)
            ),
            None => format!("data subject {subject_id} was already forgotten: nothing changed"),
        },
        Err(erasure::Error::UnknownSubject(_)) => {
            anyhow::bail!("no data subject {subject_id} in any service's vault: nothing changed")
        }
        Err(erasure::Error::Rejected(rejection)) => {
            anyhow::bail!("refused: {rejection}: nothing changed")
        }
        Err(erasure::Error::Unexpected(error)) => {
            return Err(error.context("Failed to forget the data subject; nothing changed"));
        }
    };
    writeln!(out, "{line}").context("Failed to write the report")
}

async fn connect(url: &str, service: Service) -> anyhow::Result<Pool> {
    platform::pg::connect(url, service.schema(), 1)
        .await
        .with_context(|| format!("Failed to connect to PostgreSQL for {}", service.name()))
}

/// The subject in `service`'s vault, with its erasure for complaints (the one log that records
/// erasures); `None` when that vault never held anything about it.
async fn report(
    pool: &Pool,
    service: Service,
    subject_id: Uuid,
) -> anyhow::Result<Option<SubjectReport>> {
    let (entry, erasure): (SubjectEntry, Option<Record>) = if service == Service::Complaints {
        match erasure::subject(pool, subject_id).await? {
            Some(subject) => (subject.entry, subject.erasure),
            None => return Ok(None),
        }
    } else {
        let mut conn = pool.acquire().await.context("Failed to connect")?;
        match vault::subject_entry(&mut conn, subject_id, false)
            .await
            .with_context(|| format!("Failed to read the {} vault", service.name()))?
        {
            Some(entry) => (entry, None),
            None => return Ok(None),
        }
    };
    Ok(Some(SubjectReport {
        service: service.name(),
        subject_id,
        created_at: entry.created_at.to_string(),
        erased_at: entry.erased_at.map(|at| at.to_string()),
        records: entry
            .records
            .into_iter()
            .map(|r| RecordReport {
                record_id: r.record_id,
                kind: r.kind,
                created_at: r.created_at.to_string(),
            })
            .collect(),
        erasure: erasure.map(|record| ErasureReport {
            forgotten_at: record.forgotten_at.to_string(),
            ground: ground_name(&record).to_owned(),
            request_ref: record.request_ref,
            requested_by_ref: record.requested_by_ref,
            records: record.records,
        }),
    }))
}

/// The ground as the command line spells it.
fn ground_name(record: &Record) -> &'static str {
    use complaints::domain::ErasureGround as G;
    match record.ground {
        Some(G::SubjectRequest) => "subject-request",
        Some(G::RetentionEnded) => "retention-ended",
        Some(G::UnlawfullyHeld) => "unlawfully-held",
        Some(G::LegalObligation) => "legal-obligation",
        None => "unknown",
    }
}

fn describe(record: &Record) -> String {
    format!(
        "{}, request {}, asked by {}",
        ground_name(record),
        record.request_ref,
        record.requested_by_ref
    )
}

/// Every UUID among the strings of `value`, bare or after a `vault:` prefix.
fn collect_ids(value: &serde_json::Value, ids: &mut Vec<Uuid>) {
    match value {
        serde_json::Value::String(text) => {
            let text = text.strip_prefix("vault:").unwrap_or(text);
            if let Ok(id) = Uuid::parse_str(text) {
                ids.push(id);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, ids)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| collect_ids(v, ids)),
        _ => {}
    }
}

fn write_json(out: &mut impl Write, reports: &[SubjectReport]) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, reports).context("Failed to write the report")?;
    writeln!(out).context("Failed to write the report")
}

fn write_text(out: &mut impl Write, reports: &[SubjectReport]) -> anyhow::Result<()> {
    for report in reports {
        let state = match (&report.erasure, &report.erased_at) {
            (Some(e), _) => format!(
                "forgotten at {} ({}, request {}, asked by {})",
                e.forgotten_at, e.ground, e.request_ref, e.requested_by_ref
            ),
            (None, Some(at)) => format!("key destroyed at {at}, no erasure recorded"),
            (None, None) => "readable".to_owned(),
        };
        writeln!(
            out,
            "subject {} ({}): {} records, {state}",
            report.subject_id,
            report.service,
            report.records.len()
        )
        .context("Failed to write the report")?;
        for record in &report.records {
            writeln!(
                out,
                "  record {}  {}  {}",
                record.record_id, record.kind, record.created_at
            )
            .context("Failed to write the report")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_bare_and_behind_the_vault_prefix_at_any_depth() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let json = serde_json::json!({
            "complainantRef": a.to_string(),
            "docRefs": ["doc:complaint-1", format!("vault:{b}")],
            "nested": {"n": 3, "text": "not an id"},
        });
        let mut ids = Vec::new();
        collect_ids(&json, &mut ids);
        ids.sort_unstable();
        let mut expected = vec![a, b];
        expected.sort_unstable();
        assert_eq!(ids, expected);
    }
}
