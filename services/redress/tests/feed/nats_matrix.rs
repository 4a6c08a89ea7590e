//! NATS user × action (reliability plan 6.4), cell by cell, against one server started with
//! `deploy/nats/accounts.conf` and set up as `redress streams` sets it up.
//!
//! Every cell runs as its own case on a fresh connection of its user: a denial is proven by the
//! server's permissions violation for the exact subject (the connection's event callback), an
//! allowed cell by the action succeeding (a publish acknowledged by its stream, a subscription
//! receiving, a JetStream API answer without error, a pulled message, a confirmed ack). Before
//! each cell `ops` puts in place what the action needs (a message to pull, a consumer to
//! delete); after an allowed deletion it puts the streams and consumers back. Every failing
//! cell is reported at once, with its user and action.

use std::fmt;
use std::time::{Duration, Instant};

use async_nats::ConnectErrorKind;
use futures_util::StreamExt as _;
use platform::nats::Namespace;
use redress::streams::Plan;
use serde_json::{Value, json};

use crate::helpers::{Connection, IB_DOMAIN, SecuredNats, password};

/// What a cell must do: allowed (`A`), denied with a permissions violation (`D`), or let
/// through by the permissions and refused by JetStream itself (`R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    A,
    D,
    R,
}

use Expect::{A, D, R};

/// The columns of [`MATRIX`]: every user of the accounts file, then a client without credentials.
const COLUMNS: [&str; 6] = [
    "complaints",
    "escalation",
    "learning-reviews",
    "ops",
    "ib",
    "anonymous",
];

/// A durable consumer no service owns, created by `ops` when a cell needs it to exist.
const NEW_CONSUMER: &str = "matrix-new";
/// A stream nobody but `ops` may create; deleted again after it was.
const NEW_STREAM: &str = "MATRIX_NEW";

const ENSURES: &str = "plan does not fit: a service creates or updates its stream and the streams it consumes at start, so services start in any order (deploy/README.md)";
const READS: &str = "a service reads the streams it consumes (its policy ensures them at start)";
const PURGE: &str = "granted to ops; every stream has deny_purge (plan 7.1), so JetStream refuses";
const FEED: &str =
    "the feed is escalation's (ADR 4): it publishes there and creates the body's consumer";
const IB: &str =
    "plan names ESCALATION.ib_feed: the body's consumer is on FEED, the feed's own stream (ADR 4)";

/// The expected answer of every user to every action; one row per action, columns as
/// [`COLUMNS`]. The note says why a row differs from the reliability plan's rule or reads
/// oddly.
#[rustfmt::skip]
const MATRIX: &[(&str, [Expect; 6], &str)] = &[
    // action                                                   cmp esc lrv ops ib anon
    ("publish complaints.matrix",                               [A, D, D, A, D, D], ""),
    ("publish escalation.matrix",                               [D, A, D, A, D, D], ""),
    ("publish learning-reviews.matrix",                         [D, D, A, A, D, D], ""),
    ("publish feed.v1.matrix",                                  [D, A, D, A, D, D], FEED),
    ("subscribe complaints.>",                                  [D, D, D, A, D, D], "services pull through their durables"),
    ("subscribe escalation.>",                                  [D, D, D, A, D, D], ""),
    ("subscribe learning-reviews.>",                            [D, D, D, A, D, D], ""),
    ("subscribe feed.>",                                        [D, D, D, A, D, D], ""),
    ("STREAM.CREATE.COMPLAINTS",                                [A, A, A, A, D, D], ENSURES),
    ("STREAM.UPDATE.COMPLAINTS",                                [A, A, A, A, D, D], ENSURES),
    ("STREAM.INFO.COMPLAINTS",                                  [A, A, A, A, D, D], READS),
    ("STREAM.PURGE.COMPLAINTS",                                 [D, D, D, R, D, D], PURGE),
    ("STREAM.DELETE.COMPLAINTS",                                [D, D, D, A, D, D], ""),
    ("STREAM.MSG.GET.COMPLAINTS",                               [D, D, D, A, D, D], ""),
    ("STREAM.CREATE.ESCALATION",                                [A, A, A, A, D, D], ENSURES),
    ("STREAM.UPDATE.ESCALATION",                                [A, A, A, A, D, D], ENSURES),
    ("STREAM.INFO.ESCALATION",                                  [A, A, A, A, D, D], READS),
    ("STREAM.PURGE.ESCALATION",                                 [D, D, D, R, D, D], PURGE),
    ("STREAM.DELETE.ESCALATION",                                [D, D, D, A, D, D], ""),
    ("STREAM.MSG.GET.ESCALATION",                               [D, D, D, A, D, D], ""),
    ("STREAM.CREATE.LEARNING_REVIEWS",                          [A, D, A, A, D, D], ENSURES),
    ("STREAM.UPDATE.LEARNING_REVIEWS",                          [A, D, A, A, D, D], ENSURES),
    ("STREAM.INFO.LEARNING_REVIEWS",                            [A, D, A, A, D, D], READS),
    ("STREAM.PURGE.LEARNING_REVIEWS",                           [D, D, D, R, D, D], PURGE),
    ("STREAM.DELETE.LEARNING_REVIEWS",                          [D, D, D, A, D, D], ""),
    ("STREAM.MSG.GET.LEARNING_REVIEWS",                         [D, D, D, A, D, D], ""),
    ("STREAM.CREATE.FEED",                                      [D, A, D, A, D, D], ENSURES),
    ("STREAM.UPDATE.FEED",                                      [D, A, D, A, D, D], ENSURES),
    ("STREAM.INFO.FEED",                                        [D, A, D, A, D, D], ""),
    ("STREAM.PURGE.FEED",                                       [D, D, D, R, D, D], PURGE),
    ("STREAM.DELETE.FEED",                                      [D, D, D, A, D, D], ""),
    ("STREAM.MSG.GET.FEED",                                     [D, D, D, A, D, D], ""),
    ("STREAM.CREATE.MATRIX_NEW",                                [D, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.COMPLAINTS.escalation-complaints-policy", [D, A, D, A, D, D], ""),
    ("CONSUMER.INFO.COMPLAINTS.escalation-complaints-policy",   [D, A, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.COMPLAINTS.escalation-complaints-policy", [D, A, D, A, D, D], ""),
    ("CONSUMER.DELETE.COMPLAINTS.escalation-complaints-policy", [D, D, D, A, D, D], ""),
    ("ack COMPLAINTS.escalation-complaints-policy",             [D, A, D, A, D, D], ""),
    ("CONSUMER.CREATE.COMPLAINTS.learning-reviews-complaints-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.INFO.COMPLAINTS.learning-reviews-complaints-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.COMPLAINTS.learning-reviews-complaints-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.DELETE.COMPLAINTS.learning-reviews-complaints-policy", [D, D, D, A, D, D], ""),
    ("ack COMPLAINTS.learning-reviews-complaints-policy",       [D, D, A, A, D, D], ""),
    ("CONSUMER.CREATE.COMPLAINTS.matrix-new",                   [D, D, D, A, D, D], ""),
    ("CONSUMER.INFO.COMPLAINTS.matrix-new",                     [D, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.COMPLAINTS.matrix-new",                 [D, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.COMPLAINTS.matrix-new",                   [D, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.ESCALATION.complaints-escalation-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.INFO.ESCALATION.complaints-escalation-policy",   [A, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.ESCALATION.complaints-escalation-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.ESCALATION.complaints-escalation-policy", [D, D, D, A, D, D], ""),
    ("ack ESCALATION.complaints-escalation-policy",             [A, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.ESCALATION.learning-reviews-escalation-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.INFO.ESCALATION.learning-reviews-escalation-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.ESCALATION.learning-reviews-escalation-policy", [D, D, A, A, D, D], ""),
    ("CONSUMER.DELETE.ESCALATION.learning-reviews-escalation-policy", [D, D, D, A, D, D], ""),
    ("ack ESCALATION.learning-reviews-escalation-policy",       [D, D, A, A, D, D], ""),
    ("CONSUMER.CREATE.ESCALATION.matrix-new",                   [D, D, D, A, D, D], ""),
    ("CONSUMER.INFO.ESCALATION.matrix-new",                     [D, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.ESCALATION.matrix-new",                 [D, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.ESCALATION.matrix-new",                   [D, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.LEARNING_REVIEWS.complaints-learning-reviews-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.INFO.LEARNING_REVIEWS.complaints-learning-reviews-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.LEARNING_REVIEWS.complaints-learning-reviews-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.LEARNING_REVIEWS.complaints-learning-reviews-policy", [D, D, D, A, D, D], ""),
    ("ack LEARNING_REVIEWS.complaints-learning-reviews-policy", [A, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.LEARNING_REVIEWS.matrix-new",             [D, D, D, A, D, D], ""),
    ("CONSUMER.INFO.LEARNING_REVIEWS.matrix-new",               [D, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.LEARNING_REVIEWS.matrix-new",           [D, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.LEARNING_REVIEWS.matrix-new",             [D, D, D, A, D, D], ""),
    ("CONSUMER.CREATE.FEED.ib_feed",                            [D, A, D, A, D, D], FEED),
    ("CONSUMER.INFO.FEED.ib_feed",                              [D, A, D, A, A, D], IB),
    ("CONSUMER.MSG.NEXT.FEED.ib_feed",                          [D, D, D, A, A, D], IB),
    ("CONSUMER.DELETE.FEED.ib_feed",                            [D, D, D, A, D, D], ""),
    ("ack FEED.ib_feed",                                        [D, D, D, A, A, D], IB),
    ("CONSUMER.CREATE.FEED.matrix-new",                         [D, D, D, A, D, D], ""),
    ("CONSUMER.INFO.FEED.matrix-new",                           [D, D, D, A, D, D], ""),
    ("CONSUMER.MSG.NEXT.FEED.matrix-new",                       [D, D, D, A, D, D], ""),
    ("CONSUMER.DELETE.FEED.matrix-new",                         [D, D, D, A, D, D], ""),
];

/// One row's action, read from its label.
#[derive(Clone, Debug)]
enum Action {
    Publish(String),
    Subscribe(String),
    Stream {
        op: StreamOp,
        stream: String,
    },
    Consumer {
        op: ConsumerOp,
        stream: String,
        consumer: String,
    },
    Ack {
        stream: String,
        consumer: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamOp {
    Create,
    Update,
    Info,
    Purge,
    Delete,
    MsgGet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsumerOp {
    Create,
    Info,
    Next,
    Delete,
}

impl Action {
    fn parse(label: &str) -> Action {
        if let Some(subject) = label.strip_prefix("publish ") {
            return Action::Publish(subject.to_owned());
        }
        if let Some(subject) = label.strip_prefix("subscribe ") {
            return Action::Subscribe(subject.to_owned());
        }
        if let Some(target) = label.strip_prefix("ack ") {
            let (stream, consumer) = target.split_once('.').expect("ack STREAM.consumer");
            return Action::Ack {
                stream: stream.to_owned(),
                consumer: consumer.to_owned(),
            };
        }
        let tokens: Vec<&str> = label.split('.').collect();
        match tokens.as_slice() {
            ["STREAM", "MSG", "GET", stream] => Action::Stream {
                op: StreamOp::MsgGet,
                stream: (*stream).to_owned(),
            },
            ["STREAM", op, stream] => Action::Stream {
                op: match *op {
                    "CREATE" => StreamOp::Create,
                    "UPDATE" => StreamOp::Update,
                    "INFO" => StreamOp::Info,
                    "PURGE" => StreamOp::Purge,
                    "DELETE" => StreamOp::Delete,
                    _ => panic!("unknown stream action {label}"),
                },
                stream: (*stream).to_owned(),
            },
            ["CONSUMER", "MSG", "NEXT", stream, consumer] => Action::Consumer {
                op: ConsumerOp::Next,
                stream: (*stream).to_owned(),
                consumer: (*consumer).to_owned(),
            },
            ["CONSUMER", op, stream, consumer] => Action::Consumer {
                op: match *op {
                    "CREATE" => ConsumerOp::Create,
                    "INFO" => ConsumerOp::Info,
                    "DELETE" => ConsumerOp::Delete,
                    _ => panic!("unknown consumer action {label}"),
                },
                stream: (*stream).to_owned(),
                consumer: (*consumer).to_owned(),
            },
            _ => panic!("unknown action {label}"),
        }
    }

    /// Whether the action, when it succeeds, removes something the next cells need.
    fn destroys(&self) -> bool {
        match self {
            Action::Stream { op, stream } => {
                *op == StreamOp::Delete || (*op == StreamOp::Create && stream == NEW_STREAM)
            }
            Action::Consumer { op, consumer, .. } => {
                *op == ConsumerOp::Delete && consumer != NEW_CONSUMER
            }
            _ => false,
        }
    }
}

/// What a cell did.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// The server's permissions violation for the subject (or, without credentials, for the
    /// connection).
    Denied,
    /// Let through by the permissions, refused by JetStream: its error.
    Refused(String),
    /// Neither a success nor a violation: what happened instead.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Allowed => write!(f, "allowed"),
            Outcome::Denied => write!(f, "denied (permissions violation)"),
            Outcome::Refused(error) => write!(f, "refused by JetStream: {error}"),
            Outcome::Failed(what) => write!(f, "failed: {what}"),
        }
    }
}

impl Expect {
    fn met_by(self, outcome: &Outcome) -> bool {
        matches!(
            (self, outcome),
            (A, Outcome::Allowed) | (D, Outcome::Denied) | (R, Outcome::Refused(_))
        )
    }
}

/// How long an allowed action may take to answer, and a denied one to be reported.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);
/// How often a subscription cell publishes again until its message arrives.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// The answer to one message sent with a reply subject.
enum Answer {
    Violation,
    Reply(async_nats::Message),
    Silence,
}

/// Sends `payload` to `subject` with a reply subject of `conn`'s own, and waits for whichever
/// comes first: the reply or the server's permissions violation for that publish.
async fn ask(conn: &Connection, subject: &str, payload: Vec<u8>) -> Answer {
    let inbox = conn.client.new_inbox();
    let mut replies = conn.client.subscribe(inbox.clone()).await.unwrap();
    conn.client
        .publish_with_reply(subject.to_owned(), inbox, payload.into())
        .await
        .unwrap();
    conn.client.flush().await.unwrap();
    let violation = format!("Publish to \"{subject}\"");
    tokio::select! {
        reply = tokio::time::timeout(ANSWER_WITHIN, replies.next()) => match reply {
            Ok(Some(message)) => Answer::Reply(message),
            _ => Answer::Silence,
        },
        true = conn.violation_within(&violation, ANSWER_WITHIN) => Answer::Violation,
    }
}

/// A reply's verdict: a JetStream status header or a JSON `error` is a refusal.
fn verdict(reply: &async_nats::Message) -> Outcome {
    if let Some(status) = reply.status
        && status.as_u16() >= 300
    {
        return Outcome::Refused(format!(
            "status {status} {}",
            reply.description.as_deref().unwrap_or("")
        ));
    }
    if let Ok(body) = serde_json::from_slice::<Value>(&reply.payload)
        && let Some(error) = body.get("error")
    {
        return Outcome::Refused(error.to_string());
    }
    Outcome::Allowed
}

fn outcome_of(answer: Answer) -> Outcome {
    match answer {
        Answer::Violation => Outcome::Denied,
        Answer::Reply(reply) => verdict(&reply),
        Answer::Silence => Outcome::Failed("no answer and no permissions violation".into()),
    }
}

/// The server set up as `redress streams` sets it up, with `ops` to prepare each cell.
struct World {
    nats: SecuredNats,
    ops: Connection,
    plan: Plan,
}

impl World {
    async fn start() -> World {
        let nats = SecuredNats::start().await;
        let ops = nats.connect("ops").await;
        let world = World {
            nats,
            ops,
            plan: Plan::for_namespace(&Namespace::root()),
        };
        world.restore().await;
        world
    }

    /// Every stream and consumer of the plan, as `redress streams` leaves them, each stream with
    /// a message in it; the matrix's own stream gone.
    async fn restore(&self) {
        redress::streams::apply(&self.ops.js, &self.plan, &mut std::io::sink())
            .await
            .expect("ops applies the plan");
        for spec in &self.plan.streams {
            self.publish_matching(&spec.subjects[0]).await;
        }
        let _ = self
            .ops
            .api_request(&format!("STREAM.DELETE.{NEW_STREAM}"), json!({}))
            .await;
    }

    /// Publishes, as `ops`, a message on a subject `filter` matches; waits for its stream.
    async fn publish_matching(&self, filter: &str) {
        let subject = filter.replace(['>', '*'], "matrix");
        self.ops
            .js
            .publish(subject, "matrix".into())
            .await
            .expect("ops publishes")
            .await
            .expect("the stream acknowledges ops' message");
    }

    async fn ops_api(&self, suffix: &str, body: Value) -> Value {
        self.ops
            .api_request(suffix, body)
            .await
            .unwrap_or_else(|e| panic!("ops {suffix}: {e}"))
    }

    /// The first subject the consumer reads.
    async fn filter_of(&self, stream: &str, consumer: &str) -> String {
        let info = self
            .ops_api(&format!("CONSUMER.INFO.{stream}.{consumer}"), json!({}))
            .await;
        let config = &info["config"];
        if let Some(filter) = config["filter_subject"].as_str() {
            return filter.to_owned();
        }
        if let Some(filter) = config["filter_subjects"][0].as_str() {
            return filter.to_owned();
        }
        let stream = self
            .ops_api(&format!("STREAM.INFO.{stream}"), json!({}))
            .await;
        stream["config"]["subjects"][0].as_str().unwrap().to_owned()
    }

    async fn create_new_consumer(&self, stream: &str) {
        self.ops_api(
            &format!("CONSUMER.CREATE.{stream}.{NEW_CONSUMER}"),
            new_consumer_request(stream),
        )
        .await;
    }

    async fn delete_new_consumer(&self, stream: &str) {
        let _ = self
            .ops
            .api_request(
                &format!("CONSUMER.DELETE.{stream}.{NEW_CONSUMER}"),
                json!({}),
            )
            .await;
    }

    /// Pulls the next message of the consumer as `ops`; returns its ack subject.
    async fn pull_as_ops(&self, stream: &str, consumer: &str) -> String {
        let subject = format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}");
        match ask(&self.ops, &subject, next_request()).await {
            Answer::Reply(message) if message.status.is_none() => message
                .reply
                .expect("a pulled message has an ack subject")
                .to_string(),
            Answer::Reply(message) => panic!(
                "ops pulled nothing from {stream}/{consumer}: {:?} {:?}",
                message.status, message.description
            ),
            _ => panic!("ops pulls {stream}/{consumer}: no answer"),
        }
    }

    /// Acknowledges a delivered message as `ops`, waiting for the server's confirmation.
    async fn ack_as_ops(&self, ack_subject: &str) {
        if !matches!(
            ask(&self.ops, ack_subject, b"+ACK".to_vec()).await,
            Answer::Reply(_)
        ) {
            panic!("ops acknowledges {ack_subject}: no confirmation");
        }
    }

    /// A connection as `user`, or the refusal of a client without credentials.
    async fn connect(&self, user: &str) -> Result<Connection, Outcome> {
        let (options, prefix) = match user {
            "anonymous" => (async_nats::ConnectOptions::new(), "$JS.API".to_owned()),
            "ib" => (
                async_nats::ConnectOptions::new().user_and_password("ib".into(), password("ib")),
                format!("$JS.{IB_DOMAIN}.API"),
            ),
            _ => (
                async_nats::ConnectOptions::new().user_and_password(user.into(), password(user)),
                "$JS.API".to_owned(),
            ),
        };
        match Connection::open(options, self.nats.url(), &prefix).await {
            Ok(conn) => Ok(conn),
            Err(e) if e.kind() == ConnectErrorKind::AuthorizationViolation => Err(Outcome::Denied),
            Err(e) => Err(Outcome::Failed(format!("could not connect: {e}"))),
        }
    }

    /// Runs one cell: prepares what the action needs as `ops`, runs it as `user`, tidies up.
    async fn cell(&self, user: &str, action: &Action) -> Outcome {
        let conn = match self.connect(user).await {
            Ok(conn) => conn,
            Err(refused) => return refused,
        };
        let api = |suffix: String| format!("{}.{suffix}", conn.api_prefix);
        let outcome = match action {
            Action::Publish(subject) => outcome_of(ask(&conn, subject, b"matrix".to_vec()).await),
            Action::Subscribe(subject) => self.subscribe(&conn, subject).await,
            Action::Stream { op, stream } => {
                let (suffix, body) = self.stream_request(*op, stream).await;
                outcome_of(ask(&conn, &api(suffix), body).await)
            }
            Action::Consumer {
                op,
                stream,
                consumer,
            } => {
                let (suffix, body) = self.consumer_request(*op, stream, consumer).await;
                let answer = ask(&conn, &api(suffix), body).await;
                if let (ConsumerOp::Next, Answer::Reply(reply)) = (op, &answer)
                    && let Some(ack) = &reply.reply
                {
                    self.ack_as_ops(ack).await;
                }
                outcome_of(answer)
            }
            Action::Ack { stream, consumer } => {
                let filter = self.filter_of(stream, consumer).await;
                self.publish_matching(&filter).await;
                let ack = self.pull_as_ops(stream, consumer).await;
                let outcome = outcome_of(ask(&conn, &ack, b"+ACK".to_vec()).await);
                if outcome != Outcome::Allowed {
                    self.ack_as_ops(&ack).await;
                }
                outcome
            }
        };
        if outcome == Outcome::Allowed && action.destroys() {
            self.restore().await;
        }
        outcome
    }

    /// The API subject suffix and request body of a stream action, with what it needs in place.
    async fn stream_request(&self, op: StreamOp, stream: &str) -> (String, Vec<u8>) {
        let body = match op {
            StreamOp::Create if stream == NEW_STREAM => json!({
                "name": NEW_STREAM,
                "subjects": ["matrix-new.>"],
                "storage": "memory",
            }),
            StreamOp::Create | StreamOp::Update => self
                .ops_api(&format!("STREAM.INFO.{stream}"), json!({}))
                .await["config"]
                .clone(),
            StreamOp::MsgGet => {
                let info = self
                    .ops_api(&format!("STREAM.INFO.{stream}"), json!({}))
                    .await;
                json!({ "seq": info["state"]["first_seq"] })
            }
            StreamOp::Purge => json!({}),
            StreamOp::Info | StreamOp::Delete => json!(null),
        };
        let suffix = match op {
            StreamOp::Create => format!("STREAM.CREATE.{stream}"),
            StreamOp::Update => format!("STREAM.UPDATE.{stream}"),
            StreamOp::Info => format!("STREAM.INFO.{stream}"),
            StreamOp::Purge => format!("STREAM.PURGE.{stream}"),
            StreamOp::Delete => format!("STREAM.DELETE.{stream}"),
            StreamOp::MsgGet => format!("STREAM.MSG.GET.{stream}"),
        };
        (suffix, body_bytes(&body))
    }

    /// The API subject suffix and request body of a consumer action, with what it needs in
    /// place: the matrix's own consumer absent before a create and present otherwise, a
    /// message waiting before a pull.
    async fn consumer_request(
        &self,
        op: ConsumerOp,
        stream: &str,
        consumer: &str,
    ) -> (String, Vec<u8>) {
        let new = consumer == NEW_CONSUMER;
        if new && op == ConsumerOp::Create {
            self.delete_new_consumer(stream).await;
        } else if new {
            self.delete_new_consumer(stream).await;
            self.create_new_consumer(stream).await;
        }
        let (suffix, body) = match op {
            ConsumerOp::Create if new => (
                format!("CONSUMER.CREATE.{stream}.{consumer}"),
                new_consumer_request(stream),
            ),
            ConsumerOp::Create => {
                let info = self
                    .ops_api(&format!("CONSUMER.INFO.{stream}.{consumer}"), json!({}))
                    .await;
                (
                    format!("CONSUMER.CREATE.{stream}.{consumer}"),
                    json!({ "stream_name": stream, "config": info["config"] }),
                )
            }
            ConsumerOp::Info => (format!("CONSUMER.INFO.{stream}.{consumer}"), json!({})),
            ConsumerOp::Delete => (format!("CONSUMER.DELETE.{stream}.{consumer}"), json!({})),
            ConsumerOp::Next => {
                let filter = self.filter_of(stream, consumer).await;
                self.publish_matching(&filter).await;
                return (
                    format!("CONSUMER.MSG.NEXT.{stream}.{consumer}"),
                    next_request(),
                );
            }
        };
        (suffix, body_bytes(&body))
    }

    /// Subscribes as the cell's user, then `ops` publishes on a subject the subscription
    /// matches: allowed when it arrives, denied on the subscription's permissions violation.
    async fn subscribe(&self, conn: &Connection, subject: &str) -> Outcome {
        let mut messages = conn.client.subscribe(subject.to_owned()).await.unwrap();
        conn.client.flush().await.unwrap();
        let published = subject.replace('>', "matrix-subscribe");
        let violation = format!("Subscription to \"{subject}\"");
        let deadline = Instant::now() + ANSWER_WITHIN;
        // A flush does not wait for the server to register the subscription: publish again
        // until it arrives.
        while Instant::now() < deadline {
            self.ops
                .client
                .publish(published.clone(), "matrix".into())
                .await
                .unwrap();
            self.ops.client.flush().await.unwrap();
            tokio::select! {
                message = tokio::time::timeout(RETRY_EVERY, messages.next()) => {
                    if let Ok(Some(_)) = message {
                        return Outcome::Allowed;
                    }
                }
                true = conn.violation_within(&violation, RETRY_EVERY) => return Outcome::Denied,
            }
        }
        Outcome::Failed("nothing received and no permissions violation".into())
    }
}

fn new_consumer_request(stream: &str) -> Value {
    json!({
        "stream_name": stream,
        "config": { "durable_name": NEW_CONSUMER, "ack_policy": "explicit" },
    })
}

/// One message, waiting at most 2 s for it.
fn next_request() -> Vec<u8> {
    br#"{"batch":1,"expires":2000000000}"#.to_vec()
}

fn body_bytes(body: &Value) -> Vec<u8> {
    if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    }
}

#[tokio::test]
async fn every_nats_user_may_do_exactly_what_the_matrix_says() {
    // Arrange: the streams and consumers of `redress streams`, and the table's rows parsed.
    let world = World::start().await;
    let rows: Vec<(&str, Action, [Expect; 6])> = MATRIX
        .iter()
        .map(|(label, expected, _)| (*label, Action::parse(label), *expected))
        .collect();
    let mut durables: Vec<String> = world
        .plan
        .consumers
        .iter()
        .map(|spec| format!("{}.{}", spec.stream, spec.durable))
        .collect();
    durables.sort();
    let mut in_table: Vec<String> = rows
        .iter()
        .filter_map(|(_, action, _)| match action {
            Action::Ack { stream, consumer } => Some(format!("{stream}.{consumer}")),
            _ => None,
        })
        .collect();
    in_table.sort();
    assert_eq!(
        in_table, durables,
        "the matrix must have a row for every durable consumer `redress streams` creates"
    );

    // Act: every cell, one after another (some cells change the server for the next).
    let started = Instant::now();
    let mut failing = Vec::new();
    for (label, action, expected) in &rows {
        for (user, expect) in COLUMNS.iter().zip(expected) {
            let outcome = world.cell(user, action).await;
            if !expect.met_by(&outcome) {
                failing.push(format!("{user} × {label}: expected {expect:?}, {outcome}"));
            }
        }
    }
    eprintln!(
        "{} cells in {:?}",
        rows.len() * COLUMNS.len(),
        started.elapsed()
    );

    // Assert
    assert!(
        failing.is_empty(),
        "{} of {} cells differ from the matrix:\n{}",
        failing.len(),
        rows.len() * COLUMNS.len(),
        failing.join("\n")
    );
}
