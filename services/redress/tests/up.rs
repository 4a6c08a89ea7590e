//! `redress up` as a newcomer runs it: the whole backend in one process with the demo loaded,
//! read by a Python client generated from `proto/` with grpcio, and `redress status` showing
//! every service healthy; and private PostgreSQL and NATS servers started when nothing answers
//! at the configured addresses.

#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use platform::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// A running `redress up`, stopped with SIGTERM (so it stops what it started) when dropped.
struct Up {
    child: Child,
    stderr: PathBuf,
    address: String,
    data_dir: Option<tempfile::TempDir>,
}

impl Up {
    fn start(database_url: &str, nats_url: &str, demo: bool) -> Up {
        let data_dir = tempfile::tempdir().unwrap();
        // The private PostgreSQL runs as the `postgres` user when tests run as root.
        std::fs::set_permissions(data_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Up::start_in(data_dir, database_url, nats_url, demo)
    }

    /// Starts `redress up` on the data directory an earlier run left.
    fn start_in(data_dir: tempfile::TempDir, database_url: &str, nats_url: &str, demo: bool) -> Up {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let stderr = data_dir.path().join("stderr.log");
        let mut command = Command::new(BIN);
        command.arg("up");
        if demo {
            command.arg("--demo");
        }
        let child = command
            .env("DATABASE_URL", database_url)
            .env("NATS_URL", nats_url)
            .env("REDRESS_DATA_DIR", data_dir.path().join("data"))
            .env("REDRESS_GRPC_ADDR", &address)
            .env("REDRESS_LOG_FORMAT", "json")
            .env("REDRESS_DB_MAX_CONNECTIONS", "4")
            .env_remove("REDRESS_METRICS_ADDR")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Up {
            child,
            stderr,
            address,
            data_dir: Some(data_dir),
        }
    }

    fn data(&self) -> PathBuf {
        self.data_dir.as_ref().unwrap().path().join("data")
    }

    fn stderr(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.stderr)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// Waits until stderr says `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.stderr().contains(needle) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("redress up exited with {status}:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "redress up did not say {needle:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redress(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "redress {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A URL nothing answers at.
fn nothing_at(scheme: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("{scheme}://127.0.0.1:{port}")
}

fn python_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/demo_client.py")
}

#[tokio::test]
async fn up_with_the_demo_serves_a_generated_python_client_and_status_shows_every_service_healthy()
{
    // Arrange / Act: PostgreSQL at its address; no NATS where configured, so `up` starts one.
    let db = TestDb::create().await.unwrap();
    let nats = nothing_at("nats");
    let mut up = Up::start(db.url(), &nats, true);
    up.wait_for("Demo loaded", Duration::from_secs(180));
    let stderr = up.stderr();
    assert!(stderr.contains("started a private server"), "{stderr}");

    // Assert: a client generated from proto/ reads the demo.
    let loaded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(up.data().join("demo.json")).unwrap()).unwrap();
    let key = up.data().join("keys/dev-private.pem");
    let token = redress(
        &[
            "token",
            "issue",
            "--role",
            "auditor",
            "--signing-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    // The complaint shows its escalation once the complaints context has read it back from
    // the escalation stream (moments after the demo's last step).
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let output = Command::new("python3")
            .arg(python_client())
            .args([
                up.address.as_str(),
                token.trim(),
                loaded["complaint_a"].as_str().unwrap(),
                loaded["review"].as_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the Python client failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        if seen["complaint"]["status"] == "COMPLAINT_STATUS_ESCALATED" || Instant::now() > deadline
        {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let services: Vec<&str> = seen["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for service in [
        "redress.complaints.v1.Complaints",
        "redress.complaints.v1.Inspections",
        "redress.escalation.v1.Escalations",
        "redress.learning_reviews.v1.LearningReviews",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&service), "{service} in {services:?}");
    }
    assert_eq!(seen["health"], "SERVING");
    assert_eq!(seen["complaint"]["provider_id"], "URN-DEMO-100001");
    assert_eq!(seen["complaint"]["status"], "COMPLAINT_STATUS_ESCALATED");
    assert_eq!(seen["review"]["status"], "REVIEW_STATUS_REVIEWER_APPOINTED");

    // `redress status`: every service serving, every reader caught up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report: serde_json::Value = serde_json::from_str(&redress(
            &["status", "--json", "--grpc-addr", &up.address],
            &[("DATABASE_URL", db.url())],
        ))
        .unwrap();
        let services = report["services"].as_array().unwrap();
        assert_eq!(services.len(), 3);
        let healthy = services.iter().all(|s| s["health"] == "SERVING");
        let caught_up = services.iter().all(|s| {
            s["relays"]
                .as_array()
                .unwrap()
                .iter()
                .chain(s["projections"].as_array().unwrap())
                .all(|lag| lag["events"] == 0)
        });
        if healthy && caught_up {
            assert_eq!(
                report["services"][1]["feed"]["position"], 7,
                "the demo's escalation put seven messages on the feed"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status never settled: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Loading the demo again changes nothing.
    let events = |db: &TestDb| {
        let url = db.url().to_owned();
        async move {
            let pool = platform::pg::connect(&url, "complaints", 1).await.unwrap();
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            count
        }
    };
    let before = events(&db).await;
    up.stop();
    let data_dir = up.data_dir.take().unwrap();
    let mut again = Up::start_in(data_dir, db.url(), &nats, true);
    again.wait_for("Demo loaded", Duration::from_secs(180));
    assert_eq!(events(&db).await, before);
}

#[tokio::test]
async fn up_starts_private_postgresql_and_nats_when_nothing_answers_and_stops_them() {
    let mut up = Up::start(
        &format!("{}/redress", nothing_at("postgres")),
        &nothing_at("nats"),
        false,
    );
    up.wait_for("Redress is serving", Duration::from_secs(180));
    let stderr = up.stderr();
    assert!(
        stderr.contains("PostgreSQL: nothing answered")
            && stderr.contains("NATS: nothing answered"),
        "{stderr}"
    );
    let health = Command::new(BIN)
        .args(["healthcheck", "--grpc-addr", &up.address])
        .status()
        .unwrap();
    assert!(
        health.success(),
        "the backend on private servers is serving"
    );
    let postmaster = up.data().join("postgres/postmaster.pid");
    assert!(
        postmaster.is_file(),
        "the private PostgreSQL runs in the data directory"
    );
    up.stop();
    assert!(
        !postmaster.exists(),
        "stopping `up` stopped the private PostgreSQL"
    );
}
