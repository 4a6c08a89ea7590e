//! `redress subjects find|show|forget` against a running `redress serve`: a complainant written
//! through the gRPC API is found from their complaint and forgotten; their vault records can
//! never be read again, the API marks the complaint erased, no read model keeps their text or
//! their records' references, the log is untouched apart from the erasure event, rebuilds give
//! the same erased tables, a second run changes nothing, and a bad or unknown id is refused with
//! nothing changed. An inspection forgotten as a subject refuses new personal data about it.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use platform::grpc::Role;
use platform::pg::Pool;
use platform::vault::{Vault, VaultError};
use proto::complaints::v1 as complaints;
use proto::complaints::v1::complaints_client::ComplaintsClient;
use proto::complaints::v1::inspections_client::InspectionsClient;
use sqlx::AssertSqlSafe;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::output;
use crate::projections;
use crate::workload::{SCHEMAS, Served};

/// The master key `Served` starts the service with (`workload::VAULT_KEY`).
const VAULT_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn request<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(token).unwrap());
    request.set_timeout(Duration::from_secs(30));
    request
}

fn ts(at: Timestamp) -> Option<prost_types::Timestamp> {
    Some(platform::aggregate::timestamp(at))
}

/// A complainant's personal data, unique to the test.
struct Person {
    name: String,
    email: String,
    narrative: String,
}

impl Person {
    fn new(tag: &str) -> Person {
        let run = Uuid::new_v4().simple().to_string();
        Person {
            name: format!("Ruth Example {tag} {run}"),
            email: format!("head-{tag}-{run}@school.example"),
            narrative: format!("Narrative {tag} {run}: the inspectors ignored our evidence."),
        }
    }

    fn texts(&self) -> [&str; 3] {
        [&self.name, &self.email, &self.narrative]
    }
}

/// The API as the inspection system, a provider's head and the complaints team call it.
struct Api {
    inspections: InspectionsClient<Channel>,
    complaints: ComplaintsClient<Channel>,
    partner: String,
    investigator: String,
    /// Each provider's head, by provider.
    heads: BTreeMap<String, String>,
}

impl Api {
    async fn new(served: &Served) -> Api {
        let channel = served.channel().await;
        let partner = served.token("partner:inspection-system", Role::InspectionSystem, None);
        let investigator = served.token("staff:investigator-4", Role::ComplaintsInvestigator, None);
        let heads: BTreeMap<String, String> = (0..2)
            .map(|n| {
                let provider = format!("URN-ERASE-{n}");
                let token = served.token(
                    &format!("head:{n}"),
                    Role::ProviderRepresentative,
                    Some(&provider),
                );
                (provider, token)
            })
            .collect();
        Api {
            inspections: InspectionsClient::new(channel.clone()),
            complaints: ComplaintsClient::new(channel),
            partner,
            investigator,
            heads,
        }
    }

    /// An inspection of `provider` with its draft report issued.
    async fn inspection(&mut self, provider: &str) -> Uuid {
        let id = Uuid::new_v4();
        let now = Timestamp::now();
        let on_site = now - SignedDuration::from_hours(72);
        let last = on_site + SignedDuration::from_hours(24);
        let key = |step: &str| format!("{id}-{step}");
        let date = |at: Timestamp| platform::calendar::local_date(at).to_string();
        self.inspections
            .record_inspection_notified(request(
                complaints::RecordInspectionNotifiedRequest {
                    request_id: key("notify"),
                    inspection_id: id.to_string(),
                    provider_id: provider.to_owned(),
                    remit: complaints::Remit::Schools as i32,
                    lead_inspector_ref: "staff:lead-1".into(),
                    team_inspector_refs: vec!["staff:team-1".into()],
                    on_site_starts_on: date(on_site),
                    occurred_at: ts(now - SignedDuration::from_hours(24 * 6)),
                },
                &self.partner,
            ))
            .await
            .unwrap();
        self.inspections
            .record_on_site_started(request(
                complaints::RecordOnSiteStartedRequest {
                    request_id: key("on-site"),
                    inspection_id: id.to_string(),
                    occurred_at: ts(on_site),
                },
                &self.partner,
            ))
            .await
            .unwrap();
        self.inspections
            .record_on_site_ended(request(
                complaints::RecordOnSiteEndedRequest {
                    request_id: key("ended"),
                    inspection_id: id.to_string(),
                    last_onsite_date: date(last),
                    occurred_at: ts(last),
                },
                &self.partner,
            ))
            .await
            .unwrap();
        self.inspections
            .issue_draft_report(request(
                complaints::IssueDraftReportRequest {
                    request_id: key("draft"),
                    inspection_id: id.to_string(),
                    doc_ref: format!("doc:draft-{id}"),
                    occurred_at: ts(now - SignedDuration::from_mins(90)),
                },
                &self.partner,
            ))
            .await
            .unwrap();
        id
    }

    /// A complaint about `inspection_id` from `person`, acknowledged.
    async fn complaint(&mut self, inspection_id: Uuid, provider: &str, person: &Person) -> Uuid {
        let head = self.heads[provider].clone();
        let submitted = self
            .complaints
            .submit_formal_complaint(request(
                complaints::SubmitFormalComplaintRequest {
                    request_id: format!("{inspection_id}-submit"),
                    submission: Some(complaints::ComplaintSubmission {
                        inspection_id: inspection_id.to_string(),
                        grounds: vec![complaints::ComplaintGround::EvidenceNotConsidered as i32],
                        complainant: Some(complaints::ComplainantContact {
                            name: person.name.clone(),
                            role: "headteacher".into(),
                            email: person.email.clone(),
                            phone: "01632 960000".into(),
                        }),
                        narrative: person.narrative.clone(),
                        doc_refs: vec![format!("doc:complaint-{inspection_id}")],
                        provider_id: provider.to_owned(),
                    }),
                    route_override_reason_ref: String::new(),
                },
                &head,
            ))
            .await
            .unwrap()
            .into_inner();
        let complaint_id = submitted.complaint_id;
        self.complaints
            .acknowledge_complaint(request(
                complaints::AcknowledgeComplaintRequest {
                    request_id: format!("{inspection_id}-ack"),
                    complaint_id: complaint_id.clone(),
                },
                &self.investigator,
            ))
            .await
            .unwrap();
        complaint_id.parse().unwrap()
    }

    async fn get(&mut self, complaint_id: Uuid) -> complaints::Complaint {
        self.complaints
            .get_complaint(request(
                complaints::GetComplaintRequest {
                    complaint_id: complaint_id.to_string(),
                    consistency: None,
                },
                &self.investigator,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaint
            .unwrap()
    }

    async fn listed(&mut self, provider: &str) -> Vec<complaints::Complaint> {
        self.complaints
            .list_complaints(request(
                complaints::ListComplaintsRequest {
                    provider_id: provider.to_owned(),
                    ..Default::default()
                },
                &self.investigator,
            ))
            .await
            .unwrap()
            .into_inner()
            .complaints
    }

    async fn wellbeing_contact(&mut self, inspection_id: Uuid, step: &str, name: &str) -> Code {
        let answer = self
            .inspections
            .record_wellbeing_contact(request(
                complaints::RecordWellbeingContactRequest {
                    request_id: format!("{inspection_id}-{step}"),
                    inspection_id: inspection_id.to_string(),
                    kind: complaints::WellbeingContactKind::ResponsibleForLeadersWellbeing as i32,
                    name: name.to_owned(),
                    phone: "01632 960001".into(),
                    email: String::new(),
                },
                &self.partner,
            ))
            .await;
        match answer {
            Ok(_) => Code::Ok,
            Err(status) => {
                if status.code() == Code::FailedPrecondition {
                    assert!(
                        status.message().contains("personal data was erased"),
                        "{status:?}"
                    );
                }
                status.code()
            }
        }
    }
}

/// A subject as `subjects find|show --json` prints it.
#[derive(Debug, serde::Deserialize)]
struct Subject {
    service: String,
    subject_id: Uuid,
    erased_at: Option<String>,
    records: Vec<SubjectRecord>,
    erasure: Option<Erasure>,
}

#[derive(Debug, serde::Deserialize)]
struct SubjectRecord {
    record_id: Uuid,
    kind: String,
}

#[derive(Debug, serde::Deserialize)]
struct Erasure {
    ground: String,
    request_ref: String,
    requested_by_ref: String,
    records: usize,
}

/// `redress subjects <args…>`: exit code, stdout, stderr.
async fn subjects(served: &Served, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = served.redress();
    command.arg("subjects").args(args);
    let ran = output(command).await;
    (
        ran.status.code(),
        String::from_utf8_lossy(&ran.stdout).into_owned(),
        String::from_utf8_lossy(&ran.stderr).into_owned(),
    )
}

async fn subjects_json(served: &Served, args: &[&str]) -> Vec<Subject> {
    let mut args = args.to_vec();
    args.push("--json");
    let (code, stdout, stderr) = subjects(served, &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// `redress subjects forget SUBJECT` with a ground and references.
async fn forget(served: &Served, subject: &str) -> (Option<i32>, String, String) {
    subjects(
        served,
        &[
            "forget",
            subject,
            "--ground",
            "subject-request",
            "--request-ref",
            "dsar:2026-0042",
            "--requested-by",
            "dpo:officer-2",
        ],
    )
    .await
}

/// Every row of every service's log, as text, in log order.
async fn logs(served: &Served) -> BTreeMap<&'static str, Vec<String>> {
    let mut logs = BTreeMap::new();
    for schema in SCHEMAS {
        let pool = served.db.pool(schema).await.unwrap();
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT e::text FROM events e ORDER BY transaction_id::text::numeric, position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        logs.insert(schema, rows);
    }
    logs
}

/// The tables of the complaints schema (`complaints.<name>`) whose rows' text contains `needle`.
async fn tables_holding(pool: &Pool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'complaints' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() > 10, "{tables:?}");
    let mut holding = Vec::new();
    for table in tables {
        let found: bool = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT FROM complaints.{table} t WHERE t::text LIKE '%' || $1 || '%')"
        )))
        .bind(needle)
        .fetch_one(pool)
        .await
        .unwrap();
        if found {
            holding.push(table);
        }
    }
    holding
}

/// Tables that are the log or the vault rather than read models.
const RECORD_TABLES: [&str; 3] = ["events", "vault_records", "vault_subjects"];

fn read_models(tables: Vec<String>) -> Vec<String> {
    tables
        .into_iter()
        .filter(|t| !RECORD_TABLES.contains(&t.as_str()))
        .collect()
}

async fn vault_subject_row(pool: &Pool, subject: Uuid) -> String {
    sqlx::query_scalar("SELECT s::text FROM complaints.vault_subjects s WHERE subject_id = $1")
        .bind(subject)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn forgetting_a_complainant_erases_their_data_everywhere_but_the_log_and_only_once() {
    // Arrange: two complaints through the API, every reader caught up.
    let served = Served::start(false).await;
    let mut api = Api::new(&served).await;
    let (forgotten_person, kept_person) = (Person::new("forgotten"), Person::new("kept"));
    let inspection = api.inspection("URN-ERASE-0").await;
    let complaint_id = api
        .complaint(inspection, "URN-ERASE-0", &forgotten_person)
        .await;
    let other_inspection = api.inspection("URN-ERASE-1").await;
    let kept_id = api
        .complaint(other_inspection, "URN-ERASE-1", &kept_person)
        .await;
    served.settle().await;
    let before = api.get(complaint_id).await;
    let kept_before = api.get(kept_id).await;
    assert!(!before.personal_data_erased && !before.contact_ref.is_empty());
    let contact: Uuid = before.contact_ref.parse().unwrap();
    let narrative: Uuid = before.narrative_ref.parse().unwrap();
    let pool = served.db.pool("complaints").await.unwrap();
    let vault = Vault::new(pool.clone(), &Vault::parse_master_key(VAULT_KEY).unwrap());
    let sealed = vault.get(contact).await.unwrap();
    assert!(
        String::from_utf8(sealed.plaintext)
            .unwrap()
            .contains(&forgotten_person.email)
    );
    assert_eq!(
        vault.get(narrative).await.unwrap().plaintext,
        forgotten_person.narrative.as_bytes()
    );
    // The scan finds what a read model holds: the provider, and the record references.
    assert!(read_models(tables_holding(&pool, "URN-ERASE-0").await).contains(&"complaints".into()));
    assert_eq!(
        read_models(tables_holding(&pool, &contact.to_string()).await),
        ["complaints"]
    );

    // Act 1: the operator finds the subject from the complaint.
    let found = subjects_json(&served, &["find", &complaint_id.to_string()]).await;

    // Assert 1: one subject, the complainant, with their two records.
    assert_eq!(found.len(), 1, "{found:?}");
    let subject = &found[0];
    assert_eq!(subject.service, "complaints");
    assert!(subject.erased_at.is_none() && subject.erasure.is_none());
    let mut kinds: Vec<(&str, Uuid)> = subject
        .records
        .iter()
        .map(|r| (r.kind.as_str(), r.record_id))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            ("complainant_contact", contact),
            ("complaint_narrative", narrative)
        ]
    );
    let subject_id = subject.subject_id.to_string();
    let logs_before = logs(&served).await;

    // Act 2: forget them.
    let (code, stdout, stderr) = forget(&served, &subject_id).await;
    served.settle().await;

    // Assert 2: forgotten, recorded, unreadable, marked, and gone from every read model.
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "forgot data subject {subject_id} in complaints: 2 records made unreadable"
        )),
        "{stdout}"
    );
    for record in [contact, narrative] {
        assert!(
            matches!(vault.get(record).await, Err(VaultError::Erased)),
            "record {record} can still be read"
        );
    }
    let kept_contact: Uuid = kept_before.contact_ref.parse().unwrap();
    assert!(
        String::from_utf8(vault.get(kept_contact).await.unwrap().plaintext)
            .unwrap()
            .contains(&kept_person.email)
    );
    let after = api.get(complaint_id).await;
    assert!(after.personal_data_erased);
    assert_eq!(
        (after.contact_ref.as_str(), after.narrative_ref.as_str()),
        ("", "")
    );
    assert_eq!(
        complaints::Complaint {
            contact_ref: before.contact_ref.clone(),
            narrative_ref: before.narrative_ref.clone(),
            personal_data_erased: false,
            ..after.clone()
        },
        before,
        "nothing else about the complaint changed"
    );
    assert_eq!(api.get(kept_id).await, kept_before);
    let listed = api.listed("URN-ERASE-0").await;
    assert_eq!(listed, std::slice::from_ref(&after));

    let logs_after = logs(&served).await;
    assert_eq!(logs_after["escalation"], logs_before["escalation"]);
    assert_eq!(
        logs_after["learning_reviews"],
        logs_before["learning_reviews"]
    );
    let complaints_log = &logs_after["complaints"];
    assert_eq!(complaints_log.len(), logs_before["complaints"].len() + 1);
    assert_eq!(
        complaints_log[..complaints_log.len() - 1],
        logs_before["complaints"][..]
    );
    let erasure = complaints_log.last().unwrap();
    assert!(
        erasure.contains("redress.complaints.v1.DataSubjectForgotten")
            && erasure.contains("data_subject")
            && erasure.contains("dpo:officer-2"),
        "{erasure}"
    );
    for text in forgotten_person
        .texts()
        .into_iter()
        .chain(kept_person.texts())
    {
        assert_eq!(
            tables_holding(&pool, text).await,
            Vec::<String>::new(),
            "{text}"
        );
    }
    for record in [contact, narrative] {
        assert_eq!(
            read_models(tables_holding(&pool, &record.to_string()).await),
            Vec::<String>::new(),
            "a read model still refers to {record}"
        );
    }
    // Every policy consuming the complaints stream let the erasure event pass.
    for schema in SCHEMAS {
        let parked: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.parked_events"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(parked, 0, "{schema}");
    }
    let shown = subjects_json(&served, &["show", &subject_id]).await;
    assert_eq!(shown.len(), 1);
    assert!(shown[0].erased_at.is_some());
    let recorded = shown[0].erasure.as_ref().unwrap();
    assert_eq!(
        (
            recorded.ground.as_str(),
            recorded.request_ref.as_str(),
            recorded.requested_by_ref.as_str(),
            recorded.records
        ),
        ("subject-request", "dsar:2026-0042", "dpo:officer-2", 2)
    );

    // Act 3: rebuild every rebuildable projection.
    let listed_projections = projections::list(&served).await;
    let mut rebuilt = 0;
    for projection in listed_projections.iter().filter(|p| p.rebuildable) {
        let expected = projections::tables(&served, projection).await;
        projections::rebuild(&served, &projection.qualified()).await;
        let actual = projections::tables(&served, projection).await;
        projections::assert_same(&projection.qualified(), &expected, &actual);
        rebuilt += 1;
    }

    // Assert 3: the same erased tables, the marker kept, still no personal data.
    assert!(rebuilt >= 8, "{rebuilt}");
    assert_eq!(api.get(complaint_id).await, after);
    for text in forgotten_person.texts() {
        assert_eq!(
            tables_holding(&pool, text).await,
            Vec::<String>::new(),
            "{text}"
        );
    }
    assert_eq!(
        read_models(tables_holding(&pool, &contact.to_string()).await),
        Vec::<String>::new()
    );
    assert_eq!(logs(&served).await, logs_after);

    // Act 4: forget them again.
    let subject_row = vault_subject_row(&pool, shown[0].subject_id).await;
    let (code, stdout, stderr) = forget(&served, &subject_id).await;

    // Assert 4: nothing changed, and it says so.
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "data subject {subject_id} was already forgotten at"
        )) && stdout.contains("subject-request, request dsar:2026-0042, asked by dpo:officer-2")
            && stdout.trim_end().ends_with("nothing changed"),
        "{stdout}"
    );
    assert_eq!(
        vault_subject_row(&pool, shown[0].subject_id).await,
        subject_row
    );
    assert_eq!(logs(&served).await, logs_after);
    pool.close().await;
}

#[tokio::test]
async fn a_malformed_unknown_or_unexplained_subject_is_refused_and_changes_nothing() {
    // Arrange
    let served = Served::start(false).await;
    let mut api = Api::new(&served).await;
    let person = Person::new("refused");
    let inspection = api.inspection("URN-ERASE-0").await;
    let complaint_id = api.complaint(inspection, "URN-ERASE-0", &person).await;
    served.settle().await;
    let found = subjects_json(&served, &["find", &complaint_id.to_string()]).await;
    let subject_id = found[0].subject_id.to_string();
    let before = logs(&served).await;
    let pool = served.db.pool("complaints").await.unwrap();
    let subject_row = vault_subject_row(&pool, found[0].subject_id).await;
    let unknown = Uuid::now_v7().to_string();

    // Act
    let malformed = forget(&served, "not-a-subject").await;
    let unknown_answer = forget(&served, &unknown).await;
    let blank_request = subjects(
        &served,
        &[
            "forget",
            &subject_id,
            "--ground",
            "subject-request",
            "--request-ref",
            "  ",
            "--requested-by",
            "dpo:officer-2",
        ],
    )
    .await;
    let no_ground = subjects(
        &served,
        &[
            "forget",
            &subject_id,
            "--request-ref",
            "dsar:1",
            "--requested-by",
            "dpo:2",
        ],
    )
    .await;
    let unknown_shown = subjects(&served, &["show", &unknown]).await;
    let unknown_stream = subjects(&served, &["find", &unknown]).await;

    // Assert
    assert_eq!(malformed.0, Some(2), "{malformed:?}");
    assert!(
        malformed.2.contains("invalid value 'not-a-subject'"),
        "{}",
        malformed.2
    );
    assert_eq!(unknown_answer.0, Some(1), "{unknown_answer:?}");
    assert!(
        unknown_answer.2.contains(&format!(
            "no data subject {unknown} in any service's vault: nothing changed"
        )),
        "{}",
        unknown_answer.2
    );
    assert_eq!(blank_request.0, Some(1), "{blank_request:?}");
    assert!(
        blank_request
            .2
            .contains("an erasure needs the reference of the request it answers"),
        "{}",
        blank_request.2
    );
    assert_eq!(no_ground.0, Some(2), "{no_ground:?}");
    assert!(no_ground.2.contains("--ground"), "{}", no_ground.2);
    assert_eq!(unknown_shown.0, Some(1));
    assert!(
        unknown_shown.2.contains("no data subject"),
        "{}",
        unknown_shown.2
    );
    assert_eq!(unknown_stream.0, Some(1));
    assert!(
        unknown_stream.2.contains("no stream"),
        "{}",
        unknown_stream.2
    );
    assert_eq!(logs(&served).await, before);
    assert_eq!(
        vault_subject_row(&pool, found[0].subject_id).await,
        subject_row
    );
    assert!(!api.get(complaint_id).await.personal_data_erased);
    let vault = Vault::new(pool.clone(), &Vault::parse_master_key(VAULT_KEY).unwrap());
    let contact: Uuid = api.get(complaint_id).await.contact_ref.parse().unwrap();
    assert!(vault.get(contact).await.is_ok());
    pool.close().await;
}

#[tokio::test]
async fn an_inspection_forgotten_as_a_subject_keeps_no_new_personal_data() {
    // Arrange: a wellbeing contact, kept under the inspection's id as its subject.
    let served = Served::start(false).await;
    let mut api = Api::new(&served).await;
    let inspection = api.inspection("URN-ERASE-1").await;
    let name = format!("Wellbeing Lead {}", Uuid::new_v4().simple());
    assert_eq!(
        api.wellbeing_contact(inspection, "contact", &name).await,
        Code::Ok
    );
    served.settle().await;
    let found = subjects_json(&served, &["find", &inspection.to_string()]).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject_id, inspection);
    assert_eq!(found[0].records.len(), 1);
    assert_eq!(found[0].records[0].kind, "wellbeing_contact");
    let record = found[0].records[0].record_id;

    // Act
    let (code, stdout, stderr) = forget(&served, &inspection.to_string()).await;
    let again = api
        .wellbeing_contact(inspection, "contact-2", "Another Lead")
        .await;

    // Assert
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("1 records made unreadable (wellbeing_contact)"),
        "{stdout}"
    );
    let pool = served.db.pool("complaints").await.unwrap();
    let vault = Vault::new(pool.clone(), &Vault::parse_master_key(VAULT_KEY).unwrap());
    assert!(matches!(vault.get(record).await, Err(VaultError::Erased)));
    assert_eq!(again, Code::FailedPrecondition);
    let records: i64 =
        sqlx::query_scalar("SELECT count(*) FROM complaints.vault_records WHERE subject_id = $1")
            .bind(inspection)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(records, 1, "no new record about the forgotten inspection");
    assert_eq!(tables_holding(&pool, &name).await, Vec::<String>::new());
    pool.close().await;
}
