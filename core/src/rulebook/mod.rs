//! The rulebook: one definition of what may be written into a compound's documents, by whom and
//! in what state. Both sides derive their checks from it:
//!
//! - the phone, in [`operation`](crate::operation), before it makes a change: an operation names
//!   the entity and fields it writes and asks [`Entity::require_write`] (and friends) whether the
//!   role may, and [`Field::check_text`] whether the value fits;
//! - the relay, in [`validate`](crate::validate), on the effect of every incoming batch: the
//!   fields a batch touched are looked up in the same [`Entity`] table for the role rule, the
//!   known fields, the size limits, the objects that are never replaced and the times that must
//!   follow the relay's clock.
//!
//! The state rules that need more than a field's name (a closed round takes only late field
//! facts, a cancelled task takes no attempts, attempts only append, a volunteer claims only a
//! free task, a removal never hides edits) are written once each in [`state`] as predicates over
//! what the author knew, which both sides call.
//!
//! Adding a field means adding one [`Field`] line to the table in [`table`], plus its reader and
//! writer in [`document`](crate::document) (Automerge layout) and its typed struct in
//! [`schema`](crate::schema).

pub mod characters;
pub mod day;
pub mod household;
pub mod state;
pub mod table;

use crate::permission::Rule;
use crate::role::Role;

/// What kind of value a field holds, which decides its size limit and whether it is a
/// container others write into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string of at most [`limits::SHORT_TEXT`](crate::limits::SHORT_TEXT) characters.
    Short,
    /// A string of at most [`limits::LONG_TEXT`](crate::limits::LONG_TEXT) characters.
    Long,
    /// A day written `YYYY-MM-DD` ([`day::is_day`]), or empty: a round's day.
    Day,
    /// An Automerge text of at most [`limits::LONG_TEXT`](crate::limits::LONG_TEXT) characters;
    /// concurrent edits merge, so the text object is never replaced.
    Text,
    /// A count of people, at most [`limits::PEOPLE`](crate::limits::PEOPLE).
    Count,
    /// A floor number within [`limits::FLOORS`](crate::limits::FLOORS).
    Floor,
    /// Unix milliseconds; when written it must lie within the window of the relay's clock
    /// ([`limits::TIME_BEHIND`](crate::limits::TIME_BEHIND),
    /// [`limits::TIME_AHEAD`](crate::limits::TIME_AHEAD)).
    Time,
    /// Any other scalar the typed reader checks: an ID, a vocabulary value, an integer, a boolean.
    Scalar,
    /// A map others write into (need tags, a request's task links): created once, never replaced.
    Map,
    /// A list others append to (a task's attempts): created once, never replaced.
    List,
    /// A small map written whole by one person at once (a cancellation): may be written again.
    Record,
}

impl Kind {
    /// Whether objects of this kind are shared containers that must never be replaced.
    pub fn is_container(self) -> bool {
        matches!(self, Kind::Text | Kind::Map | Kind::List)
    }
}

/// Who may write a field, add an entity or remove one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Coordinators and admins.
    Coordinators,
    /// Coordinators, admins and medics (the care ledger).
    CareKeepers,
    /// Coordinators, and the person who took the entity down (a request's `by`).
    AuthorOrCoordinators,
    /// Anyone in the compound.
    Everyone,
    /// No one after creation: the field is fixed.
    Nobody,
}

impl Writers {
    /// Whether `role` may write, given whether the writer is the entity's own author.
    pub fn admit(self, role: Role, is_author: bool) -> bool {
        match self {
            Writers::Coordinators => role.is_coordinating(),
            Writers::CareKeepers => role.reads_care(),
            Writers::AuthorOrCoordinators => role.is_coordinating() || is_author,
            Writers::Everyone => true,
            Writers::Nobody => false,
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The key in the entity's Automerge map.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Whether a person must fill it in (a text that may not be empty).
    pub required: bool,
    /// Who may change it after the entity was created.
    pub writers: Writers,
}

/// One kind of entity (or a document's root): its fields and who adds, removes and edits it.
#[derive(Debug)]
pub struct Entity {
    /// What to call it in a reason ("household").
    pub noun: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
    /// Who may add one.
    pub adders: Writers,
    /// Who may remove one.
    pub removers: Writers,
    /// The rule named when someone writes what they may not.
    pub rule: Rule,
}

/// A value that does not fit its field: too long, or empty where a person must write something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BadValue {
    /// The field.
    pub field: &'static str,
    /// Why, in a sentence.
    pub reason: String,
}

impl Entity {
    /// The field `name`, if this entity has one.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether `name` is one of this entity's fields.
    pub fn knows(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    /// The rule broken if `role` may not add such an entity.
    pub fn require_add(&self, role: Role) -> Result<(), Rule> {
        if self.adders.admit(role, false) { Ok(()) } else { Err(self.rule) }
    }

    /// The rule broken if `role` may not remove such an entity.
    pub fn require_remove(&self, role: Role) -> Result<(), Rule> {
        if self.removers.admit(role, false) { Ok(()) } else { Err(self.rule) }
    }

    /// The rule broken if `role` (the entity's author or not) may not change every one of
    /// `fields`. Unknown fields are a schema question, not a role one, and pass here.
    pub fn require_write(&self, role: Role, is_author: bool, fields: &[&str]) -> Result<(), Rule> {
        let denied =
            fields.iter().filter_map(|name| self.field(name)).any(|f| !f.writers.admit(role, is_author));
        if denied { Err(self.rule) } else { Ok(()) }
    }

    /// Checks a string value for the field `name` against its kind's limit and whether it is
    /// required; a field the table does not list is a bug in the caller.
    pub fn check_text(&self, name: &'static str, value: &str) -> Result<(), BadValue> {
        let Some(field) = self.field(name) else {
            return Err(BadValue { field: name, reason: format!("is not a field of a {}", self.noun) });
        };
        field.check_text(value)
    }
}

impl Field {
    /// The most characters a string of this field may hold, if it is a string.
    pub fn max_chars(&self) -> Option<usize> {
        match self.kind {
            Kind::Short | Kind::Day => Some(crate::limits::SHORT_TEXT),
            Kind::Long | Kind::Text => Some(crate::limits::LONG_TEXT),
            _ => None,
        }
    }

    /// Checks a string value against the field's limit, whether it is required and the
    /// characters no text holds ([`characters`]).
    pub fn check_text(&self, value: &str) -> Result<(), BadValue> {
        if self.required && value.trim().is_empty() {
            return Err(BadValue { field: self.name, reason: "must not be empty".into() });
        }
        if self.kind == Kind::Day && !value.is_empty() && !day::is_day(value) {
            return Err(BadValue { field: self.name, reason: day::NOT_A_DAY.into() });
        }
        let len = value.chars().count();
        match self.max_chars() {
            Some(max) if len > max => Err(BadValue {
                field: self.name,
                reason: format!("is {len} characters; at most {max} are allowed"),
            }),
            Some(_) => self.check_characters(value),
            None => Ok(()),
        }
    }

    /// Checks that a string value holds no character its kind may not ([`characters`]).
    pub fn check_characters(&self, value: &str) -> Result<(), BadValue> {
        match characters::first_unwelcome(value, self.kind) {
            Some((place, c)) => {
                Err(BadValue { field: self.name, reason: characters::describe(place, c, self.kind) })
            }
            None => Ok(()),
        }
    }

    /// Checks a floor against [`limits::FLOORS`](crate::limits::FLOORS).
    pub fn check_floor(&self, value: i64) -> Result<(), BadValue> {
        let floors = crate::limits::FLOORS;
        if self.kind == Kind::Floor
            && !(i64::from(*floors.start())..=i64::from(*floors.end())).contains(&value)
        {
            return Err(BadValue {
                field: self.name,
                reason: format!("{value} is not a floor between {} and {}", floors.start(), floors.end()),
            });
        }
        Ok(())
    }

    /// Checks a count against [`limits::PEOPLE`](crate::limits::PEOPLE).
    pub fn check_count(&self, value: u32) -> Result<(), BadValue> {
        if self.kind == Kind::Count && value > crate::limits::PEOPLE {
            return Err(BadValue {
                field: self.name,
                reason: format!("{value} is more than {} people", crate::limits::PEOPLE),
            });
        }
        Ok(())
    }
}
