//! Carrying out an [`Operation`] on a [`Compound`]: check first, then write.

use automerge::ObjId;
use automerge::transaction::{CommitOptions, Transaction};

use super::{Applied, Operation, OperationError, Selection};
use crate::compound::Compound;
use crate::document::round::NewTask;
use crate::document::{self, Document, Header, care, requests, reviews, roster, round};
use crate::env::Env;
use crate::id::{BuildingId, CareEntryId, DocumentId, HouseholdId, PersonId, RequestId, ReviewId, TaskId};
use crate::limits;
use crate::permission::{Rule, require};
use crate::role::{Actor, Role};
use crate::rulebook::state::RoundWrite;
use crate::rulebook::table::{
    ATTEMPT, BUILDING, CANCELLATION, CARE_ENTRY, HOUSEHOLD, REQUEST, REVIEW, ROSTER, ROUND, TASK,
};
use crate::rulebook::{BadValue, Entity, characters, household, state};
use crate::schema::address::{building_label, is_invisible, normalize_width, unreadable_building};
use crate::schema::household::{Building, HouseholdDraft};
use crate::schema::request::Request;
use crate::schema::review::Review;
use crate::schema::task::{Attempt, Cancellation};
use crate::schema::utc_offset::UtcOffset;
use crate::schema::vocabulary::{DocKind, RequestStatus, RoundStatus};

impl Compound {
    /// Creates a compound's roster, requests and care documents (admins only). The roster holds
    /// the compound's `name`.
    pub fn create(
        env: &mut Env<'_>,
        actor: &Actor,
        device: automerge::ActorId,
        name: &str,
    ) -> Result<Compound, OperationError> {
        forbid(actor.role, "create a compound", Rule::CompoundsAreCreatedByAdmins)?;
        text(&ROSTER, "name", name)?;
        let id = crate::id::CompoundId::generate(env);
        let mut compound = Compound::new(id, device.clone());
        for kind in [DocKind::Roster, DocKind::Requests, DocKind::Care] {
            let header = Header { id: DocumentId::generate(env), kind, compound: id };
            let mut doc = Document::create(header, device.clone())?;
            // Every collection exists from the start: two phones that each added the first
            // request offline would otherwise each create a `requests` map, and one would hide
            // the other.
            let collections: &[&str] = match kind {
                DocKind::Roster => &[roster::BUILDINGS, roster::HOUSEHOLDS, reviews::REVIEWS],
                DocKind::Requests => &[requests::REQUESTS],
                DocKind::Care => &[care::ENTRIES],
                DocKind::Round => &[],
            };
            transact(&mut doc, env, |tx| {
                if kind == DocKind::Roster {
                    automerge::transaction::Transactable::put(tx, automerge::ROOT, "name", name)?;
                }
                for key in collections {
                    automerge::transaction::Transactable::put_object(
                        tx,
                        automerge::ROOT,
                        *key,
                        automerge::ObjType::Map,
                    )?;
                }
                Ok(())
            })?;
            compound.insert(doc);
        }
        Ok(compound)
    }

    /// The compound's name, from its roster.
    pub fn name(&self) -> String {
        self.single(DocKind::Roster)
            .and_then(|d| document::read::opt_string(d.automerge(), &automerge::ROOT, "name").ok().flatten())
            .unwrap_or_default()
    }

    /// The compound's time zone, from its roster; UTC+8 when none was set (or the roster is
    /// missing, or holds an offset this version cannot read).
    pub fn utc_offset(&self) -> UtcOffset {
        self.single(DocKind::Roster)
            .and_then(|d| document::read::int(d.automerge(), &automerge::ROOT, roster::UTC_OFFSET).ok())
            .and_then(|minutes| UtcOffset::from_minutes(minutes).ok())
            .unwrap_or_default()
    }

    /// Checks and carries out `op` for `actor`. On error nothing has changed.
    pub fn apply(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        op: &Operation,
    ) -> Result<Applied, OperationError> {
        let before: Vec<(DocumentId, Vec<automerge::ChangeHash>)> =
            self.documents().map(|d| (d.id(), d.heads())).collect();
        let mut applied = self.apply_checked(env, actor, op)?;
        // Writing what is already there (assigning a task to its assignee again) makes no
        // Automerge change, so the document is not reported as changed.
        applied.changed.retain(|id| {
            let old = before.iter().find(|(d, _)| d == id).map(|(_, h)| h.as_slice());
            self.document(*id).map(|d| d.heads()).as_deref() != old
        });
        Ok(applied)
    }

    /// Checks `op` for `actor` as [`Compound::apply`] would, and writes nothing: no document
    /// changes and none is added. Every rule an operation asks is asked before it writes, so
    /// the answer is `apply`'s but for what only writing could fail; it costs the checks, not
    /// the writes (a long note rewritten is thousands of Automerge operations). The review
    /// inbox asks it of every waiting item.
    pub fn rehearse(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        op: &Operation,
    ) -> Result<(), OperationError> {
        let was = std::mem::replace(&mut env.rehearsal, true);
        let result = self.apply_checked(env, actor, op).map(|_| ());
        env.rehearsal = was;
        result
    }

    fn apply_checked(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        op: &Operation,
    ) -> Result<Applied, OperationError> {
        let role = actor.role;
        match op {
            Operation::SetUtcOffset { minutes } => {
                may_write(role, "set the compound's time zone", &ROSTER, &[roster::UTC_OFFSET])?;
                let offset = UtcOffset::from_minutes(*minutes)
                    .map_err(|bad| OperationError::Invalid { field: "minutes", reason: bad.to_string() })?;
                let doc = self.single_mut(DocKind::Roster)?;
                transact(doc, env, |tx| {
                    automerge::transaction::Transactable::put(
                        tx,
                        automerge::ROOT,
                        roster::UTC_OFFSET,
                        offset.minutes(),
                    )?;
                    Ok(())
                })?;
                Ok(applied(doc.id(), None))
            }
            Operation::AddBuilding { estate, label, lift } => {
                may_add(role, "add a building", &BUILDING)?;
                // Written as a household's address keeps it (`Address::as_kept`: "2号楼" as 2), and
                // refused as its import would be: every household in it reads the label.
                let visible = |s: &str| s.chars().filter(|c| !is_invisible(*c)).collect::<String>();
                let (estate, label) = (normalize_width(&visible(estate)), building_label(&visible(label)));
                text(&BUILDING, "estate", &estate)?;
                text(&BUILDING, "label", &label)?;
                if let Some(reason) = unreadable_building(&label) {
                    return Err(OperationError::Invalid { field: "label", reason: reason.into() });
                }
                let building = Building { id: BuildingId::generate(env), estate, label, lift: *lift };
                let doc = self.single_mut(DocKind::Roster)?;
                transact(doc, env, |tx| Ok(roster::put_building(tx, &building)?))?;
                Ok(applied(doc.id(), Some(building.id.to_string())))
            }
            Operation::AddHousehold { draft } => {
                may_add(role, "add a household", &HOUSEHOLD)?;
                // An address is written as a roster import reads it (`Address::as_kept`: no
                // characters that show as nothing, 3单元 as 3), so its export reads back in, and
                // is the same door as any written the same but for them (or for how the building
                // and unit are spelled: `DoorKey`), so the roster never holds two of one door.
                let draft = &HouseholdDraft { address: draft.address.as_kept(), ..draft.clone() };
                check_draft(draft)?;
                let id = HouseholdId::generate(env);
                let new_building = BuildingId::generate(env);
                let doc = self.single_mut(DocKind::Roster)?;
                let existing = roster::households(doc.automerge());
                let key = draft.address.door_key();
                if existing.iter().any(|h| h.address.door_key() == key) {
                    return Err(OperationError::DuplicateAddress(draft.address.to_string()));
                }
                let found = roster::buildings(doc.automerge()).into_values().find(|b| {
                    normalize_width(&b.estate) == key.estate && building_label(&b.label) == key.building
                });
                transact(doc, env, |tx| {
                    let building = match found {
                        Some(b) => b.id,
                        None => {
                            let b = Building {
                                id: new_building,
                                estate: draft.address.estate.clone(),
                                label: draft.address.building.clone(),
                                lift: draft.lift,
                            };
                            roster::put_building(tx, &b)?;
                            b.id
                        }
                    };
                    Ok(roster::put_household(tx, id, building, draft)?)
                })?;
                Ok(applied(doc.id(), Some(id.to_string())))
            }
            Operation::EditHousehold { household, edit } => {
                may_write(role, "edit a household", &HOUSEHOLD, EDITED_HOUSEHOLD_FIELDS)?;
                let now = self
                    .single(DocKind::Roster)
                    .and_then(|roster| roster::household(roster.automerge(), *household));
                let fields = [
                    ("head", edit.head.as_deref(), now.as_ref().map(|h| h.head.as_str())),
                    ("phone", edit.phone.as_deref(), now.as_ref().map(|h| h.phone.as_str())),
                ];
                let written: Vec<_> = fields
                    .into_iter()
                    .filter_map(|(field, value, held)| Some((field, value?, held)))
                    .collect();
                changed_texts(&HOUSEHOLD, &written)?;
                check_counts(
                    edit.people,
                    edit.aged_60_plus.unwrap_or(0),
                    edit.children_under_6.unwrap_or(0),
                )?;
                // What no household may be, judged as the relay judges the change: by what the
                // edit adds, so a household that already broke a rule (written before it, or
                // merged from concurrent edits) can still be edited.
                if let Some(now) = &now {
                    let before = household::Together::from(now);
                    let after = household::Together {
                        head: edit.head.as_deref().unwrap_or(&now.head),
                        people: edit.people.or(now.people),
                        aged_60_plus: edit.aged_60_plus.unwrap_or(now.aged_60_plus),
                        children_under_6: edit.children_under_6.unwrap_or(now.children_under_6),
                        ..before
                    };
                    let added =
                        household::added_problem(&household::problems(before), household::problems(after));
                    if let Some(bad) = added {
                        return Err(OperationError::Invalid { field: bad.field, reason: bad.reason });
                    }
                }
                self.edit_household(env, *household, |tx, obj| Ok(roster::edit_household(tx, obj, edit)?))
            }
            Operation::EditNotes { household, notes } => {
                may_write(role, "edit a household's notes", &HOUSEHOLD, &["notes"])?;
                let roster =
                    self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
                let now = roster::household(roster.automerge(), *household).map(|h| h.notes);
                merged_text(&HOUSEHOLD, "notes", notes, now.as_deref())?;
                self.edit_household(env, *household, |tx, obj| {
                    Ok(document::text_update::update_text(tx, obj, "notes", notes)?)
                })
            }
            Operation::SetControlStatus { household, status } => {
                may_write(role, "set a control status", &HOUSEHOLD, &["status"])?;
                self.edit_household(env, *household, |tx, obj| {
                    automerge::transaction::Transactable::put(tx, obj, "status", status.as_str())?;
                    Ok(())
                })
            }
            Operation::SetNeedTags { household, needs } => {
                may_write(role, "set need tags", &HOUSEHOLD, &["needs"])?;
                self.edit_household(env, *household, |tx, obj| Ok(roster::set_needs(tx, obj, needs)?))
            }
            Operation::RemoveHousehold { household } => {
                may_remove(role, "remove a household", &HOUSEHOLD)?;
                let doc = self.single_mut(DocKind::Roster)?;
                let map = document::read::object(
                    doc.automerge(),
                    &automerge::ROOT,
                    roster::HOUSEHOLDS,
                    automerge::ObjType::Map,
                )
                .filter(|m| {
                    document::read::object(
                        doc.automerge(),
                        m,
                        &household.to_string(),
                        automerge::ObjType::Map,
                    )
                    .is_some()
                })
                .ok_or(OperationError::UnknownHousehold(*household))?;
                transact(doc, env, |tx| {
                    automerge::transaction::Transactable::delete(tx, &map, household.to_string())?;
                    Ok(())
                })?;
                Ok(applied(doc.id(), None))
            }
            Operation::CreateRound { title, kind, date, selection, items, priority } => {
                may_add(role, "create a round", &ROUND)?;
                text(&ROUND, "title", title)?;
                text(&ROUND, "date", date)?;
                text(&TASK, "items", items)?;
                let roster_doc =
                    self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
                let mut selected: Vec<_> = roster::households(roster_doc.automerge())
                    .into_iter()
                    .filter(|h| selection.matches(h))
                    .collect();
                if let Selection::Households { ids } = selection
                    && let Some(missing) = ids.iter().find(|id| !selected.iter().any(|h| h.id == **id))
                {
                    return Err(OperationError::UnknownHousehold(*missing));
                }
                if selected.is_empty() {
                    return Err(OperationError::EmptySelection);
                }
                if selected.len() > limits::TASKS_PER_ROUND {
                    return Err(OperationError::Invalid {
                        field: "selection",
                        reason: format!(
                            "{} households exceed the {} tasks a round may hold",
                            selected.len(),
                            limits::TASKS_PER_ROUND
                        ),
                    });
                }
                self.require_no_same_round(title, *kind, date, &selected)?;
                selected.sort_by_key(|h| h.address.climb_key());
                let header =
                    Header { id: DocumentId::generate(env), kind: DocKind::Round, compound: self.id() };
                let task_ids: Vec<TaskId> = selected.iter().map(|_| TaskId::generate(env)).collect();
                let mut doc = Document::create(header, self.device().clone())?;
                transact(&mut doc, env, |tx| {
                    round::put_info(tx, title, *kind, date)?;
                    for (h, id) in selected.iter().zip(&task_ids) {
                        let task = NewTask {
                            household: h.id,
                            kind: *kind,
                            items,
                            priority: *priority,
                            request: None,
                        };
                        round::put_task(tx, *id, &task)?;
                    }
                    Ok(())
                })?;
                if !env.rehearsal {
                    self.insert(doc);
                }
                Ok(Applied { changed: vec![header.id], created: vec![header.id], new_entity: None })
            }
            Operation::AddTask { round: round_id, household, kind, items, priority, request } => {
                may_add(role, "add a task", &TASK)?;
                text(&TASK, "items", items)?;
                self.require_household(*household)?;
                let requests_doc = match request {
                    Some(r) => Some(self.request_obj(*r)?),
                    None => None,
                };
                if let Some(r) = request {
                    self.require_no_live_task_for(*r)?;
                }
                self.open_round(*round_id)?;
                let id = TaskId::generate(env);
                let doc = self.round_mut(*round_id)?;
                let held = document::read::object(
                    doc.automerge(),
                    &automerge::ROOT,
                    round::TASKS,
                    automerge::ObjType::Map,
                )
                .map_or(0, |tasks| automerge::ReadDoc::length(doc.automerge(), &tasks));
                if !state::keeps_within(limits::TASKS_PER_ROUND, held, held + 1) {
                    return Err(OperationError::Invalid {
                        field: "round",
                        reason: format!(
                            "the round holds {held} tasks, the most a round may hold; plan another round"
                        ),
                    });
                }
                transact(doc, env, |tx| {
                    let task = NewTask {
                        household: *household,
                        kind: *kind,
                        items,
                        priority: *priority,
                        request: *request,
                    };
                    Ok(round::put_task(tx, id, &task)?)
                })?;
                let mut out = applied(*round_id, Some(id.to_string()));
                if let Some((doc_id, obj)) = requests_doc {
                    let doc = self.document_mut_ok(doc_id)?;
                    transact(doc, env, |tx| {
                        requests::link_task(tx, &obj, id, *round_id)?;
                        automerge::transaction::Transactable::put(
                            tx,
                            &obj,
                            "status",
                            RequestStatus::Accepted.as_str(),
                        )?;
                        Ok(())
                    })?;
                    out.changed.push(doc_id);
                }
                Ok(out)
            }
            Operation::AssignTask { round: round_id, task, volunteer } => {
                forbid(role, "assign a task", Rule::RoundsArePlannedByCoordinators)?;
                self.open_round(*round_id)?;
                let obj = self.task_obj(*round_id, *task)?;
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_assignee(tx, &obj, Some(*volunteer))?))?;
                Ok(applied(*round_id, None))
            }
            Operation::AssignBuilding { round: round_id, estate, building, volunteer } => {
                forbid(role, "assign a building", Rule::RoundsArePlannedByCoordinators)?;
                self.open_round(*round_id)?;
                let roster_doc =
                    self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
                let selection = Selection::Building { estate: estate.clone(), building: building.clone() };
                let in_building: std::collections::BTreeSet<HouseholdId> =
                    roster::households(roster_doc.automerge())
                        .into_iter()
                        .filter(|h| selection.matches(h))
                        .map(|h| h.id)
                        .collect();
                let doc = self.round_mut(*round_id)?;
                let targets: Vec<TaskId> = round::tasks(*round_id, doc.automerge())
                    .into_iter()
                    .filter(|t| {
                        in_building.contains(&t.household) && t.cancelled.is_none() && t.deliveries() == 0
                    })
                    .map(|t| t.id)
                    .collect();
                if targets.is_empty() {
                    return Err(OperationError::EmptySelection);
                }
                let objs: Vec<ObjId> = targets
                    .iter()
                    .filter_map(|t| roster::entity(doc.automerge(), round::TASKS, &t.to_string()))
                    .collect();
                transact(doc, env, |tx| {
                    for obj in &objs {
                        round::put_assignee(tx, obj, Some(*volunteer))?;
                    }
                    Ok(())
                })?;
                Ok(applied(*round_id, None))
            }
            Operation::ClaimTask { round: round_id, task } => {
                self.open_round(*round_id)?;
                let current = self.live_task(*round_id, *task)?;
                match current.assignee {
                    Some(p) if p == actor.person => return Ok(Applied::default()),
                    Some(p) => return Err(OperationError::AlreadyAssigned { task: *task, to: p }),
                    None => {}
                }
                // The write replaces every value written concurrently, not only the one shown: a
                // claim made offline by someone else stays theirs until a coordinator decides
                // (the relay judges exactly these replaced values).
                let others = self.assignee_candidates(*round_id, *task)?;
                if let Some(p) = others.into_iter().flatten().find(|p| *p != actor.person)
                    && state::require_claim(role, actor.person, Some(p), Some(actor.person)).is_err()
                {
                    return Err(OperationError::AlreadyAssigned { task: *task, to: p });
                }
                let obj = self.task_obj(*round_id, *task)?;
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_assignee(tx, &obj, Some(actor.person))?))?;
                Ok(applied(*round_id, None))
            }
            Operation::UnassignTask { round: round_id, task } => {
                self.open_round(*round_id)?;
                let current = self.live_task(*round_id, *task)?;
                if current.assignee.is_none() {
                    return Ok(Applied::default());
                }
                // Releasing replaces every value written concurrently (see ClaimTask).
                for p in self.assignee_candidates(*round_id, *task)? {
                    state::require_claim(role, actor.person, p, None).map_err(|rule| {
                        OperationError::forbidden(role, "release someone else's task", rule)
                    })?;
                }
                let obj = self.task_obj(*round_id, *task)?;
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_assignee(tx, &obj, None)?))?;
                Ok(applied(*round_id, None))
            }
            Operation::CancelTask { round: round_id, task, reason } => {
                may_write(role, "cancel a task", &TASK, &["cancelled"])?;
                text(&CANCELLATION, "reason", reason)?;
                self.open_round(*round_id)?;
                let obj = self.task_obj(*round_id, *task)?;
                let cancellation = Cancellation { by: actor.person, at: env.now, reason: reason.clone() };
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_cancellation(tx, &obj, &cancellation)?))?;
                Ok(applied(*round_id, None))
            }
            Operation::RecordAttempt { round: round_id, task, outcome, note } => {
                let attempt = Attempt {
                    by: actor.person,
                    at: env.now,
                    outcome: *outcome,
                    note: note.clone(),
                    knocked_by: None,
                    knocked_at: None,
                };
                self.record_attempt(env, actor, *round_id, *task, attempt)
            }
            Operation::RecordAttemptFor { round: round_id, task, outcome, note, knocked_by, knocked_at } => {
                let attempt = Attempt {
                    by: actor.person,
                    at: env.now,
                    outcome: *outcome,
                    note: note.clone(),
                    knocked_by: Some(*knocked_by),
                    knocked_at: Some(*knocked_at),
                };
                state::require_own_attempt(actor, &attempt).map_err(|rule| {
                    OperationError::forbidden(role, "record a knock for someone else", rule)
                })?;
                self.record_attempt(env, actor, *round_id, *task, attempt)
            }
            Operation::CloseRound { round: round_id } => {
                may_write(role, "close a round", &ROUND, &["status", round::CLOSED_AT])?;
                self.open_round(*round_id)?;
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_closed(tx, env.now)?))?;
                Ok(applied(*round_id, None))
            }
            Operation::ReopenRound { round: round_id } => {
                may_write(role, "reopen a round", &ROUND, &["status", round::CLOSED_AT])?;
                match self.open_round(*round_id) {
                    Err(OperationError::RoundClosed(_)) => {}
                    Ok(()) => return Err(OperationError::RoundOpen(*round_id)),
                    Err(e) => return Err(e),
                }
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| Ok(round::put_reopened(tx)?))?;
                Ok(applied(*round_id, None))
            }
            Operation::AddRequest { household, channel, category, text: words, urgency } => {
                may_add(role, "take down a request", &REQUEST)?;
                text(&REQUEST, "text", words)?;
                self.require_household(*household)?;
                let request = Request {
                    id: RequestId::generate(env),
                    household: *household,
                    channel: *channel,
                    category: *category,
                    text: words.clone(),
                    urgency: *urgency,
                    status: RequestStatus::New,
                    tasks: Default::default(),
                    by: actor.person,
                    at: env.now,
                };
                let doc = self.single_mut(DocKind::Requests)?;
                transact(doc, env, |tx| Ok(requests::put_request(tx, &request)?))?;
                Ok(applied(doc.id(), Some(request.id.to_string())))
            }
            Operation::TriageRequest { request, status, urgency } => {
                may_write(role, "triage a request", &REQUEST, &["status", "urgency"])?;
                let (doc_id, obj) = self.request_obj(*request)?;
                let doc = self.document_mut_ok(doc_id)?;
                transact(doc, env, |tx| {
                    automerge::transaction::Transactable::put(tx, &obj, "status", status.as_str())?;
                    if let Some(u) = urgency {
                        automerge::transaction::Transactable::put(tx, &obj, "urgency", u.as_str())?;
                    }
                    Ok(())
                })?;
                Ok(applied(doc_id, None))
            }
            Operation::LinkRequest { request, round: round_id, task } => {
                may_write(role, "link a request", &REQUEST, &["tasks", "status"])?;
                may_write(role, "link a request", &TASK, &["request"])?;
                let (req_doc, req_obj) = self.request_obj(*request)?;
                self.open_round(*round_id)?;
                let task_obj = self.task_obj(*round_id, *task)?;
                let doc = self.round_mut(*round_id)?;
                transact(doc, env, |tx| {
                    automerge::transaction::Transactable::put(tx, &task_obj, "request", request.to_string())?;
                    Ok(())
                })?;
                let doc = self.document_mut_ok(req_doc)?;
                transact(doc, env, |tx| {
                    requests::link_task(tx, &req_obj, *task, *round_id)?;
                    if document::read::string(&*tx, &req_obj, "status").ok().as_deref()
                        == Some(RequestStatus::New.as_str())
                    {
                        automerge::transaction::Transactable::put(
                            tx,
                            &req_obj,
                            "status",
                            RequestStatus::Accepted.as_str(),
                        )?;
                    }
                    Ok(())
                })?;
                Ok(Applied { changed: vec![*round_id, req_doc], created: vec![], new_entity: None })
            }
            Operation::AddCareEntry { draft } => {
                may_add(role, "write the care ledger", &CARE_ENTRY)?;
                check_care(draft)?;
                self.require_household(draft.household)?;
                let id = CareEntryId::generate(env);
                let doc = self.single_mut(DocKind::Care)?;
                transact(doc, env, |tx| Ok(care::put_entry(tx, id, draft)?))?;
                Ok(applied(doc.id(), Some(id.to_string())))
            }
            Operation::EditCareEntry { entry, draft } => {
                may_write(role, "write the care ledger", &CARE_ENTRY, CARE_DRAFT_FIELDS)?;
                let doc = self.single_mut(DocKind::Care)?;
                let Some(obj) = roster::entity(doc.automerge(), care::ENTRIES, &entry.to_string()) else {
                    return Err(OperationError::UnknownCareEntry(*entry));
                };
                let now = care::read_entry(doc.automerge(), *entry, &obj).ok();
                check_care_changes(draft, now.as_ref())?;
                merged_text(&CARE_ENTRY, "notes", &draft.notes, now.as_ref().map(|e| e.notes.as_str()))?;
                transact(doc, env, |tx| Ok(care::put_entry(tx, *entry, draft)?))?;
                Ok(applied(doc.id(), None))
            }
            Operation::ReviewConflict { conflict, note } => {
                may_add(role, "mark a conflict reviewed", &REVIEW)?;
                text(&REVIEW, "note", note)?;
                let current = crate::query::conflicts(self)
                    .into_iter()
                    .find(|c| c.subject() == *conflict)
                    .ok_or(OperationError::NoSuchConflict(*conflict))?;
                let review = Review {
                    id: ReviewId::generate(env),
                    subject: *conflict,
                    covers: current.values(),
                    by: actor.person,
                    at: env.now,
                    note: note.clone(),
                };
                text(&REVIEW, "covers", &reviews::covers_text(&review))?;
                let doc_id = match conflict.round() {
                    Some(round) => {
                        self.round_taking(round, RoundWrite::Reviews)?;
                        round
                    }
                    None => self
                        .single_id(DocKind::Roster)
                        .ok_or(OperationError::MissingDocument(DocKind::Roster))?,
                };
                let doc = self.document_mut_ok(doc_id)?;
                transact(doc, env, |tx| Ok(reviews::put_review(tx, &review)?))?;
                Ok(applied(doc_id, Some(review.id.to_string())))
            }
        }
    }

    fn single_mut(&mut self, kind: DocKind) -> Result<&mut Document, OperationError> {
        let id = self.single_id(kind).ok_or(OperationError::MissingDocument(kind))?;
        self.document_mut_ok(id)
    }

    fn document_mut_ok(&mut self, id: DocumentId) -> Result<&mut Document, OperationError> {
        self.document_mut(id).ok_or(OperationError::UnknownRound(id))
    }

    fn round_mut(&mut self, id: DocumentId) -> Result<&mut Document, OperationError> {
        match self.document_mut(id) {
            Some(d) if d.kind() == DocKind::Round && !d.is_placeholder() => Ok(d),
            _ => Err(OperationError::UnknownRound(id)),
        }
    }

    fn open_round(&self, id: DocumentId) -> Result<(), OperationError> {
        self.round_taking(id, RoundWrite::Facts)
    }

    /// Whether round `id` takes a write of `writes` (a closed one takes reviews only).
    fn round_taking(&self, id: DocumentId, writes: RoundWrite) -> Result<(), OperationError> {
        let doc = self.rounds().find(|d| d.id() == id).ok_or(OperationError::UnknownRound(id))?;
        match round::info(id, doc.automerge()) {
            Ok(info) => state::require_open_round(info.status == RoundStatus::Closed, writes)
                .map_err(|_| OperationError::RoundClosed(id)),
            Err(_) => Err(OperationError::UnknownRound(id)),
        }
    }

    fn task_obj(&self, round_id: DocumentId, task: TaskId) -> Result<ObjId, OperationError> {
        let doc = self.document(round_id).ok_or(OperationError::UnknownRound(round_id))?;
        roster::entity(doc.automerge(), round::TASKS, &task.to_string())
            .ok_or(OperationError::UnknownTask { round: round_id, task })
    }

    fn assignee_candidates(
        &self,
        round_id: DocumentId,
        task: TaskId,
    ) -> Result<Vec<Option<PersonId>>, OperationError> {
        let doc = self.document(round_id).ok_or(OperationError::UnknownRound(round_id))?;
        Ok(round::assignee_candidates(doc.automerge(), task))
    }

    /// Refuses a round that an open one repeats: the same title, kind and day for the same
    /// households (two coordinators pressing "create" for one round at once made two, and every
    /// door got two deliveries, nothing flagged).
    fn require_no_same_round(
        &self,
        title: &str,
        kind: crate::schema::vocabulary::TaskKind,
        date: &str,
        selected: &[crate::schema::household::Household],
    ) -> Result<(), OperationError> {
        let wanted: std::collections::BTreeSet<HouseholdId> = selected.iter().map(|h| h.id).collect();
        let same = self.open_rounds().find_map(|d| {
            let info = round::info(d.id(), d.automerge()).ok()?;
            let alike =
                info.title.trim() == title.trim() && info.kind == kind && info.date.trim() == date.trim();
            let doors: std::collections::BTreeSet<HouseholdId> = round::tasks(d.id(), d.automerge())
                .into_iter()
                .filter(|t| t.cancelled.is_none())
                .map(|t| t.household)
                .collect();
            (alike && doors == wanted).then_some(info)
        });
        match same {
            None => Ok(()),
            Some(info) => Err(OperationError::Invalid {
                field: "title",
                reason: format!(
                    "an open round \"{}\" for {} already delivers to these {} households; open it instead, or give the new round another title (已有相同的进行中轮次，请勿重复创建)",
                    info.title,
                    if info.date.is_empty() { "no set day" } else { info.date.as_str() },
                    wanted.len()
                ),
            }),
        }
    }

    /// Refuses a second live task answering one request (two coordinators each adding a task
    /// for it at once made two, and the medicine was delivered twice, nothing flagged).
    fn require_no_live_task_for(&self, request: RequestId) -> Result<(), OperationError> {
        let live = self
            .open_rounds()
            .flat_map(|d| round::tasks(d.id(), d.automerge()))
            .find(|t| t.request == Some(request) && t.cancelled.is_none());
        match live {
            None => Ok(()),
            Some(task) => Err(OperationError::Invalid {
                field: "request",
                reason: format!(
                    "the request already has a task in an open round (task {}); cancel it first to plan another (该诉求已有进行中的任务，请勿重复派单)",
                    task.id
                ),
            }),
        }
    }

    /// Appends `attempt` to an open round's live task, within the limits of attempts per task
    /// and per person (counted by who records them).
    fn record_attempt(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        round_id: DocumentId,
        task: TaskId,
        attempt: Attempt,
    ) -> Result<Applied, OperationError> {
        may_add(actor.role, "record an attempt", &ATTEMPT)?;
        text(&ATTEMPT, "note", &attempt.note)?;
        self.open_round(round_id)?;
        let current = self.live_task(round_id, task)?;
        state::require_live_task(current.cancelled.is_some())
            .map_err(|_| OperationError::TaskCancelled(task))?;
        let mine = current.attempts.iter().filter(|a| a.by == actor.person).count();
        if mine >= limits::ATTEMPTS_BY_ONE_PERSON || current.attempts.len() >= limits::ATTEMPTS_PER_TASK {
            let (whose, count) = if mine >= limits::ATTEMPTS_BY_ONE_PERSON {
                ("you have recorded", mine)
            } else {
                ("the task holds", current.attempts.len())
            };
            return Err(OperationError::Invalid {
                field: "attempts",
                reason: format!(
                    "{whose} {count} attempts on this task, the most it takes; ask a coordinator to add a new task for this door"
                ),
            });
        }
        let obj = self.task_obj(round_id, task)?;
        let doc = self.round_mut(round_id)?;
        transact(doc, env, |tx| Ok(round::append_attempt(tx, &obj, &attempt)?))?;
        Ok(applied(round_id, None))
    }

    fn live_task(
        &self,
        round_id: DocumentId,
        task: TaskId,
    ) -> Result<crate::schema::task::Task, OperationError> {
        let doc = self.document(round_id).ok_or(OperationError::UnknownRound(round_id))?;
        round::task(round_id, doc.automerge(), task)
            .ok_or(OperationError::UnknownTask { round: round_id, task })
    }

    fn request_obj(&self, request: RequestId) -> Result<(DocumentId, ObjId), OperationError> {
        let doc = self.single(DocKind::Requests).ok_or(OperationError::MissingDocument(DocKind::Requests))?;
        let obj = roster::entity(doc.automerge(), requests::REQUESTS, &request.to_string())
            .ok_or(OperationError::UnknownRequest(request))?;
        Ok((doc.id(), obj))
    }

    fn require_household(&self, household: HouseholdId) -> Result<(), OperationError> {
        let doc = self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        roster::entity(doc.automerge(), roster::HOUSEHOLDS, &household.to_string())
            .map(|_| ())
            .ok_or(OperationError::UnknownHousehold(household))
    }

    fn edit_household(
        &mut self,
        env: &Env<'_>,
        household: HouseholdId,
        f: impl FnOnce(&mut Transaction<'_>, &ObjId) -> Result<(), OperationError>,
    ) -> Result<Applied, OperationError> {
        let doc = self.single_mut(DocKind::Roster)?;
        let obj = roster::entity(doc.automerge(), roster::HOUSEHOLDS, &household.to_string())
            .ok_or(OperationError::UnknownHousehold(household))?;
        transact(doc, env, |tx| f(tx, &obj))?;
        Ok(applied(doc.id(), None))
    }
}

/// The household fields `EditHousehold` writes.
const EDITED_HOUSEHOLD_FIELDS: &[&str] =
    &["head", "phone", "people", "aged_60_plus", "children_under_6", "lift"];

/// The care-entry fields `EditCareEntry` writes.
const CARE_DRAFT_FIELDS: &[&str] =
    &["household", "person_name", "condition", "schedule", "medicines", "insurance_card_held_by", "notes"];

fn applied(doc: DocumentId, new_entity: Option<String>) -> Applied {
    Applied { changed: vec![doc], created: vec![], new_entity }
}

pub(super) fn forbid(role: Role, action: &'static str, rule: Rule) -> Result<(), OperationError> {
    require(role, rule).map_err(|rule| OperationError::forbidden(role, action, rule))
}

/// Runs `f` in one Automerge transaction stamped with the device time; rolls back on error. A
/// rehearsal writes nothing: every rule of an operation is asked before it writes.
pub(super) fn transact<T: Default>(
    doc: &mut Document,
    env: &Env<'_>,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<T, OperationError>,
) -> Result<T, OperationError> {
    if env.rehearsal {
        return Ok(T::default());
    }
    let mut tx = doc.automerge_mut().transaction();
    match f(&mut tx) {
        Ok(v) => {
            tx.commit_with(CommitOptions::default().with_time(env.now.as_millis()));
            Ok(v)
        }
        Err(e) => {
            tx.rollback();
            Err(e)
        }
    }
}

/// Checks that `role` may add an `entity`, by the table.
pub(super) fn may_add(role: Role, action: &'static str, entity: &Entity) -> Result<(), OperationError> {
    entity.require_add(role).map_err(|rule| OperationError::forbidden(role, action, rule))
}

/// Checks that `role` may remove an `entity`, by the table.
fn may_remove(role: Role, action: &'static str, entity: &Entity) -> Result<(), OperationError> {
    entity.require_remove(role).map_err(|rule| OperationError::forbidden(role, action, rule))
}

/// Checks that `role` may change `fields` of an `entity`, by the table. Operations that write a
/// field only its author may write check the author themselves.
fn may_write(
    role: Role,
    action: &'static str,
    entity: &Entity,
    fields: &[&str],
) -> Result<(), OperationError> {
    entity.require_write(role, false, fields).map_err(|rule| OperationError::forbidden(role, action, rule))
}

/// Checks a string value against the table's kind and limit of `entity.field`.
pub(super) fn text(entity: &Entity, field: &'static str, value: &str) -> Result<(), OperationError> {
    entity
        .check_text(field, value)
        .map_err(|bad| OperationError::Invalid { field: bad.field, reason: bad.reason })
}

/// Checks the new value of a text field that merges (notes): within its limit, or, for a text
/// that merging phones' edits took past it, no longer than it is `now`, so that it can still be
/// edited down. The relay judges each change the same way (`validate::schema`).
fn merged_text(
    entity: &Entity,
    field: &'static str,
    new: &str,
    now: Option<&str>,
) -> Result<(), OperationError> {
    let (new_len, now_len) = (new.chars().count(), now.map_or(0, |now| now.chars().count()));
    if new_len <= limits::MERGED_TEXT && state::keeps_within(limits::LONG_TEXT, now_len, new_len) {
        return added_characters(entity, field, new, now);
    }
    text(entity, field, new)
}

/// Checks that an edit of a text that merges adds no character no text may hold: a text that
/// already held some (written before the rule) can still be edited, as the relay judges each
/// change (`validate::schema`).
fn added_characters(
    entity: &Entity,
    field: &'static str,
    new: &str,
    now: Option<&str>,
) -> Result<(), OperationError> {
    let kind = entity.field(field).map_or(crate::rulebook::Kind::Text, |f| f.kind);
    let count = |text: &str| characters::count_unwelcome(text, kind);
    if characters::adds_unwelcome(now.map_or(0, count), count(new)) {
        return text(entity, field, new);
    }
    Ok(())
}

/// Checks counts by the table; an unknown 户内人数 (`None`) has nothing to check.
fn check_counts(people: Option<u32>, aged: u32, children: u32) -> Result<(), OperationError> {
    let counts = [("people", people), ("aged_60_plus", Some(aged)), ("children_under_6", Some(children))];
    for (name, value) in counts {
        if let (Some(field), Some(value)) = (HOUSEHOLD.field(name), value) {
            field
                .check_count(value)
                .map_err(|bad| OperationError::Invalid { field: bad.field, reason: bad.reason })?;
        }
    }
    Ok(())
}

pub(super) fn check_draft(draft: &HouseholdDraft) -> Result<(), OperationError> {
    match draft_problems(draft).into_iter().next() {
        Some(bad) => Err(OperationError::Invalid { field: bad.field, reason: bad.reason }),
        None => Ok(()),
    }
}

/// Every field of a household draft the table refuses, in the draft's order: what adding the
/// household would refuse, and so what a roster import's preview marks as a bad row. These are
/// also the import's rules, so a roster's export always reads back in.
pub(crate) fn draft_problems(draft: &HouseholdDraft) -> Vec<BadValue> {
    let a = &draft.address;
    let texts = [
        // The building's label is the address's "building".
        BUILDING.check_text("label", &a.building).map_err(|bad| BadValue { field: "building", ..bad }),
        BUILDING.check_text("estate", &a.estate),
        HOUSEHOLD.check_text("unit", &a.unit),
        HOUSEHOLD.check_text("flat", &a.flat),
        HOUSEHOLD.check_text("head", &draft.head),
        HOUSEHOLD.check_text("phone", &draft.phone),
        HOUSEHOLD.check_text("notes", &draft.notes),
    ];
    let counts = [
        ("people", draft.people),
        ("aged_60_plus", Some(draft.aged_60_plus)),
        ("children_under_6", Some(draft.children_under_6)),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(HOUSEHOLD.field(name)?.check_count(value?)));
    let floor = HOUSEHOLD.field("floor").map(|f| f.check_floor(i64::from(a.floor)));
    let mut problems: Vec<BadValue> =
        texts.into_iter().chain(counts).chain(floor).filter_map(Result::err).collect();
    problems.extend(household::problems(household::Together::from(draft)));
    problems
}

fn check_care(draft: &crate::schema::request::CareDraft) -> Result<(), OperationError> {
    check_care_changes(draft, None)?;
    text(&CARE_ENTRY, "notes", &draft.notes)
}

/// A care draft's fields that do not merge, those that differ from the entry as it is `now` (all
/// of them for a new entry): only those are written (`care::put_entry`), so a field the edit
/// leaves as it was is not judged again.
fn check_care_changes(
    draft: &crate::schema::request::CareDraft,
    now: Option<&crate::schema::request::CareEntry>,
) -> Result<(), OperationError> {
    changed_texts(
        &CARE_ENTRY,
        &[
            ("person_name", &draft.person_name, now.map(|e| e.person_name.as_str())),
            ("schedule", &draft.schedule, now.map(|e| e.schedule.as_str())),
            ("medicines", &draft.medicines, now.map(|e| e.medicines.as_str())),
        ],
    )
}

/// Checks each `(field, value, held)` whose value differs from what the entity holds (`held`,
/// `None` for a new entity): a value put again unchanged is not written (Automerge writes
/// nothing for it), so a text stored before a rule never blocks an edit of another field.
fn changed_texts(
    entity: &Entity,
    fields: &[(&'static str, &str, Option<&str>)],
) -> Result<(), OperationError> {
    for &(field, value, held) in fields {
        if held != Some(value) {
            text(entity, field, value)?;
        }
    }
    Ok(())
}
