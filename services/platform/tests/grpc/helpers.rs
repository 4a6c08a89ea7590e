//! `spawn_server()`: a real `GrpcServer` on 127.0.0.1:0 serving a test `Echo`, its own key
//! pair and token issuer, and clients for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use platform::grpc::{
    self, AccessPolicy, Authenticator, GrpcServer, Health, Role, ServerConfig, TokenIssuer, errors,
    parse::FieldViolations, principal,
};
use proto::testing::v1::echo_client::EchoClient;
use proto::testing::v1::echo_server::{Echo, EchoServer};
use proto::testing::v1::{EchoReply, EchoRequest};
use secrecy::SecretString;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

pub(crate) const ISSUER: &str = "https://identity.redress.test";
pub(crate) const AUDIENCE: &str = "redress";
pub(crate) const KID: &str = "test-2026-01";
pub(crate) const ECHO: &str = "/redress.testing.v1.Echo/Echo";
pub(crate) const PUBLIC_ECHO: &str = "/redress.testing.v1.Echo/PublicEcho";
pub(crate) const ECHO_SERVICE: &str = "redress.testing.v1.Echo";
/// Bounds every wait in these tests; reaching it is a failure, never a synchronisation.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// Payloads that make the test `Echo` behave differently from echoing.
pub(crate) mod payload {
    /// Signals `Gate::started`, then waits for `Gate::release`.
    pub(crate) const WAIT: &[u8] = b"wait";
    /// Replies 2 MiB, over the 1 MiB encoding limit.
    pub(crate) const AMPLIFY: &[u8] = b"amplify";
    /// Fails through `FieldViolations` with two bad fields.
    pub(crate) const INVALID: &[u8] = b"invalid";
    pub(crate) const PRECONDITION: &[u8] = b"precondition";
    pub(crate) const CONFLICT: &[u8] = b"conflict";
    pub(crate) const MISSING: &[u8] = b"missing";
    pub(crate) const INTERNAL: &[u8] = b"internal";
    /// Replies with the handler's W3C `traceparent`, empty when there is none.
    pub(crate) const TRACE: &[u8] = b"trace";
    /// What the `INTERNAL` payload's error contains; it must never reach the client.
    pub(crate) const INTERNAL_SECRET: &str = "connection to postgres://redress:hunter2@db failed";
}

/// Lets a test hold a request inside the handler.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    pub(crate) started: Notify,
    pub(crate) release: Notify,
}

#[derive(Clone, Debug)]
struct TestEcho {
    gate: Arc<Gate>,
}

impl TestEcho {
    async fn behave(&self, payload: &[u8]) -> Result<Vec<u8>, Status> {
        match payload {
            payload::WAIT => {
                self.gate.started.notify_one();
                self.gate.release.notified().await;
            }
            payload::AMPLIFY => return Ok(vec![7; 2 * 1024 * 1024]),
            payload::INVALID => {
                let mut violations = FieldViolations::new();
                let summary = violations.check(grpc::parse::required_text("summary", " ", 100));
                let id = violations.check(grpc::parse::uuid("complaint_id", "not-a-uuid"));
                violations.finish((summary, id))?;
            }
            payload::PRECONDITION => {
                return Err(errors::failed_precondition(
                    "OUT_OF_TIME",
                    "the deadline has passed",
                ));
            }
            payload::CONFLICT => return Err(errors::aborted_conflict()),
            payload::MISSING => return Err(errors::not_found("complaint")),
            payload::INTERNAL => {
                let error = anyhow::anyhow!(payload::INTERNAL_SECRET).context("Failed to append");
                return Err(errors::internal(&error));
            }
            payload::TRACE => {
                let context = platform::telemetry::current_trace_context();
                return Ok(context
                    .map(|c| c.traceparent.into_bytes())
                    .unwrap_or_default());
            }
            _ => {}
        }
        Ok(payload.to_vec())
    }
}

#[tonic::async_trait]
impl Echo for TestEcho {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let caller = principal(&request)?.clone();
        let payload = self.behave(&request.into_inner().payload).await?;
        Ok(Response::new(EchoReply {
            payload,
            subject: caller.subject,
            role: caller.role.to_string(),
        }))
    }

    async fn public_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoReply>, Status> {
        let payload = self.behave(&request.into_inner().payload).await?;
        Ok(Response::new(EchoReply {
            payload,
            ..EchoReply::default()
        }))
    }
}

/// `Echo` for operators and auditors; `PublicEcho` for anyone.
pub(crate) fn echo_policy() -> AccessPolicy {
    AccessPolicy::new()
        .allow(ECHO, [Role::Operator, Role::Auditor])
        .public(PUBLIC_ECHO)
}

/// A key pair for tests; the private half is a `SecretString` as in production.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) private_pem: SecretString,
    pub(crate) public_pem: String,
}

pub(crate) fn keys() -> Keys {
    let (private_pem, public_pem) = grpc::generate_dev_keypair().expect("Failed to generate keys.");
    Keys {
        private_pem,
        public_pem,
    }
}

pub(crate) fn issuer_for(keys: &Keys, kid: &str) -> TokenIssuer {
    TokenIssuer::new(&keys.private_pem, kid, ISSUER, AUDIENCE).expect("Failed to build issuer.")
}

pub(crate) fn authenticator_for(keys: &[(&str, &Keys)]) -> Authenticator {
    Authenticator::new(
        ISSUER,
        AUDIENCE,
        keys.iter().map(|(kid, k)| (*kid, k.public_pem.as_str())),
    )
    .expect("Failed to build authenticator.")
}

/// A running server and everything a test needs to talk to it.
#[derive(Debug)]
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) health: Health,
    pub(crate) keys: Keys,
    pub(crate) issuer: TokenIssuer,
    /// A copy of the server's authenticator, to ask why a token was refused.
    pub(crate) authenticator: Authenticator,
    pub(crate) gate: Arc<Gate>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), grpc::Error>>,
}

pub(crate) async fn spawn_server() -> TestServer {
    spawn_server_with(ServerConfig::default(), echo_policy()).await
}

pub(crate) async fn spawn_server_with(config: ServerConfig, policy: AccessPolicy) -> TestServer {
    let keys = keys();
    let authenticator = authenticator_for(&[(KID, &keys)]);
    spawn_server_with_auth(config, policy, authenticator, keys).await
}

pub(crate) async fn spawn_server_with_auth(
    config: ServerConfig,
    policy: AccessPolicy,
    authenticator: Authenticator,
    keys: Keys,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("Failed to bind a port.");
    let addr = listener
        .local_addr()
        .expect("Failed to read the bound address.");
    let gate = Arc::new(Gate::default());
    let echo = grpc::limited!(
        EchoServer::new(TestEcho {
            gate: Arc::clone(&gate)
        }),
        &config
    );
    let server = GrpcServer::new(config, authenticator.clone(), policy).add_service(echo);
    let health = server.health();
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = signal.await;
    }));
    TestServer {
        addr,
        health,
        issuer: issuer_for(&keys, KID),
        authenticator,
        keys,
        gate,
        shutdown: Some(shutdown),
        task,
    }
}

impl TestServer {
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("Failed to parse the server address.")
            .connect()
            .await
            .expect("Failed to connect to the test server.")
    }

    pub(crate) async fn echo_client(&self) -> EchoClient<Channel> {
        EchoClient::new(self.channel().await)
    }

    /// A valid token for `role` (with a provider when the role needs one).
    pub(crate) fn token(&self, role: Role) -> String {
        let provider = role
            .acts_for_provider()
            .then_some("urn:redress:provider:100001");
        self.issuer
            .issue("user-42", role, provider, Duration::from_secs(300))
            .expect("Failed to issue a token.")
    }

    /// Starts a graceful shutdown.
    pub(crate) fn shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for `serve` to return, at most [`DEADLINE`].
    pub(crate) async fn stopped(self) -> Result<(), grpc::Error> {
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("The server did not stop before the deadline.")
            .expect("The server task panicked.")
    }
}

/// The code `Echo` answers `request` with.
pub(crate) async fn echo_code(server: &TestServer, request: Request<EchoRequest>) -> Code {
    let mut client = server.echo_client().await;
    match client.echo(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// An `EchoRequest` carrying `authorization` exactly as given.
pub(crate) fn with_authorization(payload: &[u8], authorization: &str) -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        payload: payload.to_vec(),
    });
    let value = MetadataValue::try_from(authorization).expect("Authorization must be ASCII.");
    request.metadata_mut().insert("authorization", value);
    request
}

pub(crate) fn bearer(payload: &[u8], token: &str) -> Request<EchoRequest> {
    with_authorization(payload, &format!("Bearer {token}"))
}

/// Unpadded base64url (RFC 4648 §5), for forging token segments by hand.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let padded = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from_be_bytes([0, padded[0], padded[1], padded[2]]);
        for i in 0..=chunk.len() {
            out.push(char::from(
                ALPHABET[((bits >> (18 - 6 * i)) & 0x3f) as usize],
            ));
        }
    }
    out
}
