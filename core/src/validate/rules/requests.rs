//! Requests rules: anyone in the compound may take down a new request, in their own name; only
//! coordinators triage (status, urgency, linked tasks) or remove requests. A volunteer or medic
//! may still correct the text of a request they took down themselves, until it is triaged; a
//! request's text is never empty. Who writes which field is
//! the table's ([`REQUEST`]); this module adds what a new request must be.

use super::{Effect, entities, in_roster};
use crate::document::{read, requests};
use crate::id::{DocumentId, PersonId, RequestId, TaskId};
use crate::permission::Rule;
use crate::rulebook::table::{REQUEST, REQUESTS};
use crate::schema::request::Request;
use crate::schema::vocabulary::RequestStatus;
use crate::validate::schema::{self, Slot};
use crate::validate::violation::Problem;

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    if !e.coordinating()
        && let Some(what) = e.root_write()
    {
        return Err(forbid(what));
    }
    entities::check_root(e, &REQUESTS, "requests")?;
    schema::check_collection(e.after, requests::REQUESTS)?;
    let me = e.author.person;
    // Its author may correct a request's text while no coordinator has triaged it: once one
    // has (accepted, done, rejected), a new text would stand under their decision unseen ("需要
    // 降压药1盒" marked done, then rewritten "需要胰岛素10盒"; a helper's finding).
    let took_it_down = |before: &Slot| match before {
        Slot::Map(obj) => {
            read::parsed::<PersonId>(e.before, obj, "by").is_ok_and(|by| by == me)
                && read::parsed::<RequestStatus>(e.before, obj, "status")
                    .is_ok_and(|s| s == RequestStatus::New)
        }
        _ => false,
    };
    for present in entities::check(e, requests::REQUESTS, &REQUEST, took_it_down)? {
        let label = &present.label;
        let id: RequestId = schema::parse_key(&present.key, "request")?;
        let request = requests::read_request(e.after, id, &present.obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        if present.added {
            check_new(e, &request, label)?;
        }
        if in_roster::names_anew(e, requests::REQUESTS, &present) {
            in_roster::check(e, request.household, label)?;
        }
        // As the phone refuses it: a request that asks for nothing is no request.
        let text_written = || {
            schema::object_at(e.after, &present.obj, "text").is_some_and(|text| e.touched.wrote_into(&text))
        };
        if request.text.trim().is_empty() && (present.added || text_written()) {
            return Err(Problem::schema(format!("{label}: field \"text\" must not be empty")));
        }
        schema::check_map_entries::<TaskId>(e.after, &present.obj, "tasks", label, |doc, map, key| {
            read::parsed::<DocumentId>(doc, map, key).map(|_| ()).map_err(|err| err.problem)
        })?;
    }
    Ok(())
}

fn forbid(what: String) -> Problem {
    Problem::forbidden(Rule::RequestsAreTriagedByCoordinators, what)
}

/// A new request is taken down in the author's own name; a volunteer's starts untriaged.
fn check_new(e: &Effect<'_>, request: &Request, label: &str) -> Result<(), Problem> {
    if request.by != e.author.person {
        return Err(Problem::forbidden(
            Rule::ActorsBelongToTheirPerson,
            format!("{} may not add {label} in the name of {}", e.who(), request.by),
        ));
    }
    if !e.coordinating() {
        if request.status != RequestStatus::New {
            return Err(forbid(format!(
                "{} may add {label} only with status \"new\", not {:?}",
                e.who(),
                request.status.as_str()
            )));
        }
        if !request.tasks.is_empty() {
            return Err(forbid(format!("{} may not link {label} to tasks", e.who())));
        }
    }
    Ok(())
}
