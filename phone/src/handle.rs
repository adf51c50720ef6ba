//! Task handles: what a volunteer reads in `tasks` and types into `claim`, `attempt` and
//! `release`, instead of a task's UUID.
//!
//! A task's handle is its door in the short dashed form coordinators already write ("1-1-101",
//! "17-702" for a building without units), which the address reader in core understands along
//! with "1号楼1单元101". A door with several tasks in the open rounds numbers them "1-1-101/1",
//! "1-1-101/2" in the order of their rounds (day, then title), so a task keeps its number while
//! others at the door are delivered. A door whose only pending task is this one shows the bare
//! door. The estate is put in front ("北林小区1-1-102") only where two estates of a compound
//! share the dashed form.
//!
//! A sync may renumber a door: a round dated earlier arrives, or a round closes, and "/1" is
//! another round's task. A numbered handle typed means what the last listing (`tasks`, `rounds`)
//! showed: each listing's numbers are remembered ([`Shown`]), and one it showed names that task
//! while the task is open, whatever its number now; one whose task is no longer open is a choice
//! to make again, never another task at the door.

use std::collections::{BTreeMap, HashMap};

use doorstep_core::Compound;
use doorstep_core::id::{CompoundId, DocumentId, HouseholdId, TaskId};
use doorstep_core::query::HouseholdBook;
use doorstep_core::query::{self, LookupError};
use doorstep_core::schema::address::{Address, parse_address};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::vocabulary::TaskStatus;
use doorstep_replica::Replica;

use crate::PhoneError;

/// A task as the phone names it: its handle, door and round, by words rather than IDs.
#[derive(Debug, Clone)]
pub struct Named {
    /// The compound the task is in.
    pub compound: CompoundId,
    /// The task.
    pub task: Task,
    /// What to type for it: "1-1-101" or "1-1-101/2".
    pub handle: String,
    /// The door as people read it: "香樟苑 1号楼1单元101".
    pub address: String,
    /// The round's title ("蔬菜包 第1轮"), or a plain note when the phone does not hold it.
    pub round_title: String,
}

impl Named {
    /// "1-1-101/2: 蔬菜包 第1轮, 生活物资 / Groceries, 已送达 / Delivered", one of the choices an
    /// ambiguous handle lists.
    pub fn choice(&self) -> String {
        let status = self.task.status();
        format!(
            "{}: {}, {} / {}, {} / {}",
            self.handle,
            self.round_title,
            self.task.kind.label_zh(),
            self.task.kind.label_en(),
            status.label_zh(),
            status.label_en()
        )
    }
}

/// The numbered handles a listing showed, each with its task: by compound, household and
/// number ("<compound>/<household>/2"), so that the door typed in any form finds it.
pub type Shown = BTreeMap<String, String>;

fn shown_key(compound: CompoundId, household: HouseholdId, number: usize) -> String {
    format!("{compound}/{household}/{number}")
}

/// The number a handle ends with ("1-1-101/2": 2), if any.
fn number_of(handle: &str) -> Option<usize> {
    handle.rsplit_once('/').and_then(|(_, n)| n.parse().ok())
}

/// Every task of the phone's open rounds with its handle, and a way back from what was typed.
#[derive(Debug, Default)]
pub struct Handles {
    named: Vec<Named>,
    /// Index into `named` by task.
    by_task: HashMap<TaskId, usize>,
    /// What the last listing showed, which what is typed means.
    listed: Shown,
}

impl Handles {
    /// The handles of every task in the open rounds of every compound the replica holds.
    pub fn of(replica: &Replica) -> Self {
        Self::of_compounds(&replica.compounds().collect::<Vec<_>>())
    }

    /// These handles, with a typed handle meaning what `listed` showed it as
    /// ([`Handles::shown`] of the last listing).
    pub fn read_as_listed(mut self, listed: Shown) -> Self {
        self.listed = listed;
        self
    }

    /// What a listing of these handles shows, to remember as the last one.
    pub fn shown(&self) -> Shown {
        self.named
            .iter()
            .filter_map(|n| {
                let number = number_of(&n.handle)?;
                Some((shown_key(n.compound, n.task.household, number), n.task.id.to_string()))
            })
            .collect()
    }

    /// The handles of every task in the open rounds of `compounds`.
    pub fn of_compounds(compounds: &[&Compound]) -> Self {
        let mut handles = Self::default();
        for compound in compounds {
            handles.add_compound(compound);
        }
        handles
    }

    fn add_compound(&mut self, compound: &Compound) {
        let open = compound.open_tasks();
        let book = HouseholdBook::of(compound, open.iter().map(|t| t.household));
        let households = book.live();
        let rounds: HashMap<DocumentId, RoundInfo> =
            compound.round_infos().into_iter().map(|info| (info.document, info)).collect();
        let mut by_door: HashMap<HouseholdId, Vec<Task>> = HashMap::new();
        for task in open {
            by_door.entry(task.household).or_default().push(task);
        }
        for (household, mut tasks) in by_door {
            tasks.sort_by_key(|t| {
                let round = rounds.get(&t.round);
                (round.map(|r| r.date.clone()), round.map(|r| r.title.clone()), t.round, t.kind, t.id)
            });
            let found = households.iter().find(|h| h.id == household);
            let door = found.map_or_else(|| "?".to_owned(), |h| door_handle(&h.address, households));
            let address = address_text(&book, household);
            let pending = tasks.iter().filter(|t| is_pending(t)).count();
            let alone = tasks.len() == 1;
            for (i, task) in tasks.into_iter().enumerate() {
                let handle = if alone || (pending == 1 && is_pending(&task)) {
                    door.clone()
                } else {
                    format!("{door}/{}", i + 1)
                };
                let round_title = rounds.get(&task.round).map_or_else(
                    || "a round not on this phone / 本机没有的轮次".to_owned(),
                    |r| r.title.clone(),
                );
                self.by_task.insert(task.id, self.named.len());
                self.named.push(Named {
                    compound: compound.id(),
                    task,
                    handle,
                    address: address.clone(),
                    round_title,
                });
            }
        }
    }

    /// The handle of a task in an open round.
    pub fn handle_of(&self, task: TaskId) -> Option<&str> {
        self.by_task.get(&task).map(|&i| self.named[i].handle.as_str())
    }

    /// The task named by `text`: a handle ("1-1-101", "1-1-101/2", "1号楼1单元101/2"), or, for
    /// scripts, a task ID or a unique prefix of at least 6 characters of one.
    pub fn resolve(&self, compounds: &[&Compound], text: &str) -> Result<Named, PhoneError> {
        let typed = text.trim();
        if let Some(found) = self.by_id(compounds, typed)? {
            return Ok(found);
        }
        let normalized = doorstep_core::schema::address::normalize_width(typed);
        let (door, number) = match normalized.rsplit_once('/') {
            Some((door, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (door.to_owned(), n.parse::<usize>().ok())
            }
            _ => (normalized.clone(), None),
        };
        if parse_address(&door).is_err() {
            return Err(PhoneError::UnknownTask(typed.to_owned()));
        }
        let household = match household_at(compounds, &door) {
            Err(PhoneError::Lookup(LookupError::NotFound(_))) => {
                return Err(PhoneError::UnknownTask(typed.to_owned()));
            }
            other => other?,
        };
        let at_door: Vec<&Named> = self
            .named
            .iter()
            .filter(|n| n.compound == household.0 && n.task.household == household.1.id)
            .collect();
        let address = household.1.address.to_string();
        let choose = |at_door: &[&Named]| PhoneError::ChooseTask {
            typed: typed.to_owned(),
            address: address.clone(),
            choices: at_door.iter().map(|n| n.choice()).collect(),
        };
        // A number the last listing showed, though a sync renumbered the door since: that task
        // while it is open; none other if it is not. (A bare door is a choice to make as soon as
        // the door has two tasks to do, whatever was listed.)
        let listed = number.and_then(|n| self.listed.get(&shown_key(household.0, household.1.id, n)));
        if let Some(listed) = listed {
            match at_door.iter().find(|n| n.task.id.to_string() == *listed) {
                Some(named) => return Ok((*named).clone()),
                None if !at_door.is_empty() => return Err(choose(&at_door)),
                None => {}
            }
        }
        let chosen = match number {
            Some(n) => at_door.get(n.wrapping_sub(1)).copied(),
            None if at_door.len() == 1 => Some(at_door[0]),
            None => {
                let pending: Vec<&Named> = at_door.iter().copied().filter(|n| is_pending(&n.task)).collect();
                if pending.len() == 1 { Some(pending[0]) } else { None }
            }
        };
        match chosen {
            Some(named) => Ok(named.clone()),
            None if at_door.is_empty() => Err(PhoneError::NoTaskAtDoor(address)),
            None => Err(choose(&at_door)),
        }
    }

    /// The task whose ID is `text` or starts with it (at least 6 characters), in any round the
    /// phone holds, open or closed (a closed round's task is named, and core says it is closed).
    fn by_id(&self, compounds: &[&Compound], text: &str) -> Result<Option<Named>, PhoneError> {
        let id = text.to_ascii_lowercase();
        if id.len() < 6 || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Ok(None);
        }
        let mut found = Vec::new();
        for compound in compounds {
            for task in compound.tasks() {
                let full = task.id.to_string();
                if full == id || full.starts_with(&id) {
                    found.push(self.named_or_closed(compound, task));
                }
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(PhoneError::ChooseTask {
                typed: text.to_owned(),
                address: found.iter().map(|n| n.address.clone()).collect::<Vec<_>>().join(", "),
                choices: found.iter().map(Named::choice).collect(),
            }),
        }
    }

    /// A task as [`Named`]: its open-round entry, or for a closed round's task its door and round
    /// with the bare door as handle.
    fn named_or_closed(&self, compound: &Compound, task: Task) -> Named {
        if let Some(&i) = self.by_task.get(&task.id) {
            return self.named[i].clone();
        }
        let book = HouseholdBook::of(compound, [task.household]);
        let households = book.live();
        let household = households.iter().find(|h| h.id == task.household);
        let round_title = compound
            .round_infos()
            .into_iter()
            .find(|r| r.document == task.round)
            .map_or_else(|| "a round not on this phone / 本机没有的轮次".to_owned(), |r| r.title);
        Named {
            compound: compound.id(),
            handle: household.map_or_else(|| "?".to_owned(), |h| door_handle(&h.address, households)),
            address: address_text(&book, task.household),
            round_title,
            task,
        }
    }
}

/// The household at the door typed, in whichever compound has it.
fn household_at(compounds: &[&Compound], door: &str) -> Result<(CompoundId, Household), PhoneError> {
    let mut last = None;
    for compound in compounds {
        match query::find_household(compound, door) {
            Ok(h) => return Ok((compound.id(), h)),
            Err(e @ LookupError::Ambiguous { .. }) => return Err(PhoneError::Lookup(e)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(PhoneError::NotJoined, PhoneError::Lookup))
}

/// Whether a task still waits for a visit: open, assigned or attempted (as `tasks` lists them).
fn is_pending(task: &Task) -> bool {
    matches!(task.status(), TaskStatus::Open | TaskStatus::Assigned | TaskStatus::Attempted)
}

/// The door in its short dashed form ("1-1-101", "17-702"), with the estate in front when another
/// household of the compound has the same dashed form; the written address (without spaces) for
/// an address the dashed form cannot carry (a building named in characters).
pub fn door_handle(address: &Address, households: &[Household]) -> String {
    let dashed = dashed_of(address);
    let readable = parse_address(&dashed).is_ok_and(|q| {
        q.building == address.building && q.flat == address.flat && q.unit.unwrap_or_default() == address.unit
    });
    if !readable {
        return address.to_string().replace(' ', "");
    }
    let shared =
        households.iter().any(|h| h.address.estate != address.estate && dashed_of(&h.address) == dashed);
    if shared { format!("{}{dashed}", address.estate) } else { dashed }
}

fn dashed_of(address: &Address) -> String {
    if address.unit.is_empty() {
        format!("{}-{}", address.building, address.flat)
    } else {
        format!("{}-{}-{}", address.building, address.unit, address.flat)
    }
}

/// A household's address as lines show it: the roster's, the last one marked as removed for a
/// household removed since (the work that names it still says where the door was), or a plain
/// note for one the phone never held.
pub fn address_text(book: &HouseholdBook, id: HouseholdId) -> String {
    match (book.get(id), book.removal(id)) {
        (Some(h), None) => h.address.to_string(),
        (Some(h), Some(_)) => format!("{} (已从名册移除 / removed from the roster)", h.address),
        (None, _) => NOT_IN_THE_ROSTER.to_owned(),
    }
}

/// What lines say of a household the phone's roster never held.
pub const NOT_IN_THE_ROSTER: &str = "a household not in this phone's roster / 不在本机名册中的住户";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use doorstep_core::schema::address::floor_of_flat;
    use doorstep_core::schema::control_status::ControlStatus;
    use doorstep_core::schema::household::HouseholdDraft;
    use doorstep_core::schema::vocabulary::{Outcome, Priority, TaskKind};
    use doorstep_core::{Actor, Env, Operation, Role, Selection, Timestamp};

    use super::*;

    fn address(estate: &str, building: &str, unit: &str, flat: &str) -> Address {
        Address {
            estate: estate.into(),
            building: building.into(),
            unit: unit.into(),
            floor: floor_of_flat(flat).unwrap_or(1),
            flat: flat.into(),
        }
    }

    fn draft(address: Address) -> HouseholdDraft {
        HouseholdDraft {
            address,
            head: "张".into(),
            phone: String::new(),
            people: Some(1),
            aged_60_plus: 0,
            children_under_6: 0,
            needs: BTreeSet::new(),
            status: ControlStatus::Normal,
            lift: false,
            notes: String::new(),
        }
    }

    fn person(n: u128) -> doorstep_core::id::PersonId {
        doorstep_core::id::PersonId::from_uuid(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
        ))
    }

    /// A compound built through real operations: doors 1-1-101 and 1-1-102, a first round to
    /// both and a second round to 1-1-101 only.
    fn compound() -> Compound {
        let mut counter = 0u128;
        let mut entropy = move || {
            counter += 1;
            counter * 0x9E37_79B9_7F4A_7C15
        };
        let mut now = 1_795_392_000_000;
        fn env<'a>(entropy: &'a mut dyn doorstep_core::env::Entropy, now: &mut i64) -> Env<'a> {
            *now += 1000;
            Env::new(Timestamp::from_millis(*now), entropy)
        }
        let admin = Actor { person: person(1), role: Role::Admin };
        let device = automerge::ActorId::from([0xD0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut c = Compound::create(&mut env(&mut entropy, &mut now), &admin, device, "香樟苑").unwrap();
        let mut ids = Vec::new();
        for flat in ["101", "102"] {
            let op = Operation::AddHousehold { draft: draft(address("", "1", "1", flat)) };
            let applied = c.apply(&mut env(&mut entropy, &mut now), &admin, &op).unwrap();
            ids.push(applied.new_entity.unwrap().parse().unwrap());
        }
        for (title, selection) in
            [("蔬菜包 第1轮", Selection::All), ("蔬菜包 第2轮", Selection::Households { ids: vec![ids[0]] })]
        {
            let op = Operation::CreateRound {
                title: title.into(),
                kind: TaskKind::Groceries,
                date: "2026-11-23".into(),
                selection,
                items: "蔬菜包1份".into(),
                priority: Priority::Normal,
            };
            c.apply(&mut env(&mut entropy, &mut now), &admin, &op).unwrap();
        }
        c
    }

    #[test]
    fn a_door_reads_as_its_dashed_address_with_the_estate_only_where_needed() {
        assert_eq!(door_handle(&address("", "1", "1", "101"), &[]), "1-1-101");
        assert_eq!(door_handle(&address("", "17", "", "702"), &[]), "17-702");
        // A building named in characters cannot be dashed: the written address, without spaces.
        assert_eq!(door_handle(&address("", "东", "1", "101"), &[]), "东号楼1单元101");
    }

    #[test]
    fn a_door_with_tasks_in_two_rounds_numbers_them_and_asks_which_one() {
        let c = compound();
        let compounds = [&c];
        let handles = Handles::of_compounds(&compounds);
        let mut shown: Vec<String> =
            c.open_tasks().iter().map(|t| handles.handle_of(t.id).unwrap().to_owned()).collect();
        shown.sort();
        assert_eq!(shown, ["1-1-101/1", "1-1-101/2", "1-1-102"]);

        // The lone task at 1-1-102 is found by its door in either form; the numbered ones by number.
        let lone = handles.resolve(&compounds, "1-1-102").unwrap();
        assert_eq!((lone.handle.as_str(), lone.round_title.as_str()), ("1-1-102", "蔬菜包 第1轮"));
        assert_eq!(handles.resolve(&compounds, "1号楼1单元102").unwrap().task.id, lone.task.id);
        let second = handles.resolve(&compounds, "1-1-101/2").unwrap();
        assert_eq!(second.round_title, "蔬菜包 第2轮");
        assert_eq!(handles.resolve(&compounds, "１－１－１０１／２").unwrap().task.id, second.task.id);
        // A script may still give the ID, or a prefix of it.
        let id = second.task.id.to_string();
        assert_eq!(handles.resolve(&compounds, &id).unwrap().task.id, second.task.id);

        // The bare door with two tasks lists both choices, with what to type, in both languages.
        let Err(PhoneError::ChooseTask { choices, .. }) = handles.resolve(&compounds, "1-1-101") else {
            panic!("two tasks at one door are a choice");
        };
        assert_eq!(choices.len(), 2);
        assert!(
            choices[0].starts_with("1-1-101/1: 蔬菜包 第1轮, 生活物资 / Groceries, 待领取 / Open"),
            "{choices:?}"
        );
        let text = handles.resolve(&compounds, "1-1-101/3").unwrap_err().to_string();
        assert!(text.contains("1-1-101/2: 蔬菜包 第2轮") && text.contains("请输入以下之一"), "{text}");
        let unknown = handles.resolve(&compounds, "9-9-909").unwrap_err().to_string();
        assert!(unknown.contains("找不到") && unknown.contains("e.g. 1-1-101"), "{unknown}");
    }

    #[test]
    fn once_one_of_two_tasks_is_delivered_the_bare_door_names_the_other() {
        let mut c = compound();
        let first = Handles::of_compounds(&[&c]).resolve(&[&c], "1-1-101/1").unwrap();
        let volunteer = Actor { person: person(9), role: Role::Coordinator };
        let mut entropy = || 42u128;
        let mut env = Env::new(Timestamp::from_millis(1_795_400_000_000), &mut entropy);
        let op = Operation::RecordAttempt {
            round: first.task.round,
            task: first.task.id,
            outcome: Outcome::Delivered,
            note: String::new(),
        };
        c.apply(&mut env, &volunteer, &op).unwrap();
        let handles = Handles::of_compounds(&[&c]);
        let pending = handles.resolve(&[&c], "1-1-101").unwrap();
        assert_eq!(pending.round_title, "蔬菜包 第2轮");
        assert_eq!(pending.handle, "1-1-101");
        // The delivered one keeps its number.
        assert_eq!(handles.handle_of(first.task.id), Some("1-1-101/1"));
    }

    #[test]
    fn a_handle_typed_means_what_the_last_listing_showed_though_a_sync_renumbered_the_door() {
        let mut c = compound();
        let listed = Handles::of_compounds(&[&c]);
        let shown = listed.shown();
        let second = listed.resolve(&[&c], "1-1-101/2").unwrap();
        assert_eq!(second.round_title, "蔬菜包 第2轮");

        // A round dated earlier arrives: by its day it is now the door's first.
        let admin = Actor { person: person(1), role: Role::Admin };
        let mut counter = 1_000u128;
        let mut entropy = move || {
            counter += 1;
            counter * 0x9E37_79B9_7F4A_7C15
        };
        let mut env = Env::new(Timestamp::from_millis(1_795_500_000_000), &mut entropy);
        let op = Operation::CreateRound {
            title: "药品 第1轮".into(),
            kind: TaskKind::Medicine,
            date: "2026-11-20".into(),
            selection: Selection::All,
            items: "药品".into(),
            priority: Priority::High,
        };
        c.apply(&mut env, &admin, &op).unwrap();
        let now = Handles::of_compounds(&[&c]);
        assert_eq!(now.resolve(&[&c], "1-1-101/2").unwrap().round_title, "蔬菜包 第1轮", "renumbered");
        // As listed, "1-1-101/2" is still the second vegetable round's task, and says its number now.
        let read_as_listed = Handles::of_compounds(&[&c]).read_as_listed(shown.clone());
        let typed = read_as_listed.resolve(&[&c], "1号楼1单元101/2").unwrap();
        assert_eq!(typed.task.id, second.task.id);
        assert_eq!(typed.handle, "1-1-101/3");
        assert_eq!(read_as_listed.resolve(&[&c], "1-1-101/1").unwrap().round_title, "蔬菜包 第1轮");
        // A number the listing did not show goes by the numbering now.
        assert_eq!(read_as_listed.resolve(&[&c], "1-1-101/3").unwrap().task.id, second.task.id);

        // The round it showed closes: that handle is a choice to make again, never another task.
        let op = Operation::CloseRound { round: second.task.round };
        c.apply(&mut env, &admin, &op).unwrap();
        let read_as_listed = Handles::of_compounds(&[&c]).read_as_listed(shown);
        let Err(PhoneError::ChooseTask { choices, .. }) = read_as_listed.resolve(&[&c], "1-1-101/2") else {
            panic!("the task listed as 1-1-101/2 is closed: a choice, not the task numbered 2 now");
        };
        assert_eq!(choices.len(), 2, "{choices:?}");
    }
}
