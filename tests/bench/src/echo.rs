//! `peer:tonic_echo`: the bare gRPC ceiling. A tonic unary echo (`/bench.Echo/Unary`, 500
//! payload bytes in and the same out) with nothing else in the server: no layers, no
//! tracing, no limits. It runs as a child process (`redress-bench echo-server`) on a
//! 2-worker runtime on 127.0.0.1, port 0, like the project's server.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::child::{self, ChildProcess};
use crate::load;
use crate::report::{PAYLOAD_BYTES, Summary, log};
use crate::run::Ctx;

/// The generated echo schema (`proto/echo.proto`).
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
mod pb {
    tonic::include_proto!("bench");
}

pub(crate) use pb::EchoRequest;
pub(crate) use pb::echo_client::EchoClient;

/// The `impl` name of the peer.
pub(crate) const PEER: &str = "peer:tonic_echo";

#[derive(Clone, Copy, Debug)]
struct Bare;

#[tonic::async_trait]
impl pb::echo_server::Echo for Bare {
    async fn unary(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<pb::EchoReply>, Status> {
        Ok(Response::new(pb::EchoReply {
            payload: request.into_inner().payload,
        }))
    }
}

/// `redress-bench echo-server <port file>`: serves the echo until stdin closes, after writing
/// the port it listens on to the port file.
pub(crate) fn run_child() -> ExitCode {
    child::exit_with_parent();
    let Some(port_file) = std::env::args_os().nth(2) else {
        eprintln!("usage: redress-bench echo-server <port file>");
        return ExitCode::from(2);
    };
    let serve = async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        // Written whole under another name first, so the parent never reads half a number.
        let partial = format!("{}.partial", port_file.to_string_lossy());
        std::fs::write(&partial, port.to_string())?;
        std::fs::rename(&partial, &port_file)?;
        // No delay on accepted sockets, as the project's `GrpcServer` sets it.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .add_service(pb::echo_server::EchoServer::new(Bare))
            .serve_with_incoming(incoming)
            .await?;
        anyhow::Ok(())
    };
    let result = child::server_runtime()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(serve));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A running echo peer.
#[derive(Debug)]
pub(crate) struct EchoServer {
    addr: SocketAddr,
    process: ChildProcess,
    _dir: tempfile::TempDir,
}

impl EchoServer {
    /// Starts the child and waits until it listens.
    pub(crate) async fn start() -> anyhow::Result<EchoServer> {
        let dir = tempfile::Builder::new()
            .prefix("redress-bench-echo-")
            .tempdir()?;
        let port_file = dir.path().join("port");
        let mut process = ChildProcess::spawn(
            "echo server",
            vec![OsString::from(child::ECHO), port_file.clone().into()],
            false,
            &dir.path().join("stdout"),
            &dir.path().join("stderr"),
        )?;
        let port: u16 = process
            .wait_for(Duration::from_secs(10), || {
                std::fs::read_to_string(&port_file)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .await?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        log!("echo server: listening on {addr}");
        Ok(EchoServer {
            addr,
            process,
            _dir: dir,
        })
    }

    /// A new HTTP/2 connection to the server.
    pub(crate) async fn channel(&self) -> anyhow::Result<Channel> {
        connect(self.addr).await
    }

    /// CPU seconds the server process has used.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        self.process.cpu_seconds()
    }
}

/// A new HTTP/2 connection to `addr`, made the same way for the project and every gRPC peer.
pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    Ok(channel)
}

/// The request of every echo: [`PAYLOAD_BYTES`] payload bytes.
pub(crate) fn request_payload() -> Vec<u8> {
    vec![b'x'; PAYLOAD_BYTES]
}

/// One echo call; fails unless the same number of bytes comes back.
pub(crate) async fn call(client: &mut EchoClient<Channel>, payload: &[u8]) -> anyhow::Result<()> {
    let reply = client
        .unary(EchoRequest {
            payload: payload.to_vec(),
        })
        .await?
        .into_inner();
    anyhow::ensure!(
        reply.payload.len() == payload.len(),
        "the echo returned {} bytes of {}",
        reply.payload.len(),
        payload.len()
    );
    Ok(())
}

/// The bare echo at `c` in flight over one connection, as `bench`'s peer.
pub(crate) async fn closed_loop(
    ctx: &Ctx,
    echo: &EchoServer,
    bench: &str,
    c: usize,
) -> anyhow::Result<Summary> {
    let s = &ctx.settings;
    let what = format!("{bench} {PEER} c={c}");
    log!("{what}");
    let client = EchoClient::new(echo.channel().await?);
    let payload = std::sync::Arc::new(request_payload());
    let load = load::closed_loop(&what, c, s.run_warmup, s.duration, move || {
        let mut client = client.clone();
        let payload = payload.clone();
        async move { call(&mut client, &payload).await }
    });
    load::metered(ctx, load, Some(&|| echo.cpu_seconds()), false).await
}
