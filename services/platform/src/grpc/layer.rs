//! The one tower layer around the whole router: authenticate, authorize, trace, measure, audit.
//!
//! It runs inside tonic's own timeout and concurrency limit, on the raw `http::Request`, so it
//! sees every RPC (including unknown paths) before routing. Rejections are trailers-only gRPC
//! responses built here; the handler never runs.
//!
//! Every refusal that may be an attack or a broken client — `UNAUTHENTICATED`,
//! `PERMISSION_DENIED`, `NOT_FOUND` (also what another provider's case answers),
//! `INVALID_ARGUMENT`, `OUT_OF_RANGE`, `RESOURCE_EXHAUSTED`, `UNIMPLEMENTED` — writes one audit
//! entry: a log event with target [`AUDIT_TARGET`] naming the RPC, the code and the caller's
//! subject and role when it had a valid token, inside the request's span (so with its trace
//! id). Never a request's content: a refused value may be personal data. Domain refusals
//! (`FAILED_PRECONDITION`, `ABORTED`) are the process at work, not audited.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Layer, Service};
use tracing::{Instrument as _, field};

use super::auth::{Authenticator, Principal};
use super::policy::AccessPolicy;
use crate::telemetry::names::{GRPC_REQUEST_DURATION_SECONDS, GRPC_REQUESTS_TOTAL};

/// The `tracing` target of audit entries; `RUST_LOG` cannot silence it (see
/// [`crate::telemetry::init`]).
pub const AUDIT_TARGET: &str = "audit";

/// Whether a response with `code` writes an audit entry.
fn audited(code: Code) -> bool {
    matches!(
        code,
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::NotFound
            | Code::InvalidArgument
            | Code::OutOfRange
            | Code::ResourceExhausted
            | Code::Unimplemented
    )
}

/// Who called, as far as a valid token tells: its subject and role.
type Caller = Option<(String, &'static str)>;

/// A request the guard turned away, and who asked when the token was valid.
struct Refusal {
    status: Status,
    caller: Caller,
}

/// Writes the audit entry of a refused request (see the module documentation).
fn audit(method: &str, code: Code, caller: &Caller) {
    let (subject, role) = caller
        .as_ref()
        .map_or(("", ""), |(subject, role)| (subject.as_str(), *role));
    tracing::warn!(
        target: AUDIT_TARGET,
        rpc = method,
        code = code_name(code),
        subject,
        role,
        "request refused"
    );
}

#[derive(Debug)]
struct Guard {
    authenticator: Authenticator,
    policy: AccessPolicy,
}

impl Guard {
    /// `Ok(None)` for a public method, `Ok(Some(_))` for an authenticated caller whose role the
    /// policy allows on `method`.
    fn admit(&self, method: &str, headers: &http::HeaderMap) -> Result<Option<Principal>, Refusal> {
        if self.policy.is_public(method) {
            return Ok(None);
        }
        let principal = self.authenticator.authenticate(headers).map_err(|error| {
            tracing::info!(error = ?error, "request not authenticated");
            Refusal {
                status: Status::from(error),
                caller: None,
            }
        })?;
        if !self.policy.permits(method, principal.role) {
            tracing::info!(
                subject = %principal.subject,
                role = %principal.role,
                "role not allowed to call this method"
            );
            return Err(Refusal {
                status: Status::permission_denied("permission denied"),
                caller: Some((principal.subject, principal.role.as_str())),
            });
        }
        Ok(Some(principal))
    }
}

/// Wraps the router in [`GuardService`].
#[derive(Clone, Debug)]
pub(crate) struct GuardLayer {
    guard: Arc<Guard>,
}

impl GuardLayer {
    pub(crate) fn new(authenticator: Authenticator, policy: AccessPolicy) -> Self {
        Self {
            guard: Arc::new(Guard {
                authenticator,
                policy,
            }),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: Arc::clone(&self.guard),
        }
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct GuardService<S> {
    inner: S,
    guard: Arc<Guard>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> Service<http::Request<Body>> for GuardService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let span = tracing::info_span!(
            "grpc.request",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %method,
            rpc.grpc.status_code = field::Empty,
            enduser.id = field::Empty,
            enduser.role = field::Empty,
        );
        // Before the span is first entered, or the parent cannot be set.
        crate::telemetry::set_parent_from_headers(&span, request.headers());
        let admission = span.in_scope(|| self.guard.admit(&method, request.headers()));
        let recorder = Recorder::start(self.guard.policy.metric_label(&method).to_owned());
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let response = async move {
            let mut caller: Caller = None;
            let response = match admission {
                Ok(principal) => {
                    if let Some(principal) = principal {
                        let span = tracing::Span::current();
                        span.record("enduser.id", principal.subject.as_str());
                        span.record("enduser.role", principal.role.as_str());
                        caller = Some((principal.subject.clone(), principal.role.as_str()));
                        request.extensions_mut().insert(principal);
                    }
                    match inner.call(request).await {
                        Ok(response) => response,
                        Err(error) => {
                            recorder.finish(Code::Unknown);
                            return Err(error);
                        }
                    }
                }
                Err(refusal) => {
                    caller = refusal.caller;
                    refusal.status.into_http()
                }
            };
            let code = response_code(&response);
            tracing::Span::current().record("rpc.grpc.status_code", i32::from(code));
            if audited(code) {
                audit(&method, code, &caller);
            }
            recorder.finish(code);
            Ok(response)
        };
        Box::pin(response.instrument(span))
    }
}

/// The gRPC status of a response as far as its headers tell. Errors from this layer and from
/// unary handlers are trailers-only, so their `grpc-status` is a header. A 200 response without
/// one carries its status in trailers (a successful unary call or any stream); it is counted
/// as `OK`, which misreports streams that fail after their headers and replies that fail to
/// encode (over the encoding limit). Reading trailers would mean wrapping the response body.
fn response_code(response: &http::Response<Body>) -> Code {
    match response.headers().get("grpc-status") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|value| value.parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32),
        None if response.status() == http::StatusCode::OK => Code::Ok,
        None => Code::Unknown,
    }
}

/// Records the request metrics once: with the response's code when finished, or as
/// `CANCELLED` when dropped first (client went away, or tonic's server timeout fired, which
/// tonic also reports as `CANCELLED`).
struct Recorder {
    rpc: String,
    started: Instant,
    finished: bool,
}

impl Recorder {
    fn start(rpc: String) -> Self {
        Self {
            rpc,
            started: Instant::now(),
            finished: false,
        }
    }

    fn finish(mut self, code: Code) {
        self.record(code);
        self.finished = true;
    }

    fn record(&self, code: Code) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let code = code_name(code);
        metrics::histogram!(GRPC_REQUEST_DURATION_SECONDS, "rpc" => self.rpc.clone(), "code" => code)
            .record(elapsed);
        metrics::counter!(GRPC_REQUESTS_TOTAL, "rpc" => self.rpc.clone(), "code" => code)
            .increment(1);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.finished {
            self.record(Code::Cancelled);
        }
    }
}

/// The canonical upper-snake-case name of a gRPC status code, as in the gRPC specification.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
