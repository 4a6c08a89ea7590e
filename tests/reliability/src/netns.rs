//! A network namespace of the suite's own, for a real partition (S7): a host of its own on this
//! machine, reached from the root namespace over a veth pair on a /30 of 10.213.0.0/16, where
//! nftables drops a port's packets — in and out, silently, as a cut cable or a dead switch would,
//! not the resets a closed port gives.
//!
//! It needs root (`ip netns`, veth, `nft`), which the suite's machines give. Names carry the
//! suite's process id and a counter, so runs side by side never share one; the namespace is
//! deleted when dropped, and its end of the veth pair with it.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context as _;

/// The nftables table a partition adds inside the namespace.
const TABLE: &str = "redress_partition";

/// A network namespace with a veth link to the root namespace. Deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_link: String,
    inside: Ipv4Addr,
}

impl Netns {
    /// Creates the namespace, its veth pair and addresses, and brings both ends and its
    /// loopback up.
    ///
    /// # Errors
    /// When `ip` fails (without root, say) or no free /30 is found.
    pub fn create() -> anyhow::Result<Netns> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("redress-{pid}-{n}");
        // Interface names are at most 15 bytes.
        let tag = format!("{:06x}", (pid.wrapping_mul(131) + n) & 0xff_ffff);
        let host_link = format!("rh{tag}");
        let inner_link = format!("rn{tag}");
        ip(&["netns", "add", &name])?;
        let mut netns = Netns {
            name,
            host_link,
            inside: Ipv4Addr::UNSPECIFIED,
        };
        ip(&[
            "link",
            "add",
            &netns.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
        ])?;
        ip(&["link", "set", &inner_link, "netns", &netns.name])?;
        let taken = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["-4", "-o", "addr", "show"])
                .output()
                .context("Failed to run ip")?
                .stdout,
        )
        .into_owned();
        // A /30 of 10.213.0.0/16 that no interface of this namespace uses yet.
        let base = (1..16_384u32)
            .map(|k| (pid.wrapping_add(n).wrapping_add(k) % 16_383 + 1) * 4)
            .find(|base| {
                let host = Ipv4Addr::new(10, 213, (base >> 8) as u8, (base & 0xff) as u8 + 1);
                !taken.contains(&format!(" {host}/"))
            })
            .context("no free /30 in 10.213.0.0/16")?;
        let host = Ipv4Addr::new(10, 213, (base >> 8) as u8, (base & 0xff) as u8 + 1);
        netns.inside = Ipv4Addr::new(10, 213, (base >> 8) as u8, (base & 0xff) as u8 + 2);
        ip(&[
            "addr",
            "add",
            &format!("{host}/30"),
            "dev",
            &netns.host_link,
        ])?;
        ip(&["link", "set", &netns.host_link, "up"])?;
        netns.exec_ip(&[
            "addr",
            "add",
            &format!("{}/30", netns.inside),
            "dev",
            &inner_link,
        ])?;
        netns.exec_ip(&["link", "set", &inner_link, "up"])?;
        netns.exec_ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The namespace's name (`ip netns exec <name> …`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's address on the veth link, where its servers listen.
    pub fn address(&self) -> IpAddr {
        IpAddr::V4(self.inside)
    }

    /// A command run inside the namespace: `ip netns exec <name> <program>`. `ip` execs the
    /// program, so the child's process id is the program's own.
    pub fn command(&self, program: &std::path::Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Drops every TCP packet to or from `port` inside the namespace, until
    /// [`Netns::heal`]. Connections across stay open on both sides and hear nothing.
    ///
    /// # Errors
    /// When `nft` fails or the namespace is partitioned already.
    pub fn partition(&self, port: u16) -> anyhow::Result<()> {
        let rules = format!(
            "table inet {TABLE} {{\n\
             \x20 chain input {{ type filter hook input priority 0; policy accept; tcp dport {port} drop; }}\n\
             \x20 chain output {{ type filter hook output priority 0; policy accept; tcp sport {port} drop; }}\n\
             }}\n"
        );
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), rules)?;
        run(Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f"])
            .arg(file.path()))
    }

    /// Removes the partition's rules.
    ///
    /// # Errors
    /// When `nft` fails, as when there is no partition to heal.
    pub fn heal(&self) -> anyhow::Result<()> {
        run(Command::new("ip").args([
            "netns", "exec", &self.name, "nft", "delete", "table", "inet", TABLE,
        ]))
    }

    fn exec_ip(&self, args: &[&str]) -> anyhow::Result<()> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name, "ip"])
            .args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys the inner end, and with it the pair.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "delete", &self.host_link])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run(Command::new("ip").args(args))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("Failed to run {command:?}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Where the suite can make namespaces: as root, with iproute2.
    fn can_make_namespaces() -> bool {
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .is_ok_and(|o| o.status.success())
            && root()
    }

    fn root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
            status
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
    }

    #[tokio::test]
    async fn a_partition_silences_the_port_and_healing_restores_it() {
        assert!(
            can_make_namespaces(),
            "the reliability suite runs as root, with iproute2 and nftables"
        );
        let netns = Netns::create().unwrap();
        let address = netns.address();
        let mut listener = netns
            .command(std::path::Path::new("python3"))
            .args([
                "-c",
                &format!(
                    "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{address}',4222))\ns.listen()\nprint('ready',flush=True)\nwhile True:\n c,_=s.accept()\n c.sendall(b'hi')\n c.close()"
                ),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut ready = String::new();
        tokio::io::AsyncBufReadExt::read_line(
            &mut tokio::io::BufReader::new(listener.stdout.take().unwrap()),
            &mut ready,
        )
        .await
        .unwrap();
        let to = std::net::SocketAddr::new(address, 4222);
        let connect = || {
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                tokio::net::TcpStream::connect(to),
            )
        };
        assert!(connect().await.is_ok_and(|c| c.is_ok()), "reachable before");

        netns.partition(4222).unwrap();
        assert!(
            connect().await.is_err(),
            "a connect hangs, unanswered, while partitioned"
        );
        netns.heal().unwrap();
        assert!(
            connect().await.is_ok_and(|c| c.is_ok()),
            "reachable again once healed"
        );
        assert!(netns.heal().is_err(), "nothing left to heal");
    }
}
