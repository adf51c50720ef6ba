//! The requests document: residents' requests and their links to tasks.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc};

use super::read::{self, SchemaError};
use super::roster::{collection, entity};
use crate::id::{DocumentId, RequestId, TaskId};
use crate::schema::request::Request;
use crate::time::Timestamp;

/// Key of the requests map.
pub const REQUESTS: &str = "requests";

/// Every readable request.
pub fn requests(doc: &Automerge) -> Vec<Request> {
    read::entries(doc, &ROOT, REQUESTS, |id, obj| read_request(doc, id, obj))
}

/// One request.
pub fn request(doc: &Automerge, id: RequestId) -> Option<Request> {
    let obj = entity(doc, REQUESTS, &id.to_string())?;
    read_request(doc, id, &obj).ok()
}

pub(crate) fn read_request(doc: &Automerge, id: RequestId, obj: &ObjId) -> Result<Request, SchemaError> {
    let mut tasks = BTreeMap::new();
    if let Some(map) = read::object(doc, obj, "tasks", ObjType::Map) {
        for key in doc.keys(&map) {
            if let (Ok(task), Ok(round)) =
                (key.parse::<TaskId>(), read::parsed::<DocumentId>(doc, &map, &key))
            {
                tasks.insert(task, round);
            }
        }
    }
    Ok(Request {
        id,
        household: read::parsed(doc, obj, "household")?,
        channel: read::parsed(doc, obj, "channel")?,
        category: read::parsed(doc, obj, "category")?,
        text: read::text(doc, obj, "text"),
        urgency: read::parsed(doc, obj, "urgency")?,
        status: read::parsed(doc, obj, "status")?,
        tasks,
        by: read::parsed(doc, obj, "by")?,
        at: Timestamp::from_millis(read::int(doc, obj, "at")?),
    })
}

/// Writes a new request.
pub(crate) fn put_request(tx: &mut impl Transactable, r: &Request) -> Result<(), AutomergeError> {
    let map = collection(tx, REQUESTS)?;
    let obj = tx.put_object(&map, r.id.to_string(), ObjType::Map)?;
    tx.put(&obj, "household", r.household.to_string())?;
    tx.put(&obj, "channel", r.channel.as_str())?;
    tx.put(&obj, "category", r.category.as_str())?;
    let text = tx.put_object(&obj, "text", ObjType::Text)?;
    tx.splice_text(&text, 0, 0, &r.text)?;
    tx.put(&obj, "urgency", r.urgency.as_str())?;
    tx.put(&obj, "status", r.status.as_str())?;
    let tasks = tx.put_object(&obj, "tasks", ObjType::Map)?;
    for (task, round) in &r.tasks {
        tx.put(&tasks, task.to_string(), round.to_string())?;
    }
    tx.put(&obj, "by", r.by.to_string())?;
    tx.put(&obj, "at", r.at.as_millis())?;
    Ok(())
}

/// Records that `task` in `round` answers the request.
pub(crate) fn link_task(
    tx: &mut impl Transactable,
    request: &ObjId,
    task: TaskId,
    round: DocumentId,
) -> Result<(), AutomergeError> {
    let tasks = match tx.get(request, "tasks")? {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(request, "tasks", ObjType::Map)?,
    };
    tx.put(&tasks, task.to_string(), round.to_string())
}
