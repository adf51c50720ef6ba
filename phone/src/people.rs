//! Other people's names, so the phone says "reviewed by 王芳" rather than a person's UUID.
//!
//! The documents hold person IDs only; names live in the relay's members list. `GET /v1/me`
//! returns the caller's compounds' coordinators by name, and the phone remembers them. It asks
//! at sign-in and join, and after a sync only when the phone holds a review or a cancellation by
//! someone it has not asked about yet, so an ordinary sync makes no extra request. A person the
//! relay does not name (not a coordinator) is remembered as asked about and said as "a
//! coordinator / 协调员".

use std::collections::BTreeMap;
use std::sync::Mutex;

use doorstep_core::id::PersonId;
use doorstep_core::query;
use doorstep_replica::Replica;
use doorstep_replica::http::{Me, RelayClient};

use crate::PhoneError;

/// The names the phone knows: its own person's and the coordinators' the relay told it.
#[derive(Debug, Default)]
pub struct People {
    names: BTreeMap<PersonId, Option<String>>,
}

impl People {
    /// The names the replica remembers, with the phone's own person's.
    pub fn of(replica: &Replica) -> Self {
        let mut names = replica.people_names().unwrap_or_default();
        if let (Some(me), Ok(Some(name))) = (replica.identity().map(|i| i.person), replica.person_name()) {
            names.insert(me, Some(name));
        }
        Self { names }
    }

    /// The names given, for tests.
    #[cfg(test)]
    pub fn from_names(names: impl IntoIterator<Item = (PersonId, Option<String>)>) -> Self {
        Self { names: names.into_iter().collect() }
    }

    /// The person's name, when known.
    pub fn name(&self, person: PersonId) -> Option<&str> {
        self.names.get(&person).and_then(Option::as_deref)
    }

    /// A coordinator by name, or "a coordinator / 协调员" when the phone does not know it.
    pub fn coordinator(&self, person: PersonId) -> String {
        self.name(person).map_or_else(|| "a coordinator / 协调员".to_owned(), str::to_owned)
    }

    /// A coordinator's name in English and in Chinese, for sentences in each language: the
    /// name twice, or "a coordinator" and "协调员".
    pub fn coordinator_words(&self, person: PersonId) -> (String, String) {
        self.name(person).map_or_else(
            || ("a coordinator".to_owned(), "协调员".to_owned()),
            |n| (n.to_owned(), n.to_owned()),
        )
    }

    /// The volunteer holding a task, in English and in Chinese: the name twice, or "another
    /// volunteer" and "其他志愿者".
    pub fn holder_words(&self, person: PersonId) -> (String, String) {
        self.name(person).map_or_else(
            || ("another volunteer".to_owned(), "其他志愿者".to_owned()),
            |n| (n.to_owned(), n.to_owned()),
        )
    }
}

/// Remembers the coordinators' names an answer of `GET /v1/me` gives, and marks `asked` (people
/// the phone wanted named) as asked about.
pub fn remember(replica: &mut Replica, me: &Me, asked: &[PersonId]) -> Result<(), PhoneError> {
    let mut names = replica.people_names()?;
    for person in asked {
        names.entry(*person).or_insert(None);
    }
    for c in &me.coordinators {
        names.insert(c.person, Some(c.name.clone()));
    }
    Ok(replica.remember_people_names(&names)?)
}

/// The people whose names the phone shows (reviewers of conflicts, coordinators who cancelled a
/// task) that it has not asked the relay about yet.
pub fn never_asked(replica: &Replica) -> Vec<PersonId> {
    let known = replica.people_names().unwrap_or_default();
    let me = replica.identity().map(|i| i.person);
    let mut wanted: Vec<PersonId> = Vec::new();
    for compound in replica.compounds() {
        let reviewers = query::all_reviews(compound).into_iter().map(|r| r.by);
        let cancellers = compound.open_tasks().into_iter().filter_map(|t| t.cancelled.map(|c| c.by));
        wanted.extend(reviewers.chain(cancellers));
    }
    wanted.sort_unstable();
    wanted.dedup();
    wanted.retain(|p| Some(*p) != me && !known.contains_key(p));
    wanted
}

/// After a sync: asks the relay for the coordinators' names when the phone now shows someone it
/// has not asked about. A failure here leaves the sync as it was; the names come next time.
pub async fn learn_after_sync(replica: &Mutex<Replica>, client: &RelayClient) -> Result<(), PhoneError> {
    let asked = never_asked(&crate::lock(replica));
    if asked.is_empty() {
        return Ok(());
    }
    let Ok(me) = client.me().await else { return Ok(()) };
    remember(&mut crate::lock(replica), &me, &asked)
}
