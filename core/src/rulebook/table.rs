//! The schema table: every entity of every document, its fields with their kinds (and so their
//! limits), and who may add, remove and change it. `document/mod.rs` shows the same layout as
//! Automerge keys; this is where it gets its rules.

use super::{Entity, Field, Kind, Writers};
use crate::document::{care, requests, reviews, roster, round};
use crate::permission::Rule;
use crate::schema::vocabulary::DocKind;

const fn field(name: &'static str, kind: Kind, writers: Writers) -> Field {
    Field { name, kind, required: false, writers }
}

const fn required(name: &'static str, kind: Kind, writers: Writers) -> Field {
    Field { name, kind, required: true, writers }
}

use Kind::{Count, Day, Floor, List, Long, Map, Record, Scalar, Short, Text, Time};
use Writers::{AuthorOrCoordinators, CareKeepers, Coordinators, Everyone, Nobody};

/// The header fields every document root holds; fixed once written (see `validate`'s header
/// rules for the schema version moving forward).
pub const HEADER: &[&str] = &["schema", "id", "kind", "compound"];

/// The roster's root: the compound's name, its time zone and its collections.
pub const ROSTER: Entity = Entity {
    noun: "roster",
    fields: &[
        required("name", Short, Coordinators),
        field(roster::UTC_OFFSET, Scalar, Coordinators),
        field(roster::BUILDINGS, Map, Nobody),
        field(roster::HOUSEHOLDS, Map, Nobody),
        field(reviews::REVIEWS, Map, Nobody),
    ],
    adders: Nobody,
    removers: Nobody,
    rule: Rule::RosterIsEditedByCoordinators,
};

/// A building of the roster.
pub const BUILDING: Entity = Entity {
    noun: "building",
    fields: &[
        field("estate", Short, Coordinators),
        required("label", Short, Coordinators),
        field("lift", Scalar, Coordinators),
    ],
    adders: Coordinators,
    removers: Coordinators,
    rule: Rule::RosterIsEditedByCoordinators,
};

/// A household of the roster. Everyone may write its notes; the rest is the coordinators'.
pub const HOUSEHOLD: Entity = Entity {
    noun: "household",
    fields: &[
        field("building", Scalar, Coordinators),
        field("unit", Short, Coordinators),
        field("floor", Floor, Coordinators),
        required("flat", Short, Coordinators),
        field("head", Short, Coordinators),
        field("phone", Short, Coordinators),
        field("people", Count, Coordinators),
        field("aged_60_plus", Count, Coordinators),
        field("children_under_6", Count, Coordinators),
        field("needs", Map, Coordinators),
        field("status", Scalar, Coordinators),
        field("lift", Scalar, Coordinators),
        field("notes", Text, Everyone),
    ],
    adders: Coordinators,
    removers: Coordinators,
    rule: Rule::RosterIsEditedByCoordinators,
};

/// A round's root: its header fields and its tasks.
pub const ROUND: Entity = Entity {
    noun: "round",
    fields: &[
        required("title", Short, Coordinators),
        field("round_kind", Scalar, Coordinators),
        field("date", Day, Coordinators),
        field("status", Scalar, Coordinators),
        field(round::CLOSED_AT, Time, Coordinators),
        field(round::TASKS, Map, Nobody),
        field(reviews::REVIEWS, Map, Nobody),
    ],
    adders: Coordinators,
    removers: Nobody,
    rule: Rule::RoundsArePlannedByCoordinators,
};

/// A task of a round. Anyone may write its assignee (claims: see [`state`](super::state)) and
/// append to its attempts; the rest is the coordinators'.
pub const TASK: Entity = Entity {
    noun: "task",
    fields: &[
        field("household", Scalar, Coordinators),
        field("kind", Scalar, Coordinators),
        field("items", Short, Coordinators),
        field("priority", Scalar, Coordinators),
        field("assignee", Scalar, Everyone),
        field("request", Scalar, Coordinators),
        field("cancelled", Record, Coordinators),
        field("attempts", List, Everyone),
    ],
    adders: Coordinators,
    removers: Coordinators,
    rule: Rule::RoundsArePlannedByCoordinators,
};

/// A coordinator's cancellation of a task.
pub const CANCELLATION: Entity = Entity {
    noun: "cancellation",
    fields: &[
        field("by", Scalar, Coordinators),
        field("at", Time, Coordinators),
        field("reason", Long, Coordinators),
    ],
    adders: Coordinators,
    removers: Nobody,
    rule: Rule::RoundsArePlannedByCoordinators,
};

/// One knock on a door, appended to a task's attempts and never changed.
pub const ATTEMPT: Entity = Entity {
    noun: "attempt",
    fields: &[
        field("by", Scalar, Nobody),
        field("at", Time, Nobody),
        field("outcome", Scalar, Nobody),
        field("note", Long, Nobody),
        field(round::KNOCKED_BY, Scalar, Nobody),
        field(round::KNOCKED_AT, Time, Nobody),
    ],
    adders: Everyone,
    removers: Nobody,
    rule: Rule::AttemptsAreAppendOnly,
};

/// A coordinator's review of a conflict (in a round for its tasks' conflicts, in the roster for
/// concurrent statuses): added by coordinators, in their own name (see
/// [`state::require_own_review`](super::state::require_own_review)), and never changed or
/// removed, so a review stays on record.
pub const REVIEW: Entity = Entity {
    noun: "review",
    fields: &[
        field("conflict", Scalar, Nobody),
        field("entity", Scalar, Nobody),
        field("covers", Long, Nobody),
        field("by", Scalar, Nobody),
        field("at", Time, Nobody),
        field("note", Long, Nobody),
    ],
    adders: Coordinators,
    removers: Nobody,
    rule: Rule::ConflictsAreReviewedByCoordinators,
};

/// The requests document's root.
pub const REQUESTS: Entity = Entity {
    noun: "requests",
    fields: &[field(requests::REQUESTS, Map, Nobody)],
    adders: Nobody,
    removers: Nobody,
    rule: Rule::RequestsAreTriagedByCoordinators,
};

/// A resident's request. Anyone takes one down; its author may correct its text; coordinators
/// triage it.
pub const REQUEST: Entity = Entity {
    noun: "request",
    fields: &[
        field("household", Scalar, Coordinators),
        field("channel", Scalar, Coordinators),
        field("category", Scalar, Coordinators),
        required("text", Text, AuthorOrCoordinators),
        field("urgency", Scalar, Coordinators),
        field("status", Scalar, Coordinators),
        field("tasks", Map, Coordinators),
        field("by", Scalar, Nobody),
        field("at", Time, Nobody),
    ],
    adders: Everyone,
    removers: Coordinators,
    rule: Rule::RequestsAreTriagedByCoordinators,
};

/// The care document's root.
pub const CARE: Entity = Entity {
    noun: "care",
    fields: &[field(care::ENTRIES, Map, Nobody)],
    adders: Nobody,
    removers: Nobody,
    rule: Rule::CareLedgerIsForCoordinatorsAndMedics,
};

/// An entry of the care ledger.
pub const CARE_ENTRY: Entity = Entity {
    noun: "care entry",
    fields: &[
        field("household", Scalar, CareKeepers),
        required("person_name", Short, CareKeepers),
        field("condition", Scalar, CareKeepers),
        field("schedule", Long, CareKeepers),
        field("medicines", Long, CareKeepers),
        field("insurance_card_held_by", Scalar, CareKeepers),
        field("notes", Text, CareKeepers),
    ],
    adders: CareKeepers,
    removers: CareKeepers,
    rule: Rule::CareLedgerIsForCoordinatorsAndMedics,
};

/// A document kind's root entity and its entity collections (root key and entity).
pub fn layout(kind: DocKind) -> (&'static Entity, &'static [(&'static str, &'static Entity)]) {
    match kind {
        DocKind::Roster => (
            &ROSTER,
            &[(roster::BUILDINGS, &BUILDING), (roster::HOUSEHOLDS, &HOUSEHOLD), (reviews::REVIEWS, &REVIEW)],
        ),
        DocKind::Round => (&ROUND, &[(round::TASKS, &TASK), (reviews::REVIEWS, &REVIEW)]),
        DocKind::Requests => (&REQUESTS, &[(requests::REQUESTS, &REQUEST)]),
        DocKind::Care => (&CARE, &[(care::ENTRIES, &CARE_ENTRY)]),
    }
}
