//! A TCP fault proxy: listens on a loopback port of its own, forwards every connection to one
//! target, and can be switched while it runs between pass-through, added latency, a blackhole,
//! a bandwidth limit, and resetting every open connection.
//!
//! Every connection from a service to PostgreSQL or NATS goes through one of these, so a
//! scenario can break the network between two processes without root, `tc netem` (which this
//! kernel lacks) or toxiproxy (which Debian does not package).
//!
//! * [`Mode::PassThrough`]: bytes are copied as they come.
//! * [`Mode::Latency`]: each chunk read is held for the delay before it is written on, in both
//!   directions, so a request and its answer each pay it once.
//! * [`Mode::Blackhole`]: connections are accepted but nothing is forwarded either way, and no
//!   connection to the target is opened, as in a partition. Nothing is dropped: what was sent
//!   waits in the sockets' buffers and flows again when the mode changes back, as TCP
//!   retransmission would deliver it once a partition heals.
//! * [`Mode::Bandwidth`]: each direction of each connection is paced to the given rate.
//! * [`FaultProxy::reset_all`]: every open connection is closed with a TCP RST on both sides;
//!   new connections are served as the mode says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the bytes it forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    PassThrough,
    Latency(Duration),
    Blackhole,
    /// Bytes per second, per connection and direction.
    Bandwidth(u64),
}

impl Mode {
    /// The name reports use: `pass_through`, `latency_200ms`, `blackhole`, `bandwidth_65536`.
    pub fn label(&self) -> String {
        match self {
            Mode::PassThrough => "pass_through".into(),
            Mode::Latency(delay) => format!("latency_{}ms", delay.as_millis()),
            Mode::Blackhole => "blackhole".into(),
            Mode::Bandwidth(rate) => format!("bandwidth_{rate}"),
        }
    }
}

/// A running proxy; it stops accepting, and closes what it forwards, when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    name: String,
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    resets: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

/// What every connection task shares with the proxy.
#[derive(Clone)]
struct Switches {
    target: SocketAddr,
    mode: watch::Receiver<Mode>,
    resets: watch::Receiver<u64>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target`, in pass-through mode.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(name: &str, target: SocketAddr) -> anyhow::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, mode_rx) = watch::channel(Mode::PassThrough);
        let (resets, resets_rx) = watch::channel(0);
        let accepted = Arc::new(AtomicU64::new(0));
        let switches = Switches {
            target,
            mode: mode_rx,
            resets: resets_rx,
        };
        let counter = Arc::clone(&accepted);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(forward(client, switches.clone()));
            }
        });
        Ok(FaultProxy {
            name: name.to_owned(),
            addr,
            target,
            mode,
            resets,
            accepted,
            accept,
        })
    }

    /// What the proxy stands for, e.g. `complaints->postgres`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Switches every open and future connection to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Closes every open connection with a TCP RST on both sides.
    pub fn reset_all(&self) {
        self.resets.send_modify(|generation| *generation += 1);
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.reset_all();
    }
}

/// Serves one accepted connection until either side closes or the proxy resets it.
async fn forward(client: TcpStream, mut switches: Switches) {
    let generation = *switches.resets.borrow_and_update();
    let mut resets = switches.resets.clone();
    let opened = async {
        open(&mut switches.mode).await;
        TcpStream::connect(switches.target).await
    };
    let upstream = tokio::select! {
        upstream = opened => upstream,
        _ = resets.wait_for(|g| *g != generation) => {
            reset(&client);
            return;
        }
    };
    let Ok(upstream) = upstream else {
        // The target is down: the client sees a reset, as it would connecting to it directly.
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let both = async {
        tokio::join!(
            pump(&mut client_read, &mut upstream_write, switches.mode.clone()),
            pump(&mut upstream_read, &mut client_write, switches.mode.clone()),
        )
    };
    tokio::select! {
        _ = both => {}
        _ = resets.wait_for(|g| *g != generation) => {
            // Whole again: a write half dropped alone would send FIN ahead of the RST.
            if let Ok(client) = client_read.reunite(client_write) {
                reset(&client);
            }
            if let Ok(upstream) = upstream_read.reunite(upstream_write) {
                reset(&upstream);
            }
        }
    }
}

/// Sets a zero linger time, so that closing the socket sends RST instead of FIN.
fn reset(stream: &TcpStream) {
    #[allow(deprecated)] // `set_zero_linger` is not in every tokio 1.x this builds with.
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// Waits while the proxy is a blackhole.
async fn open(mode: &mut watch::Receiver<Mode>) {
    let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
}

/// Copies one direction as the mode says, until end of file or an error; then half-closes.
async fn pump(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        open(&mut mode).await;
        // Under a bandwidth limit, a tenth of a second's worth at a time.
        let limit = match *mode.borrow() {
            Mode::Bandwidth(rate) => usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1),
            _ => usize::MAX,
        }
        .min(buffer.len());
        let read = match from.read(&mut buffer[..limit]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // The mode may have changed while the read waited: it applies to these bytes.
        open(&mut mode).await;
        let current = *mode.borrow();
        match current {
            Mode::Latency(delay) => tokio::time::sleep(delay).await,
            Mode::Bandwidth(rate) => {
                let seconds = read as f64 / rate.max(1) as f64;
                tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            }
            Mode::PassThrough | Mode::Blackhole => {}
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::ErrorKind;
    use std::time::Instant;

    /// An echo server on a free port.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
        stream.write_all(message).await.unwrap();
        let mut answer = vec![0; message.len()];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn pass_through_forwards_both_ways() {
        let proxy = FaultProxy::start("echo", echo().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();

        let answer = round_trip(&mut stream, b"hello through the proxy").await;

        assert_eq!(answer, b"hello through the proxy");
        assert_eq!(proxy.accepted(), 1);
    }

    #[tokio::test]
    async fn latency_delays_each_direction() {
        let proxy = FaultProxy::start("echo", echo().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut stream, b"warm").await;
        proxy.set(Mode::Latency(Duration::from_millis(150)));

        let started = Instant::now();
        let answer = round_trip(&mut stream, b"slow").await;

        assert_eq!(answer, b"slow");
        // The request and the echo each wait once.
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_blackhole_forwards_nothing_until_it_is_lifted() {
        let proxy = FaultProxy::start("echo", echo().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open, b"before").await;
        proxy.set(Mode::Blackhole);

        // Arrange: one connection opened before, one accepted while the hole is there.
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        open.write_all(b"held").await.unwrap();
        new.write_all(b"also").await.unwrap();
        let mut buffer = [0; 4];
        let silent = tokio::time::timeout(Duration::from_millis(500), open.read(&mut buffer)).await;
        let silent_new =
            tokio::time::timeout(Duration::from_millis(100), new.read(&mut buffer)).await;
        assert!(silent.is_err(), "nothing may come back through a blackhole");
        assert!(
            silent_new.is_err(),
            "nothing may come back through a blackhole"
        );

        // Act
        proxy.set(Mode::PassThrough);

        // Assert: what was sent into the hole arrives, nothing is lost.
        open.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"held");
        new.read_exact(&mut buffer).await.unwrap();
        assert_eq!(&buffer, b"also");
    }

    #[tokio::test]
    async fn reset_all_closes_open_connections_and_serves_new_ones() {
        let proxy = FaultProxy::start("echo", echo().await).await.unwrap();
        let mut first = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut first, b"one").await;

        proxy.reset_all();

        let mut buffer = [0; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buffer))
            .await
            .expect("a reset connection does not hang");
        match read {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            Ok(n) => panic!("expected a reset, read {n} bytes"),
        }
        let mut second = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut second, b"two").await, b"two");
    }

    #[tokio::test]
    async fn bandwidth_paces_what_is_forwarded() {
        let proxy = FaultProxy::start("echo", echo().await).await.unwrap();
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set(Mode::Bandwidth(32 * 1024));
        let (mut read, mut write) = stream.into_split();
        let message: Vec<u8> = (0..48 * 1024).map(|i| (i % 251) as u8).collect();

        let started = Instant::now();
        let sent = message.clone();
        let writer = tokio::spawn(async move { write.write_all(&sent).await.unwrap() });
        let mut answer = vec![0; message.len()];
        read.read_exact(&mut answer).await.unwrap();
        writer.await.unwrap();

        assert_eq!(answer, message, "pacing changes nothing in the bytes");
        // 48 KiB at 32 KiB/s, paced on the way there and on the way back.
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_proxy_to_a_target_that_is_down_resets_its_clients() {
        let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = unused.local_addr().unwrap();
        drop(unused);
        let proxy = FaultProxy::start("down", target).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();

        let mut buffer = [0; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the proxy answers a connection it cannot forward");

        assert!(
            matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{read:?}"
        );
    }
}
