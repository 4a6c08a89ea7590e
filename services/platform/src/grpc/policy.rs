//! Authorization: which roles may call which RPC. Deny by default: a method the policy does not
//! name is refused to every authenticated caller.

use std::collections::{BTreeSet, HashMap};

use super::role::Role;

/// The platform services [`GrpcServer`](super::GrpcServer) registers; always public, so probes
/// and `grpcurl` work without a token.
pub(crate) const PLATFORM_PUBLIC_METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Public,
    Roles(BTreeSet<Role>),
}

/// Maps full method paths (`/redress.testing.v1.Echo/Echo`) to the roles allowed to call them.
///
/// ```
/// use platform::grpc::{AccessPolicy, Role};
/// let policy = AccessPolicy::new()
///     .allow("/redress.testing.v1.Echo/Echo", [Role::Operator, Role::Auditor])
///     .public("/redress.testing.v1.Echo/PublicEcho");
/// assert!(policy.permits("/redress.testing.v1.Echo/Echo", Role::Auditor));
/// assert!(!policy.permits("/redress.testing.v1.Echo/Echo", Role::Hmci));
/// assert!(!policy.permits("/redress.testing.v1.Echo/Unlisted", Role::Operator));
/// ```
#[derive(Clone, Debug, Default)]
pub struct AccessPolicy {
    rules: HashMap<String, Rule>,
}

impl AccessPolicy {
    /// An empty policy: every method is denied.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `roles` to call `method`. Repeated calls for the same method add roles. Has no
    /// effect on a method already marked [`Self::public`].
    #[must_use]
    pub fn allow(mut self, method: &str, roles: impl IntoIterator<Item = Role>) -> Self {
        let rule = self
            .rules
            .entry(method.to_owned())
            .or_insert_with(|| Rule::Roles(BTreeSet::new()));
        if let Rule::Roles(allowed) = rule {
            allowed.extend(roles);
        }
        self
    }

    /// Marks `method` callable without a token. Public methods are not authenticated at all,
    /// so their handlers see no [`Principal`](super::Principal).
    #[must_use]
    pub fn public(mut self, method: &str) -> Self {
        self.rules.insert(method.to_owned(), Rule::Public);
        self
    }

    /// Whether `method` is callable without a token.
    #[must_use]
    pub fn is_public(&self, method: &str) -> bool {
        matches!(self.rules.get(method), Some(Rule::Public))
    }

    /// Whether a caller holding `role` may call `method`. True for public methods.
    #[must_use]
    pub fn permits(&self, method: &str, role: Role) -> bool {
        match self.rules.get(method) {
            Some(Rule::Public) => true,
            Some(Rule::Roles(allowed)) => allowed.contains(&role),
            None => false,
        }
    }

    /// Whether the policy names `method` at all, public or not.
    #[must_use]
    pub fn knows(&self, method: &str) -> bool {
        self.rules.contains_key(method)
    }

    /// Adds the platform's own public methods (health and both reflection versions).
    pub(crate) fn with_platform_services(self) -> Self {
        PLATFORM_PUBLIC_METHODS
            .into_iter()
            .fold(self, |policy, method| policy.public(method))
    }

    /// The key the request metrics use for `method`: the method itself when the policy names
    /// it, otherwise a fixed placeholder, so unknown paths sent by clients cannot grow the
    /// label set without bound.
    pub(crate) fn metric_label<'a>(&self, method: &'a str) -> &'a str {
        if self.knows(method) {
            method
        } else {
            "unknown"
        }
    }
}
