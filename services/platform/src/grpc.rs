//! The gRPC server plumbing every Redress service stands on: limits, health, reflection,
//! authentication, per-RPC authorization, request spans and metrics, and the error helpers
//! handlers use to build statuses.
//!
//! A service builds its generated server, applies the message limits with [`limited!`], adds it
//! to a [`GrpcServer`] together with an [`AccessPolicy`] naming the roles allowed on each RPC, and
//! calls [`GrpcServer::serve`] with an already-bound listener and a shutdown future. Every
//! request passes one tower layer that authenticates the bearer token, checks the policy (deny
//! by default), opens a `grpc.request` span and records the request metrics; handlers read the
//! caller with [`principal`].
//!
//! # Usage
//! ```no_run
//! use platform::grpc::{self, AccessPolicy, Authenticator, GrpcServer, Role, ServerConfig};
//! use proto::testing::v1::echo_server::EchoServer;
//! # use proto::testing::v1::{echo_server::Echo, EchoReply, EchoRequest};
//! # use tonic::{Request, Response, Status};
//! # struct EchoService;
//! # #[tonic::async_trait]
//! # impl Echo for EchoService {
//! #     async fn echo(&self, r: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
//! #         let caller = grpc::principal(&r)?;
//! #         Ok(Response::new(EchoReply { subject: caller.subject.clone(), ..Default::default() }))
//! #     }
//! #     async fn public_echo(&self, _: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
//! #         Ok(Response::new(EchoReply::default()))
//! #     }
//! # }
//! # async fn run(public_pem: &str) -> anyhow::Result<()> {
//! let config = ServerConfig::default();
//! let auth = Authenticator::new("https://identity.redress", "redress", [("2026-01", public_pem)])?;
//! let policy = AccessPolicy::new()
//!     .allow("/redress.testing.v1.Echo/Echo", [Role::Operator, Role::Auditor])
//!     .public("/redress.testing.v1.Echo/PublicEcho");
//! let server = GrpcServer::new(config.clone(), auth, policy)
//!     .add_service(grpc::limited!(EchoServer::new(EchoService), &config));
//! let health = server.health(); // `set_not_serving()` while PostgreSQL or NATS is lost
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:50051").await?;
//! server.serve(listener, grpc::shutdown_signal()).await?;
//! # drop(health); Ok(()) }
//! ```
//!
//! # Layout
//! * `server`: [`ServerConfig`], [`GrpcServer`] and the [`Health`] handle. Start here.
//! * `auth`: [`Authenticator`] (EdDSA JWT bearer tokens), [`Principal`], [`principal`].
//! * `role`: [`Role`], the actors of domain research §5.2.
//! * `token`: [`TokenIssuer`] and [`generate_dev_keypair`], for tests and `redress token issue`.
//! * `policy`: [`AccessPolicy`], the role set allowed on each full method path.
//! * `layer`: the tower layer that applies `auth` and `policy`, records spans and metrics, and
//!   writes an audit entry (target [`AUDIT_TARGET`]) for every refusal a client or attacker causes.
//! * [`errors`]: rich statuses (`google.rpc.BadRequest`, `google.rpc.ErrorInfo`) and `internal`.
//! * [`parse`]: [`parse::FieldViolations`] and the field validators every parse step uses.

mod auth;
pub mod errors;
mod layer;
pub mod parse;
mod policy;
mod role;
mod server;
mod token;

pub use auth::{AuthError, Authenticator, KeyError, Principal, principal};
pub use layer::AUDIT_TARGET;
pub use policy::AccessPolicy;
pub use role::{Role, UnknownRole};
pub use server::{Error, GrpcServer, Health, ServerConfig};
pub use token::{TokenError, TokenIssuer, generate_dev_keypair};

/// Applies the message size limits of a [`ServerConfig`] to a generated tonic server.
///
/// The limits live on each generated `XServer` type rather than on a trait, so this expands to
/// `server.max_decoding_message_size(..).max_encoding_message_size(..)`; see the
/// [module](crate::grpc) example.
#[doc(hidden)]
#[macro_export]
macro_rules! __grpc_limited {
    ($server:expr, $config:expr) => {{
        let config: &$crate::grpc::ServerConfig = $config;
        $server
            .max_decoding_message_size(config.max_decoding_message_size)
            .max_encoding_message_size(config.max_encoding_message_size)
    }};
}
#[doc(inline)]
pub use crate::__grpc_limited as limited;

/// Resolves when the process receives SIGTERM or Ctrl-C (SIGINT), for `main` to pass to
/// [`GrpcServer::serve`].
///
/// If a signal handler cannot be installed the failure is logged and that signal is ignored;
/// the other one still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("received Ctrl-C, shutting down"),
            Err(error) => {
                tracing::error!(%error, "failed to listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                tracing::info!("received SIGTERM, shutting down");
            }
            Err(error) => {
                tracing::error!(%error, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
