//! `redress healthcheck`: one `grpc.health.v1.Health/Check` call to the local gRPC endpoint,
//! for container health checks.
//!
//! The service image is distroless (no shell, curl or `grpc_health_probe`), so its own binary
//! asks. The answer decides the exit code: 0 only for SERVING; anything else (nothing
//! listening, no answer in time, NOT_SERVING while a service drains, an unknown service name)
//! is an [`Unhealthy`] error and a non-zero exit.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::cli::HealthcheckArgs;

/// Why the endpoint is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("no health answer from {addr} within {timeout:?}")]
    TimedOut { addr: SocketAddr, timeout: Duration },
    #[error("cannot reach the gRPC endpoint at {addr}")]
    Unreachable {
        addr: SocketAddr,
        source: tonic::transport::Error,
    },
    #[error("{} is {status} at {addr}", service_label(service))]
    NotServing {
        addr: SocketAddr,
        service: String,
        status: &'static str,
    },
    /// The call itself failed, e.g. NOT_FOUND for a service the server does not report.
    #[error(
        "the health check of {} at {addr} failed: {code:?} {message}",
        service_label(service)
    )]
    Failed {
        addr: SocketAddr,
        service: String,
        code: tonic::Code,
        message: String,
    },
}

fn service_label(service: &str) -> String {
    if service.is_empty() {
        "the server".to_owned()
    } else {
        format!("service {service}")
    }
}

/// The address to call for a listen address: a wildcard (`0.0.0.0`, `[::]`), which is what a
/// container's `REDRESS_GRPC_ADDR` usually says, means this host's loopback.
pub fn target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}

/// Runs the command: prints `SERVING` and returns when healthy; otherwise prints one line
/// saying why on stderr (with the causes, and no backtrace: container runtimes keep this
/// output as the health log) and exits the process with status 1.
pub async fn run(args: &HealthcheckArgs) {
    match check(args).await {
        Ok(()) => println!("SERVING"),
        Err(unhealthy) => {
            eprintln!("unhealthy: {:#}", anyhow::Error::from(unhealthy));
            std::process::exit(1);
        }
    }
}

/// Asks the endpoint once; `Ok` only when the answer is SERVING. Connecting and the call
/// together take at most `args.timeout`.
///
/// # Errors
/// [`Unhealthy`], saying what was wrong.
pub async fn check(args: &HealthcheckArgs) -> Result<(), Unhealthy> {
    let addr = target(args.grpc_addr);
    match tokio::time::timeout(args.timeout, ask(addr, &args.service)).await {
        Ok(result) => result,
        Err(_) => Err(Unhealthy::TimedOut {
            addr,
            timeout: args.timeout,
        }),
    }
}

async fn ask(addr: SocketAddr, service: &str) -> Result<(), Unhealthy> {
    // No timeouts of the channel's own: `check` bounds connecting and the call together, so
    // that running out of time always reads as `TimedOut`.
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|source| Unhealthy::Unreachable { addr, source })?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| Unhealthy::Unreachable { addr, source })?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|status| Unhealthy::Failed {
            addr,
            service: service.to_owned(),
            code: status.code(),
            message: status.message().to_owned(),
        })?;
    match ServingStatus::try_from(response.into_inner().status) {
        Ok(ServingStatus::Serving) => Ok(()),
        other => Err(Unhealthy::NotServing {
            addr,
            service: service.to_owned(),
            status: other.map_or("an unknown status", |s| s.as_str_name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_called_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:50051".parse().expect("an address");
        let v6: SocketAddr = "[::]:50051".parse().expect("an address");
        let named: SocketAddr = "10.1.2.3:50051".parse().expect("an address");

        assert_eq!(target(v4), "127.0.0.1:50051".parse().expect("an address"));
        assert_eq!(target(v6), "[::1]:50051".parse().expect("an address"));
        assert_eq!(target(named), named);
    }
}
