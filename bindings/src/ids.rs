//! Identifiers and time as the host sees them: every ID is a UUID string and time is Unix
//! milliseconds. They are uniffi custom types, so Kotlin and Swift see named aliases
//! (`typealias HouseholdId = String`) and a string that is not a UUID is refused with
//! `InvalidInput` before any Rust code runs.

use doorstep_core::Timestamp;
use doorstep_core::id::{
    BuildingId, CompoundId, DocumentId, HouseholdId, PersonId, RequestId, ReviewId, TaskId,
};

use crate::error::invalid_argument;

macro_rules! uuid_string {
    ($($id:ident),+ $(,)?) => {
        $(uniffi::custom_type!($id, String, {
            remote,
            try_lift: |text| text.parse::<$id>().map_err(invalid_argument),
            lower: |id| id.to_string(),
        });)+
    };
}

uuid_string!(BuildingId, CompoundId, DocumentId, HouseholdId, PersonId, RequestId, ReviewId, TaskId);

uniffi::custom_type!(Timestamp, i64, {
    remote,
    try_lift: |millis| Ok(Timestamp::from_millis(millis)),
    lower: |at| at.as_millis(),
});
