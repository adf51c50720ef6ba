//! Stable identifiers. Every entity is a key in an Automerge map, never a list index, so that
//! concurrent inserts on two phones cannot collide. IDs are UUIDv7 strings; core never reads a
//! clock or a random source itself, so the caller's [`Env`](crate::Env) supplies both.

use std::fmt;
use std::str::FromStr;

use crate::env::Env;

/// An ID string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} id {value:?} is not a UUID")]
pub struct BadId {
    /// Which kind of ID was expected.
    pub kind: &'static str,
    /// The text that failed to parse.
    pub value: String,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new time-ordered ID from the caller's clock and entropy.
            pub fn generate(env: &mut Env<'_>) -> Self {
                Self(env.uuid_v7())
            }

            /// The raw UUID.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }

            /// Wraps an existing UUID.
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| BadId { kind: $kind, value: s.chars().take(64).collect() })
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;
            fn try_from(s: String) -> Result<Self, BadId> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

define_id!(
    /// A compound (小区 or group of them run by one coordinator team).
    CompoundId,
    "compound"
);
define_id!(
    /// An Automerge document: the unit of sync, access control and phone storage.
    DocumentId,
    "document"
);
define_id!(
    /// A building within a compound.
    BuildingId,
    "building"
);
define_id!(
    /// A household (one flat).
    HouseholdId,
    "household"
);
define_id!(
    /// A delivery task within a round.
    TaskId,
    "task"
);
define_id!(
    /// A resident's request (诉求).
    RequestId,
    "request"
);
define_id!(
    /// An entry of the care ledger.
    CareEntryId,
    "care entry"
);
define_id!(
    /// A coordinator's review of a conflict.
    ReviewId,
    "review"
);
define_id!(
    /// A person known to the relay (volunteer, coordinator, medic, admin).
    PersonId,
    "person"
);
