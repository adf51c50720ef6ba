//! The numbers on the coordinators' overview.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Compound;
use crate::id::PersonId;
use crate::schema::control_status::ControlStatus;
use crate::schema::need_tag::NeedTag;
use crate::schema::vocabulary::TaskStatus;

/// Counts over the roster and the open rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Households.
    pub households: u32,
    /// People, in the households whose count is known.
    pub people: u32,
    /// Households whose 户内人数 is unknown (未填), not counted in [`Counts::people`].
    pub people_unknown: u32,
    /// People aged 60+.
    pub aged_60_plus: u32,
    /// Children under 6.
    pub children_under_6: u32,
    /// Households with at least one need tag.
    pub special_needs: u32,
    /// Households by control status (every status present, zeros included).
    pub by_status: BTreeMap<ControlStatus, u32>,
    /// Households by need tag (every tag present).
    pub by_need: BTreeMap<NeedTag, u32>,
    /// Tasks of open rounds by derived status (every status present); a task that needs
    /// reassigning is not among them (not `assigned`: nobody holds it) but in
    /// [`Counts::to_reassign`].
    pub by_task_status: BTreeMap<TaskStatus, u32>,
    /// Tasks of open rounds assigned, not knocked on yet, to someone no longer a member (待改派):
    /// nobody holds them and no volunteer may claim them until a coordinator reassigns them
    /// ([`needs_reassigning`](super::needs_reassigning)). Always 0 from [`counts`], which does
    /// not know the members.
    pub to_reassign: u32,
    /// Of the delivered tasks of open rounds, those a coordinator cancelled meanwhile (the
    /// volunteer, offline, had not learnt of it): counted delivered — the goods are at the door —
    /// and here, so the clash is not hidden behind `cancelled: 0`; each is a conflict to review.
    pub cancelled_but_delivered: u32,
    /// Attempts that reached a round after it was closed (late field facts, 迟到).
    pub late_attempts: u32,
}

/// The counts of a compound, taking every assignee for a member (a phone does not know who was
/// removed).
pub fn counts(compound: &Compound) -> Counts {
    counts_among(compound, |_| true)
}

/// The counts of a compound whose members `is_member` tells: tasks given to anyone else are
/// counted [`Counts::to_reassign`], not assigned.
pub fn counts_among(compound: &Compound, is_member: impl Fn(PersonId) -> bool) -> Counts {
    let mut c = Counts {
        by_status: ControlStatus::ALL.iter().map(|s| (*s, 0)).collect(),
        by_need: NeedTag::ALL.iter().map(|t| (*t, 0)).collect(),
        by_task_status: TaskStatus::ALL.iter().map(|s| (*s, 0)).collect(),
        ..Counts::default()
    };
    for h in compound.households() {
        c.households += 1;
        match h.people {
            Some(people) => c.people += people,
            None => c.people_unknown += 1,
        }
        c.aged_60_plus += h.aged_60_plus;
        c.children_under_6 += h.children_under_6;
        if !h.needs.is_empty() {
            c.special_needs += 1;
        }
        *c.by_status.entry(h.status).or_default() += 1;
        for tag in &h.needs {
            *c.by_need.entry(*tag).or_default() += 1;
        }
    }
    for t in compound.open_tasks() {
        if super::needs_reassigning(&t, &is_member) {
            c.to_reassign += 1;
        } else {
            *c.by_task_status.entry(t.status()).or_default() += 1;
        }
    }
    c.cancelled_but_delivered =
        compound.open_rounds().map(|d| super::cancelled_but_delivered(d.id(), d.automerge())).sum();
    c.late_attempts = u32::try_from(super::late_attempts(compound).len()).unwrap_or(u32::MAX);
    c
}
