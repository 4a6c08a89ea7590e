//! The bounded contexts this binary runs, with their PostgreSQL schemas and JetStream names.

use clap::ValueEnum;

/// One bounded context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Complaints,
    Escalation,
    LearningReviews,
}

impl Service {
    pub const ALL: [Service; 3] = [
        Service::Complaints,
        Service::Escalation,
        Service::LearningReviews,
    ];

    /// The service's name on the command line, in subjects and in `ce-source`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Complaints => "complaints",
            Service::Escalation => "escalation",
            Service::LearningReviews => "learning-reviews",
        }
    }

    /// The PostgreSQL schema that holds the service's event store and read models.
    pub fn schema(self) -> &'static str {
        match self {
            Service::Complaints => "complaints",
            Service::Escalation => "escalation",
            Service::LearningReviews => "learning_reviews",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The services a command selects: the listed ones, or all when none is listed.
pub fn selected(listed: &[Service]) -> Vec<Service> {
    if listed.is_empty() {
        Service::ALL.to_vec()
    } else {
        listed.to_vec()
    }
}
