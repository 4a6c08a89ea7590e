//! A running service, a client, tokens, and the Arrange steps the inspection tests share.

use complaints::testing::{TestApp, spawn_app};
use jiff::Timestamp;
use platform::grpc::Role;
use proto::complaints::v1;
use proto::complaints::v1::inspections_client::InspectionsClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;
use uuid::Uuid;

/// The provider the test inspections are of.
pub(crate) const PROVIDER: &str = "provider-1";
/// The lead inspector of the test inspections.
pub(crate) const LEAD: &str = "lead-1";
/// A team inspector of the test inspections.
pub(crate) const TEAM: &str = "team-2";

pub(crate) struct Api {
    pub(crate) app: TestApp,
    pub(crate) client: InspectionsClient<Channel>,
}

impl Api {
    pub(crate) async fn spawn() -> Api {
        let app = spawn_app().await;
        let client = InspectionsClient::connect(app.address.clone())
            .await
            .expect("Failed to connect to the service.");
        Api { app, client }
    }

    /// `message` with a bearer token for `role` (acting for [`PROVIDER`] when a provider role).
    pub(crate) fn as_role<T>(&self, role: Role, message: T) -> Request<T> {
        let provider = role.acts_for_provider().then_some(PROVIDER);
        self.with_token(&self.app.token(role, provider), message)
    }

    /// `message` with `token` (which carries its `Bearer ` prefix) as its authorization.
    pub(crate) fn with_token<T>(&self, token: &str, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", token.parse().expect("a valid header"));
        request
    }

    pub(crate) fn system<T>(&self, message: T) -> Request<T> {
        self.as_role(Role::InspectionSystem, message)
    }

    pub(crate) fn provider<T>(&self, message: T) -> Request<T> {
        self.as_role(Role::ProviderRepresentative, message)
    }

    pub(crate) fn set_now(&self, at: &str) {
        self.app.clock().set(instant(at));
    }

    /// How many events the service has stored.
    pub(crate) async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.app.context.store.pool())
            .await
            .expect("Failed to count events.")
    }

    /// The stored event types, oldest first, without the package prefix.
    pub(crate) async fn event_types(&self) -> Vec<String> {
        let types: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM events ORDER BY transaction_id, position")
                .fetch_all(self.app.context.store.pool())
                .await
                .expect("Failed to read events.");
        types
            .into_iter()
            .map(|t| t.trim_start_matches("redress.complaints.v1.").to_owned())
            .collect()
    }

    /// Notifies a schools inspection starting on `starts_on`, notified a week earlier.
    pub(crate) async fn notified(&mut self, starts_on: &str) -> Uuid {
        let id = Uuid::now_v7();
        let notified_at = format!("{starts_on}T09:00:00Z")
            .parse::<Timestamp>()
            .expect("a valid time")
            .checked_sub(jiff::SignedDuration::from_hours(24 * 7))
            .expect("in range");
        let request = self.system(v1::RecordInspectionNotifiedRequest {
            request_id: format!("notify-{id}"),
            inspection_id: id.to_string(),
            provider_id: PROVIDER.into(),
            remit: v1::Remit::Schools as i32,
            lead_inspector_ref: LEAD.into(),
            team_inspector_refs: vec![TEAM.into()],
            on_site_starts_on: starts_on.into(),
            occurred_at: Some(complaints::domain::timestamp(notified_at)),
        });
        self.client
            .record_inspection_notified(request)
            .await
            .expect("Failed to notify the inspection.");
        id
    }

    pub(crate) async fn on_site_started(&mut self, id: Uuid, at: &str) {
        let request = self.system(v1::RecordOnSiteStartedRequest {
            request_id: format!("start-{id}-{at}"),
            inspection_id: id.to_string(),
            occurred_at: ts(at),
        });
        self.client
            .record_on_site_started(request)
            .await
            .expect("Failed to start on-site work.");
    }

    pub(crate) async fn on_site_ended(&mut self, id: Uuid, last: &str, at: &str) {
        let request = self.system(v1::RecordOnSiteEndedRequest {
            request_id: format!("end-{id}"),
            inspection_id: id.to_string(),
            last_onsite_date: last.into(),
            occurred_at: ts(at),
        });
        self.client
            .record_on_site_ended(request)
            .await
            .expect("Failed to end on-site work.");
    }

    /// A notified inspection whose on-site work ran from `first` to `last` (both `YYYY-MM-DD`),
    /// recorded at 17:00 UTC on the last day; the clock is left there.
    pub(crate) async fn inspected(&mut self, first: &str, last: &str) -> Uuid {
        self.set_now(&format!("{first}T08:00:00Z"));
        let id = self.notified(first).await;
        self.on_site_started(id, &format!("{first}T08:00:00Z"))
            .await;
        let end = format!("{last}T17:00:00Z");
        self.set_now(&end);
        self.on_site_ended(id, last, &end).await;
        id
    }

    /// An inspection that ended yesterday and a concern about it raised this morning: their
    /// ids.
    pub(crate) async fn raised_concern(&mut self) -> (Uuid, String) {
        let id = self.inspected("2025-06-10", "2025-06-11").await;
        self.set_now("2025-06-12T09:30:00+01:00");
        let concern_id = self
            .client
            .clone()
            .raise_concern(self.raise(
                Role::ProviderRepresentative,
                id,
                v1::ConcernChannel::DayAfterContact,
                "raise-1",
            ))
            .await
            .expect("raised")
            .into_inner()
            .concern_id;
        (id, concern_id)
    }

    pub(crate) fn raise(
        &self,
        role: Role,
        id: Uuid,
        channel: v1::ConcernChannel,
        request_id: &str,
    ) -> Request<v1::RaiseConcernRequest> {
        self.as_role(
            role,
            v1::RaiseConcernRequest {
                request_id: request_id.into(),
                inspection_id: id.to_string(),
                channel: channel as i32,
                topic: v1::ConcernTopic::InspectorConduct as i32,
                detail: "The inspectors did not look at our new curriculum plans.".into(),
                accompanied: false,
            },
        )
    }
}

/// A notification of inspection `id` of the test provider, with its lead and no team.
pub(crate) fn notification(
    request_id: &str,
    id: &str,
    starts_on: &str,
    occurred_at: &str,
) -> v1::RecordInspectionNotifiedRequest {
    v1::RecordInspectionNotifiedRequest {
        request_id: request_id.into(),
        inspection_id: id.into(),
        provider_id: PROVIDER.into(),
        remit: v1::Remit::Schools as i32,
        lead_inspector_ref: LEAD.into(),
        team_inspector_refs: vec![],
        on_site_starts_on: starts_on.into(),
        occurred_at: ts(occurred_at),
    }
}

pub(crate) fn instant(at: &str) -> Timestamp {
    at.parse().expect("a valid RFC 3339 time")
}

pub(crate) fn ts(at: &str) -> Option<prost_types::Timestamp> {
    Some(complaints::domain::timestamp(instant(at)))
}

/// The `ErrorInfo.reason` of a status.
pub(crate) fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The `ErrorInfo.metadata` value `key` of a status.
pub(crate) fn metadata(status: &Status, key: &str) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
}

/// The fields an `INVALID_ARGUMENT` names, asserting the code.
pub(crate) fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
