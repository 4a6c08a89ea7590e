//! [`Stack`]: `redress serve` of every service ([`Served`]) with a channel, tokens for every
//! role, and the checks every case ends with: the process still answers health, its stderr has
//! no panic, no service's log grew, and a refusal wrote its one audit entry (target `audit` in
//! the process's JSON log, naming the RPC and the code) while anything else wrote none.

use std::time::Duration;

use platform::grpc::Role;
use platform::pg::Pool;
use prost_reflect::DynamicMessage;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::rpc::{self, Rpc};
use crate::workload::Served;

/// The provider the tokens of provider roles act for, unless a test names another.
pub const PROVIDER: &str = "URN-SECURITY-A";

/// A caller: a role, or nobody (no `authorization` header).
pub type Caller = Option<Role>;

pub struct Stack {
    pub served: Served,
    pub channel: Channel,
    /// The test database with no search path of its own: every query names its schema.
    pool: Pool,
    /// How far [`Stack::audit_entries`] has read the process's log.
    log_read: std::sync::Mutex<usize>,
}

impl Stack {
    pub async fn start() -> Stack {
        let served = Served::start(false).await;
        let channel = served.channel().await;
        let pool = served.db.pool("public").await.unwrap();
        let stack = Stack {
            served,
            channel,
            pool,
            log_read: std::sync::Mutex::new(0),
        };
        stack.wait_serving().await;
        stack
    }

    /// `Bearer …` for `role`, acting for [`PROVIDER`] when the role acts for a provider.
    pub fn token(&self, role: Role) -> String {
        self.token_for(role, PROVIDER)
    }

    /// `Bearer …` for `role`, acting for `provider` when the role acts for a provider.
    pub fn token_for(&self, role: Role, provider: &str) -> String {
        let provider = role.acts_for_provider().then_some(provider);
        self.served
            .token(&format!("security:{role}"), role, provider)
    }

    /// Metadata carrying `caller`'s token, if any.
    pub fn metadata(&self, caller: Caller) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        if let Some(role) = caller {
            metadata.insert(
                "authorization",
                MetadataValue::try_from(self.token(role)).unwrap(),
            );
        }
        metadata
    }

    /// Metadata with `authorization: <value>`.
    pub fn authorization(value: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", MetadataValue::try_from(value).unwrap());
        metadata
    }

    /// Calls `rpc` with `request` as `caller`.
    pub async fn call(
        &self,
        rpc: &Rpc,
        request: &DynamicMessage,
        caller: Caller,
    ) -> Result<Vec<u8>, Status> {
        self.call_bytes(rpc, rpc::encode(request), self.metadata(caller))
            .await
    }

    pub async fn call_bytes(
        &self,
        rpc: &Rpc,
        body: Vec<u8>,
        metadata: MetadataMap,
    ) -> Result<Vec<u8>, Status> {
        rpc::call(&self.channel, &rpc.path(), body, metadata).await
    }

    /// Events in the complaints, escalation and learning-reviews logs.
    pub async fn events(&self) -> [i64; 3] {
        let (a, b, c): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM complaints.events),
                    (SELECT count(*) FROM escalation.events),
                    (SELECT count(*) FROM learning_reviews.events)",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        [a, b, c]
    }

    /// [`Stack::events`] written by callers: without the events the services append of their own
    /// accord (actor `system:…`: the feed translator, the policies), which land whenever those
    /// loops get to them.
    pub async fn caller_events(&self) -> [i64; 3] {
        let (a, b, c): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM complaints.events WHERE actor NOT LIKE 'system:%'),
                    (SELECT count(*) FROM escalation.events WHERE actor NOT LIKE 'system:%'),
                    (SELECT count(*) FROM learning_reviews.events WHERE actor NOT LIKE 'system:%')",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        [a, b, c]
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The status of `grpc.health.v1.Health/Check` for the whole server.
    pub async fn health(&self) -> Result<i32, Status> {
        let mut client = HealthClient::new(self.channel.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        request.set_timeout(Duration::from_secs(5));
        client.check(request).await.map(|r| r.into_inner().status)
    }

    async fn wait_serving(&self) {
        for _ in 0..600 {
            if matches!(self.health().await, Ok(1)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redress serve never reported SERVING");
    }

    /// The audit entries the process logged since the last call: the JSON lines of its log
    /// with target `audit`.
    pub fn audit_entries(&self) -> Vec<serde_json::Value> {
        use std::io::{Read as _, Seek as _};
        let mut read = self.log_read.lock().unwrap();
        // Only what was written since the last look: the log grows with every case.
        let mut log = Vec::new();
        if let Ok(mut file) = std::fs::File::open(&self.served.log_file) {
            let _ = file.seek(std::io::SeekFrom::Start(*read as u64));
            let _ = file.read_to_end(&mut log);
        }
        let Some(end) = log.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let new = &log[..=end];
        *read += end + 1;
        String::from_utf8_lossy(new)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["target"] == platform::grpc::AUDIT_TARGET)
            .collect()
    }

    /// Waits up to 2 s for the audit entry of a call to `rpc` refused with `code`, taking the
    /// entries logged since the last look; `Err` with what was logged instead.
    pub async fn audited(&self, rpc: &Rpc, code: Code) -> Result<(), String> {
        let path = rpc.path();
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.extend(self.audit_entries());
            if seen
                .iter()
                .any(|e| e["rpc"] == path.as_str() && e["code"] == audit_code(code))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "no audit entry for {path} {code:?}; logged {seen:?}"
        ))
    }

    /// What the process printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.served.stderr_file).unwrap_or_default()
    }

    /// The process's resident set, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.served._process.0.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Asserts, after `case`, that the process is alive and SERVING and never panicked.
    pub async fn assert_alive(&self, case: &str) {
        assert_eq!(
            self.health().await.map_err(|s| s.code()),
            Ok(1),
            "{case}: the process no longer answers health as SERVING"
        );
        let stderr = self.stderr();
        assert!(
            !stderr.contains("panicked"),
            "{case}: the process panicked:\n{stderr}"
        );
    }
}

/// The name an audit entry gives `code`; empty for a code that writes none.
pub fn audit_code(code: Code) -> &'static str {
    match code {
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::NotFound => "NOT_FOUND",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::Unimplemented => "UNIMPLEMENTED",
        _ => "",
    }
}

/// The outcome of one case, for tables of cases: the code, or `OK`.
pub fn code<T>(result: &Result<T, Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Failures gathered over a table of cases, reported together so each names its case.
#[derive(Debug, Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn check(&mut self, ok: bool, case: impl FnOnce() -> String) {
        if !ok {
            self.0.push(case());
        }
    }

    pub fn push(&mut self, case: String) {
        self.0.push(case);
    }

    /// Panics listing every failure, if there was one; `cases` is how many ran.
    pub fn assert_none(self, cases: usize) {
        assert!(
            self.0.is_empty(),
            "{} of {cases} cases failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
        eprintln!("{cases} cases passed");
    }
}

/// One bad input: a request (already encoded, so it may be anything) sent as `metadata` says,
/// the codes that count as refusing it and, for INVALID_ARGUMENT, the field it must name.
pub struct Case {
    pub name: String,
    pub rpc: Rpc,
    pub body: Vec<u8>,
    pub metadata: MetadataMap,
    pub want: &'static [Code],
    pub field: Option<String>,
    /// A field the violations must not name: the value under test, accepted.
    pub not_named: Option<String>,
    /// Refused by HTTP/2 before any layer of the service ran (a GOAWAY for a header list too
    /// large): nothing of ours saw it, so no audit entry is written.
    pub before_the_server: bool,
}

/// Too large for the server: tonic's code for a message over the decoding limit.
pub const TOO_LARGE: &[Code] = &[Code::OutOfRange, Code::ResourceExhausted];
pub const INVALID: &[Code] = &[Code::InvalidArgument];

impl Case {
    /// `request` for `rpc` as `caller`, expected INVALID_ARGUMENT naming `field`.
    pub fn invalid(
        stack: &Stack,
        name: impl Into<String>,
        rpc: &Rpc,
        request: &DynamicMessage,
        caller: Caller,
        field: &str,
    ) -> Case {
        Case {
            name: name.into(),
            rpc: rpc.clone(),
            body: rpc::encode(request),
            metadata: stack.metadata(caller),
            want: INVALID,
            field: Some(field.to_owned()),
            not_named: None,
            before_the_server: false,
        }
    }
}

impl Stack {
    /// Runs every case; each must answer one of its codes (naming its field), write no event,
    /// and leave the process SERVING without a panic. Panics listing every failed case.
    pub async fn run(&self, cases: Vec<Case>) {
        let mut failures = Failures::default();
        let count = cases.len();
        for case in cases {
            let label = format!("{} {}", case.rpc.name(), case.name);
            let before = self.events().await;
            self.audit_entries();
            let result = self.call_bytes(&case.rpc, case.body, case.metadata).await;
            let after = self.events().await;
            let got = code(&result);
            if audit_code(got).is_empty() || case.before_the_server {
                let logged = self.audit_entries();
                failures.check(logged.is_empty(), || {
                    format!("{label}: {got:?} is no refusal, yet audited: {logged:?}")
                });
            } else if let Err(missing) = self.audited(&case.rpc, got).await {
                failures.push(format!("{label}: {missing}"));
            }
            failures.check(case.want.contains(&got), || {
                let detail = result
                    .as_ref()
                    .err()
                    .map(|s| (s.message().to_owned(), rpc::violated_fields(s)));
                format!("{label}: {got:?} {detail:?}, want one of {:?}", case.want)
            });
            if let (Some(field), Err(status)) = (&case.field, &result) {
                let named = rpc::violated_fields(status);
                failures.check(named.iter().any(|f| f.starts_with(field.as_str())), || {
                    format!("{label}: {field} not among the violations {named:?}")
                });
            }
            if let (Some(field), Err(status)) = (&case.not_named, &result) {
                let named = rpc::violated_fields(status);
                failures.check(!named.iter().any(|f| f.starts_with(field.as_str())), || {
                    format!("{label}: {field} was refused {named:?}")
                });
            }
            failures.check(before == after, || {
                format!("{label}: events {before:?} → {after:?}")
            });
            if !matches!(self.health().await, Ok(1)) {
                failures.push(format!("{label}: the process no longer answers health"));
            }
        }
        self.assert_alive("after every case").await;
        failures.assert_none(count);
    }
}
