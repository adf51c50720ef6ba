//! What the queries return, as plain records the host copies: households, doors, tasks,
//! requests, counts, conflicts. Core types whose fields uniffi can carry as they are are
//! exported as "remote" records (their definitions must match core's); the rest are mirrored
//! here with a `From` conversion that only changes containers (a `BTreeSet` becomes a list).

use std::collections::{HashMap, HashSet};

use doorstep_core::Timestamp;
use doorstep_core::id::{
    BuildingId, CompoundId, DocumentId, HouseholdId, PersonId, RequestId, ReviewId, TaskId,
};
use doorstep_core::query;
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::ledger_field::LedgerField;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::review::ConflictSubject;
use doorstep_core::schema::task::{Attempt, Cancellation, RoundInfo};
use doorstep_core::schema::vocabulary::{
    Category, Channel, Outcome, Priority, RequestStatus, RoundStatus, TaskKind, TaskStatus, Urgency,
};
use doorstep_core::{Role, schema};

/// A flat's address within a compound.
#[uniffi::remote(Record)]
pub struct Address {
    /// The estate (小区); empty when the compound has one.
    pub estate: String,
    /// The building ("17").
    pub building: String,
    /// The unit (单元); empty when the building has none.
    pub unit: String,
    /// The floor.
    pub floor: i32,
    /// The flat ("702").
    pub flat: String,
}

/// One knock on a door: appended, never edited.
#[uniffi::remote(Record)]
pub struct Attempt {
    /// Who recorded it: the knocker, or the coordinator who applied a knock the relay had set
    /// aside (then `knocked_by` names the knocker: credit them).
    pub by: PersonId,
    /// Device time it was recorded.
    pub at: Timestamp,
    /// What happened.
    pub outcome: Outcome,
    /// What the volunteer noted.
    pub note: String,
    /// Who knocked, when a coordinator recorded the knock for them; absent when `by` knocked.
    pub knocked_by: Option<PersonId>,
    /// When they knocked, by their phone's clock, when a coordinator recorded it for them.
    pub knocked_at: Option<Timestamp>,
}

/// A coordinator's cancellation of a task.
#[uniffi::remote(Record)]
pub struct Cancellation {
    /// The coordinator.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// A delivery round's header.
#[uniffi::remote(Record)]
pub struct RoundInfo {
    /// The round's document.
    pub document: DocumentId,
    /// "蔬菜包 第3轮".
    pub title: String,
    /// What it delivers.
    pub kind: TaskKind,
    /// The day, as the coordinator wrote it.
    pub date: String,
    /// Open or closed.
    pub status: RoundStatus,
}

/// A compound this device holds, and its role there.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CompoundInfo {
    /// The compound.
    pub id: CompoundId,
    /// Its name, from the roster ("" until the roster has synced).
    pub name: String,
    /// This device's role there, once the relay has granted one.
    pub role: Option<Role>,
}

/// A household (one flat) as the roster holds it now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Household {
    /// Stable ID.
    pub id: HouseholdId,
    /// Its building.
    pub building: BuildingId,
    /// Where it is.
    pub address: Address,
    /// The address as people write it ("17号楼3单元702").
    pub label: String,
    /// 户主.
    pub head: String,
    /// 联系电话.
    pub phone: String,
    /// 户内人数; `None` when the ledger left it blank (未填).
    pub people: Option<u32>,
    /// 60岁以上人数.
    pub aged_60_plus: u32,
    /// 6岁以下儿童.
    pub children_under_6: u32,
    /// 重点人群.
    pub needs: Vec<NeedTag>,
    /// 管控状态.
    pub status: ControlStatus,
    /// 有无电梯.
    pub lift: bool,
    /// 备注, merged from every concurrent edit.
    pub notes: String,
}

impl From<schema::household::Household> for Household {
    fn from(h: schema::household::Household) -> Self {
        Self {
            id: h.id,
            building: h.building,
            label: h.address.to_string(),
            address: h.address,
            head: h.head,
            phone: h.phone,
            people: h.people,
            aged_60_plus: h.aged_60_plus,
            children_under_6: h.children_under_6,
            needs: h.needs.into_iter().collect(),
            status: h.status,
            lift: h.lift,
            notes: h.notes,
        }
    }
}

/// A delivery task as its round holds it now. (Not `Task`: that would shadow Swift's
/// `Task` in every file that imports the package.)
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeliveryTask {
    /// Stable ID.
    pub id: TaskId,
    /// Its round.
    pub round: DocumentId,
    /// The door.
    pub household: HouseholdId,
    /// What to bring.
    pub kind: TaskKind,
    /// "蔬菜包1份, 药品(降压药)".
    pub items: String,
    /// How soon.
    pub priority: Priority,
    /// Who does it, if anyone.
    pub assignee: Option<PersonId>,
    /// The request it answers.
    pub request: Option<RequestId>,
    /// Set when a coordinator cancelled it.
    pub cancelled: Option<Cancellation>,
    /// Every attempt from every phone.
    pub attempts: Vec<Attempt>,
    /// Derived: delivered, cancelled, attempted, assigned or open.
    pub status: TaskStatus,
    /// A knock this phone recorded here was refused by the relay and waits for a coordinator
    /// (not sent yet, under review): the task shows no such knock, so the app must say "your
    /// knock here is set aside, don't deliver again / 请勿重复送达", or the door gets a second
    /// delivery.
    pub knock_set_aside: bool,
}

impl From<schema::task::Task> for DeliveryTask {
    fn from(t: schema::task::Task) -> Self {
        let status = t.status();
        Self {
            id: t.id,
            round: t.round,
            household: t.household,
            kind: t.kind,
            items: t.items,
            priority: t.priority,
            assignee: t.assignee,
            request: t.request,
            cancelled: t.cancelled,
            attempts: t.attempts,
            status,
            knock_set_aside: false,
        }
    }
}

impl DeliveryTask {
    /// Marks the task when a knock of this phone's on it is set aside for a coordinator.
    pub(crate) fn marked(mut self, knocks_set_aside: &HashSet<TaskId>) -> Self {
        self.knock_set_aside = knocks_set_aside.contains(&self.id);
        self
    }
}

/// One door and what is still to do there.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Door {
    /// The household behind it (as it last stood, when removed since).
    pub household: Household,
    /// A coordinator removed the household from the roster after its tasks were planned: the
    /// tasks still stand; say "removed from the roster since its round was planned: ask a
    /// coordinator before going / 本轮计划后该户已从名册移除，上门前请先问协调员".
    pub household_removed: bool,
    /// Its pending tasks, most urgent first.
    pub tasks: Vec<DeliveryTask>,
}

impl Door {
    /// Marks the door's tasks a knock of this phone's is set aside for.
    pub(crate) fn marked(mut self, knocks_set_aside: &HashSet<TaskId>) -> Self {
        self.tasks = self.tasks.into_iter().map(|t| t.marked(knocks_set_aside)).collect();
        self
    }
}

impl From<query::Door> for Door {
    fn from(d: query::Door) -> Self {
        Self {
            household: d.household.into(),
            household_removed: d.household_removed,
            tasks: d.tasks.into_iter().map(DeliveryTask::from).collect(),
        }
    }
}

/// A task that answers a request.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TaskRef {
    /// The task.
    pub task: TaskId,
    /// Its round.
    pub round: DocumentId,
}

/// A resident's request (诉求).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Request {
    /// Stable ID.
    pub id: RequestId,
    /// Who asked.
    pub household: HouseholdId,
    /// How it reached us.
    pub channel: Channel,
    /// What it is about.
    pub category: Category,
    /// What they asked for.
    pub text: String,
    /// How urgent.
    pub urgency: Urgency,
    /// Triage status.
    pub status: RequestStatus,
    /// Tasks that answer it.
    pub tasks: Vec<TaskRef>,
    /// Who took it down.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
}

impl From<schema::request::Request> for Request {
    fn from(r: schema::request::Request) -> Self {
        Self {
            id: r.id,
            household: r.household,
            channel: r.channel,
            category: r.category,
            text: r.text,
            urgency: r.urgency,
            status: r.status,
            tasks: r.tasks.into_iter().map(|(task, round)| TaskRef { task, round }).collect(),
            by: r.by,
            at: r.at,
        }
    }
}

/// The numbers on a coordinator's overview.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Counts {
    /// Households.
    pub households: u32,
    /// People, in the households whose count is known.
    pub people: u32,
    /// Households whose 户内人数 is unknown (未填).
    pub people_unknown: u32,
    /// People aged 60+.
    pub aged_60_plus: u32,
    /// Children under 6.
    pub children_under_6: u32,
    /// Households with a need tag.
    pub special_needs: u32,
    /// Households by control status (every status, zeros included).
    pub by_status: HashMap<ControlStatus, u32>,
    /// Households by need tag (every tag).
    pub by_need: HashMap<NeedTag, u32>,
    /// Tasks of open rounds by status (every status).
    pub by_task_status: HashMap<TaskStatus, u32>,
}

impl From<query::Counts> for Counts {
    fn from(c: query::Counts) -> Self {
        Self {
            households: c.households,
            people: c.people,
            people_unknown: c.people_unknown,
            aged_60_plus: c.aged_60_plus,
            children_under_6: c.children_under_6,
            special_needs: c.special_needs,
            by_status: c.by_status.into_iter().collect(),
            by_need: c.by_need.into_iter().collect(),
            by_task_status: c.by_task_status.into_iter().collect(),
        }
    }
}

/// Something merged without loss that a coordinator should look at.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Conflict {
    /// A task delivered more than once.
    DoubleDelivery {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// The delivered attempts.
        deliveries: Vec<Attempt>,
    },
    /// A task assigned concurrently to different people.
    CompetingAssignment {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// The assignee everyone sees now.
        winner: Option<PersonId>,
        /// Every distinct concurrent value, winner first.
        candidates: Vec<Option<PersonId>>,
    },
    /// A task delivered by a volunteer who had not learnt that a coordinator cancelled it.
    CancelledButDelivered {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The door.
        household: HouseholdId,
        /// Who cancelled it, when and why.
        cancellation: Cancellation,
        /// The delivered attempts the canceller had not seen.
        deliveries: Vec<Attempt>,
    },
    /// A household's control status set concurrently to different values.
    ConcurrentStatus {
        /// The household.
        household: HouseholdId,
        /// The status everyone sees now.
        winner: ControlStatus,
        /// Every distinct concurrent value, winner first.
        candidates: Vec<ControlStatus>,
    },
    /// A household's ledger field set concurrently to different values.
    ConcurrentLedgerEdit {
        /// The household.
        household: HouseholdId,
        /// The field.
        field: LedgerField,
        /// Every distinct concurrent value as written, the one everyone sees now first.
        candidates: Vec<String>,
    },
    /// A request triaged concurrently to different decisions.
    ConcurrentTriage {
        /// The request.
        request: RequestId,
        /// Its door.
        household: HouseholdId,
        /// Every distinct concurrent status, the one everyone sees now first.
        statuses: Vec<RequestStatus>,
        /// Every distinct concurrent urgency, the one everyone sees now first.
        urgencies: Vec<Urgency>,
    },
}

impl From<query::Conflict> for Conflict {
    fn from(c: query::Conflict) -> Self {
        match c {
            query::Conflict::DoubleDelivery { round, task, household, deliveries, .. } => {
                Conflict::DoubleDelivery { round, task, household, deliveries }
            }
            query::Conflict::CompetingAssignment { round, task, household, winner, candidates } => {
                Conflict::CompetingAssignment { round, task, household, winner, candidates }
            }
            query::Conflict::CancelledButDelivered {
                round,
                task,
                household,
                cancellation,
                deliveries,
                ..
            } => Conflict::CancelledButDelivered { round, task, household, cancellation, deliveries },
            query::Conflict::ConcurrentStatus { household, winner, candidates } => {
                Conflict::ConcurrentStatus { household, winner, candidates }
            }
            query::Conflict::ConcurrentLedgerEdit { household, field, candidates } => {
                Conflict::ConcurrentLedgerEdit { household, field, candidates }
            }
            query::Conflict::ConcurrentTriage { request, household, statuses, urgencies } => {
                Conflict::ConcurrentTriage { request, household, statuses, urgencies }
            }
        }
    }
}

/// Which conflict a review is about: its kind and where it is.
#[uniffi::remote(Enum)]
pub enum ConflictSubject {
    /// A task delivered more than once.
    DoubleDelivery {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A task assigned concurrently to different people.
    CompetingAssignment {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A task delivered by a volunteer who had not learnt that a coordinator cancelled it.
    CancelledButDelivered {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// A household's control status set concurrently to different values.
    ConcurrentStatus {
        /// The household.
        household: HouseholdId,
    },
    /// A household's ledger field set concurrently to different values.
    ConcurrentLedgerEdit {
        /// The household.
        household: HouseholdId,
        /// The field.
        field: LedgerField,
    },
    /// A request triaged concurrently to different decisions.
    ConcurrentTriage {
        /// The request.
        request: RequestId,
    },
}

/// A coordinator's review of a conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Review {
    /// Stable ID.
    pub id: ReviewId,
    /// The coordinator.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
    /// What they noted; may be empty.
    pub note: String,
}

/// A conflict, which conflict it is (for `review_conflict`), and the latest review that covers
/// it as it stands: `None` while it waits for a coordinator, and again once a value arrives that
/// the review did not see (a third delivery).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictState {
    /// The conflict.
    pub conflict: Conflict,
    /// Which conflict it is.
    pub subject: ConflictSubject,
    /// The latest review covering it, if any.
    pub review: Option<Review>,
    /// While none covers it, the review it had before a new value reopened it.
    pub earlier_review: Option<Review>,
}

impl From<schema::review::Review> for Review {
    fn from(r: schema::review::Review) -> Self {
        Self { id: r.id, by: r.by, at: r.at, note: r.note }
    }
}

impl From<query::ConflictReview> for ConflictState {
    fn from(c: query::ConflictReview) -> Self {
        Self {
            subject: c.conflict.subject(),
            conflict: c.conflict.into(),
            review: c.review.map(Review::from),
            earlier_review: c.earlier_review.map(Review::from),
        }
    }
}
