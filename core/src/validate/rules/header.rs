//! Header rules: who may create a document, that a new document's header is the one the relay
//! expects, and that no one changes a header afterwards (DESIGN §2). The schema version may only
//! move forward to this build's version, which is what a newer phone's migration writes.

use automerge::{ROOT, ReadDoc, ScalarValue, Value};

use super::Effect;
use crate::document::{Header, read};
use crate::permission::Rule;
use crate::role::Role;
use crate::schema::SCHEMA_VERSION;
use crate::schema::vocabulary::DocKind;
use crate::validate::violation::Problem;

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    if e.creates() { check_creation(e) } else { check_unchanged(e) }
}

fn check_creation(e: &Effect<'_>) -> Result<(), Problem> {
    let kind = e.header.kind;
    if kind == DocKind::Round {
        if !e.coordinating() {
            return Err(Problem::forbidden(
                Rule::RoundsArePlannedByCoordinators,
                format!("{} may not create a round", e.who()),
            ));
        }
    } else if e.author.role != Role::Admin {
        return Err(Problem::forbidden(
            Rule::CompoundsAreCreatedByAdmins,
            format!("{} may not create a compound's {kind} document", e.who()),
        ));
    }
    let (found, version) = Header::read(e.header.id, e.after)
        .map_err(|err| Problem::schema(format!("the new document's header is unreadable: {err}")))?;
    if found != *e.header {
        return Err(Problem::schema(format!(
            "the new document's header says it is the {} document {} of compound {}, but the relay expected the {} document {} of compound {}",
            found.kind, found.id, found.compound, e.header.kind, e.header.id, e.header.compound
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Problem::schema(format!(
            "the new document has schema version {version}, newer than the relay's {SCHEMA_VERSION}; update the relay"
        )));
    }
    Ok(())
}

fn check_unchanged(e: &Effect<'_>) -> Result<(), Problem> {
    for key in ["id", "kind", "compound"] {
        if e.touched.root.contains(key) {
            return Err(Problem::forbidden(
                Rule::HeadersAreFixed,
                format!("{} may not change the document's {key:?}", e.who()),
            ));
        }
    }
    if e.touched.root.contains("schema") {
        let before =
            read::int(e.before, &ROOT, "schema").ok().and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let values = e.after.get_all(ROOT, "schema").unwrap_or_default();
        let forward = !values.is_empty()
            && values.iter().all(|(v, _)| match v {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Uint(n) => (before..=SCHEMA_VERSION).contains(n),
                    ScalarValue::Int(n) => {
                        u64::try_from(*n).is_ok_and(|n| (before..=SCHEMA_VERSION).contains(&n))
                    }
                    _ => false,
                },
                Value::Object(_) => false,
            });
        if !forward {
            return Err(Problem::forbidden(
                Rule::HeadersAreFixed,
                format!(
                    "{} may not change the document's schema version except to migrate it forward to {SCHEMA_VERSION}",
                    e.who()
                ),
            ));
        }
    }
    Ok(())
}
