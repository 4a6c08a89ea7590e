//! `redress token issue`: a bearer token for any role, signed with a development key, for
//! trying the APIs on a laptop (`redress up` trusts the key it keeps in its data directory).
//! Production tokens come from the identity provider.

use std::time::Duration;

use anyhow::Context as _;
use platform::grpc::{Role, TokenIssuer};

use crate::cli::TokenIssueArgs;

/// Prints the token (without the `Bearer ` prefix) on `out`.
///
/// # Errors
/// When the role is unknown, a provider role has no provider (or another role has one), or the
/// key cannot be read.
pub fn issue(args: &TokenIssueArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(|_| {
        anyhow::anyhow!(
            "unknown role {:?}; one of: {}",
            args.role,
            Role::ALL.map(Role::as_str).join(", ")
        )
    })?;
    anyhow::ensure!(
        role.acts_for_provider() == args.provider.is_some(),
        "role {role} {}",
        if role.acts_for_provider() {
            "acts for a provider: give --provider"
        } else {
            "does not act for a provider: leave out --provider"
        }
    );
    let pem = std::fs::read_to_string(&args.signing_key).with_context(|| {
        format!(
            "Failed to read the signing key {} (`redress up` creates it in its data directory)",
            args.signing_key.display()
        )
    })?;
    let issuer = TokenIssuer::new(&pem.into(), &args.kid, &args.issuer, &args.audience)?;
    let subject = args
        .subject
        .clone()
        .unwrap_or_else(|| format!("dev:{role}"));
    let token = issuer.issue(
        &subject,
        role,
        args.provider.as_deref(),
        Duration::from_secs(args.ttl_seconds),
    )?;
    writeln!(out, "{token}")?;
    Ok(())
}
