//! The aggregate contract: two pure functions, `decide` and `evolve`, and given/when/then tests.
//!
//! `decide(state, command)` returns the events a command produces or the rule it broke;
//! `evolve(state, event)` folds one event into the state and cannot fail. Neither does I/O:
//! time, ids and the working-day calendar arrive inside the command, so the same history and
//! command always give the same answer and a replay never changes the past.

use std::fmt::Debug;

use jiff::Timestamp;

use crate::grpc::Role;

/// Someone acting, identified by an opaque reference (never a name), with the role the rules
/// look at. The application sets the role from the authenticated caller or, for a person other
/// than the caller, from the staff directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub actor_ref: String,
    pub role: Role,
}

impl Actor {
    /// An actor with `role`.
    pub fn new(actor_ref: impl Into<String>, role: Role) -> Actor {
        Actor {
            actor_ref: actor_ref.into(),
            role,
        }
    }
}

/// The machine-readable code of a broken rule, e.g. `OUT_OF_TIME`: stable across releases, used
/// as the `ErrorInfo.reason` of a gRPC `FAILED_PRECONDITION`.
pub trait Reason {
    /// The code, in SCREAMING_SNAKE_CASE.
    fn reason(&self) -> &'static str;
}

/// The protobuf form of `at` for an event field. Nanoseconds are normalised to
/// `0..1_000_000_000`, as the well-known type requires, also before 1970.
pub fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let mut seconds = at.as_second();
    let mut nanos = at.subsec_nanosecond();
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    prost_types::Timestamp { seconds, nanos }
}

/// The instant a stored timestamp field holds. A missing or out-of-range value reads as the Unix
/// epoch: only `decide` writes these fields and it always sets them, and `evolve` must not fail.
pub fn instant(at: Option<&prost_types::Timestamp>) -> Timestamp {
    at.and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A domain event that is stored and published as one protobuf message.
pub trait DomainEvent: Sized + Send + Sync + 'static {
    /// The fully qualified protobuf message name, e.g. `redress.complaints.v1.ComplaintSubmitted`.
    fn event_type(&self) -> &'static str;

    /// The protobuf encoding of the message.
    fn encode_payload(&self) -> Vec<u8>;

    /// Rebuilds an event from its stored type name and payload.
    ///
    /// # Errors
    /// [`DecodeError::UnknownType`] for a type this code does not know (a newer writer), and
    /// [`DecodeError::Malformed`] when the payload is not a valid message of that type.
    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// Why a stored event could not be turned back into a domain event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("malformed {event_type} payload: {reason}")]
    Malformed { event_type: String, reason: String },
}

/// A consistency boundary: one event stream, one state.
pub trait Aggregate: Default + Send + Sync + 'static {
    /// Stored with every event of this aggregate, e.g. `formal_complaint`.
    const STREAM_TYPE: &'static str;
    type Command: Send;
    type Event: DomainEvent;
    /// The named rules a command can break.
    type Rejection: std::error::Error + Send + Sync + 'static;

    /// The events `command` produces against this state, or the rule it breaks. Pure.
    ///
    /// # Errors
    /// The broken rule.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// The state after `event`. Pure and total: a recorded event is a fact.
    fn evolve(self, event: &Self::Event) -> Self;

    /// True for a command that begins a stream, such as the notice that opens a case under a
    /// fresh id. The store then decides it on the default state and appends expecting no
    /// stream, without loading first: one statement instead of two. When the stream exists
    /// after all, that append writes nothing and the store loads and decides again, so the
    /// answer is always the one the stored history gives; a wrong `true` costs a round trip,
    /// never a wrong decision. The default, `false`, always loads first.
    fn starts_stream(_command: &Self::Command) -> bool {
        false
    }

    /// Folds a history into a state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// Implements [`DomainEvent`] for an enum whose variants each wrap one prost message type that
/// implements [`prost::Name`].
///
/// ```ignore
/// platform::domain_event! { Event { Opened(v1::Opened), Closed(v1::Closed) } }
/// ```
#[macro_export]
macro_rules! domain_event {
    ($enum:ident { $($variant:ident($message:ty)),+ $(,)? }) => {
        impl $crate::aggregate::DomainEvent for $enum {
            fn event_type(&self) -> &'static str {
                match self {
                    $( $enum::$variant(_) => {
                        static NAME: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
                        NAME.get_or_init(<$message as ::prost::Name>::full_name).as_str()
                    } )+
                }
            }

            fn encode_payload(&self) -> Vec<u8> {
                match self {
                    $( $enum::$variant(message) => ::prost::Message::encode_to_vec(message), )+
                }
            }

            fn decode(event_type: &str, payload: &[u8]) -> Result<Self, $crate::aggregate::DecodeError> {
                $(
                    if $crate::aggregate::is_message_named::<$message>(event_type) {
                        return <$message as ::prost::Message>::decode(payload)
                            .map($enum::$variant)
                            .map_err(|e| $crate::aggregate::DecodeError::Malformed {
                                event_type: event_type.to_owned(),
                                reason: e.to_string(),
                            });
                    }
                )+
                Err($crate::aggregate::DecodeError::UnknownType(event_type.to_owned()))
            }
        }
    };
}

/// Whether `event_type` is the fully qualified name of `M`, without allocating.
pub fn is_message_named<M: prost::Name>(event_type: &str) -> bool {
    event_type
        .strip_prefix(M::PACKAGE)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|name| name == M::NAME)
}

/// Declares a domain category enum — the twin of the protobuf enum of the same name in module
/// `$proto`, without its `UNSPECIFIED` value, so a command can never carry "unspecified" — with
/// `ALL`, `to_proto` and `from_proto`.
///
/// `from_proto` matches every protobuf value by name, so a value added to the schema but not to
/// the domain fails to compile rather than being read as unknown.
///
/// ```ignore
/// platform::category! { v1 => /// Where a concern was raised.
///     pub enum ConcernChannel { OnSiteLeadInspector, DuringInspectionHelpline, DayAfterContact } }
/// ```
#[macro_export]
macro_rules! category {
    (
        $proto:ident =>
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The protobuf enum value of the same name.
            #[must_use]
            pub fn to_proto(self) -> i32 {
                match self {
                    $( $name::$variant => $proto::$name::$variant as i32 ),+
                }
            }

            /// The value of the same name; `None` for `UNSPECIFIED` and for a number this build
            /// does not know (a newer writer's).
            #[must_use]
            pub fn from_proto(value: i32) -> Option<$name> {
                match $proto::$name::try_from(value).ok()? {
                    $( $proto::$name::$variant => Some($name::$variant), )+
                    $proto::$name::Unspecified => None,
                }
            }
        }
    };
}

/// Starts a given/when/then test from a history.
pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let history: Vec<A::Event> = history.into_iter().collect();
    Given {
        state: A::replay(&history),
    }
}

/// The state a test starts from.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// Runs `decide` once.
    pub fn when(self, command: A::Command) -> Then<A> {
        let outcome = self.state.decide(command);
        Then {
            state: self.state,
            outcome,
        }
    }

    /// The folded state, for assertions on `evolve`.
    pub fn state(&self) -> &A {
        &self.state
    }
}

/// The outcome of a given/when, with assertions.
#[derive(Debug)]
pub struct Then<A: Aggregate> {
    state: A,
    outcome: Result<Vec<A::Event>, A::Rejection>,
}

impl<A> Then<A>
where
    A: Aggregate,
    A::Event: PartialEq + Debug,
    A::Rejection: PartialEq + Debug,
{
    /// Asserts the command produced exactly `expected`, and that each event survives a round
    /// trip through its stored form and can be folded into the state.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "the command produced other events");
                for event in &events {
                    let decoded = A::Event::decode(event.event_type(), &event.encode_payload());
                    assert_eq!(
                        decoded.as_ref(),
                        Ok(event),
                        "event does not survive storage"
                    );
                }
                events
                    .iter()
                    .fold(self.state, |state, event| state.evolve(event))
            }
            Err(rejection) => {
                panic!("expected events {expected:?}, but the command was rejected: {rejection:?}")
            }
        }
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub fn then_rejects(self, expected: A::Rejection) {
        match self.outcome {
            Ok(events) => {
                panic!("expected rejection {expected:?}, but the command produced {events:?}")
            }
            Err(rejection) => assert_eq!(rejection, expected),
        }
    }

    /// Asserts the command was accepted and changed nothing.
    #[track_caller]
    pub fn then_nothing(self) {
        self.then([]);
    }
}
