//! Requests rules: anyone in the compound may take down a new request, in their own name; only
//! coordinators triage (status, urgency, linked tasks) or remove requests. A volunteer or medic
//! may still correct the text of a request they took down themselves.

use super::Effect;
use crate::document::{read, requests};
use crate::id::{DocumentId, RequestId, TaskId};
use crate::permission::Rule;
use crate::schema::request::Request;
use crate::schema::vocabulary::RequestStatus;
use crate::validate::schema::{self, REQUEST, Slot};
use crate::validate::violation::Problem;

/// Root fields of a requests document besides the header.
const ROOT_FIELDS: &[&str] = &[requests::REQUESTS];

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    if !e.coordinating()
        && let Some(what) = e.root_write()
    {
        return Err(forbid(what));
    }
    schema::check_root_keys(e.touched.root.iter(), ROOT_FIELDS, "requests")?;
    schema::check_collection(e.after, requests::REQUESTS)?;
    for (key, touch) in e.touched.in_collection(requests::REQUESTS) {
        let label = format!("request {key}");
        let before = schema::slot(e.before, requests::REQUESTS, key);
        let after = schema::slot(e.after, requests::REQUESTS, key);
        if !e.coordinating() && before.is_present() {
            if !after.is_present() {
                return Err(forbid(format!("{} may not remove {label}", e.who())));
            }
            if touch.whole {
                return Err(forbid(format!("{} may not replace {label}", e.who())));
            }
            if let Some(field) = touch.fields.iter().find(|f| f.as_str() != "text") {
                return Err(forbid(format!("{} may not change {label}'s {field:?}", e.who())));
            }
        }
        let id: RequestId = schema::parse_key(key, "request")?;
        let Some(obj) = schema::map_after(&after, &label)? else {
            continue;
        };
        let request = requests::read_request(e.after, id, &obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        let previous = match &before {
            Slot::Map(before_obj) => Some(requests::read_request(e.before, id, before_obj).ok()),
            Slot::NotMap => Some(None),
            Slot::Absent => None,
        };
        match previous {
            None => check_new(e, &request, &label)?,
            Some(previous) if !e.coordinating() => {
                check_own_text_only(e, previous, &request, &label)?;
            }
            Some(_) => {}
        }
        schema::check_fields(e.after, &obj, &REQUEST, &label)?;
        schema::check_map_entries::<TaskId>(e.after, &obj, "tasks", &label, |doc, map, key| {
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

/// A volunteer or medic may change the text of their own request and nothing else (the fields
/// they touched were checked before reading).
fn check_own_text_only(
    e: &Effect<'_>,
    before: Option<Request>,
    after: &Request,
    label: &str,
) -> Result<(), Problem> {
    let Some(before) = before else {
        return Err(forbid(format!("{} may not repair {label}", e.who())));
    };
    if before.by != e.author.person {
        return Err(forbid(format!(
            "{} may edit the text of their own requests only, and {label} was taken down by {}",
            e.who(),
            before.by
        )));
    }
    let mut unchanged = after.clone();
    unchanged.text.clone_from(&before.text);
    if unchanged != before {
        return Err(forbid(format!("{} may change only {label}'s text", e.who())));
    }
    Ok(())
}
