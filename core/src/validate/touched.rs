//! Which entities and fields a batch of changes touched, from the patches Automerge produced when
//! it applied them. Rules then read only those entities, before and after, so checking a note
//! edit on a 1,040-household roster reads one household, not all of them.
//!
//! A patch is a touch even when the visible value did not change: a put of the same value, or a
//! concurrent put that lost (Automerge reports it as a conflict), is still a write to that field,
//! and a role that may not write the field may not write it that way either.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use automerge::{Automerge, ObjId, ObjType, Patch, PatchAction, Prop, ROOT, ReadDoc};

use crate::document::read;

/// How an entity was touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct EntityTouch {
    /// The entity's map itself was put, replaced or deleted.
    pub whole: bool,
    /// The entity's fields that were written (the first key below the entity).
    pub fields: BTreeSet<String>,
}

/// Everything a batch touched in one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Touched {
    /// Root keys written directly (header fields, round fields, or a whole collection replaced).
    pub root: BTreeSet<String>,
    /// Per collection (`households`, `tasks`, ...), the entities touched, keyed by map key.
    pub entities: BTreeMap<String, BTreeMap<String, EntityTouch>>,
    /// Every object a patch wrote into, or into something below it. An object not here reads
    /// the same after the batch as before, so rules may skip reading it twice (a task's
    /// earlier attempts, which a batch that appends one leaves as they were).
    objects: HashSet<ObjId>,
}

impl Touched {
    /// The touches described by `patches`, for a document whose entity collections are
    /// `collections`.
    pub(super) fn from_patches(patches: &[Patch], collections: &[&str]) -> Self {
        let mut touched = Touched::default();
        for patch in patches {
            touched.add(patch, collections);
        }
        touched
    }

    fn add(&mut self, patch: &Patch, collections: &[&str]) {
        self.objects.insert(patch.obj.clone());
        self.objects.extend(patch.path.iter().map(|(obj, _)| obj.clone()));
        // The full path of the place written: the object's path, then the key or index the
        // action names.
        let mut props: Vec<String> = patch.path.iter().map(|(_, prop)| prop_name(prop)).collect();
        if let Some(prop) = action_prop(&patch.action) {
            props.push(prop);
        }
        let Some(root_key) = props.first() else {
            return;
        };
        if !collections.contains(&root_key.as_str()) {
            self.root.insert(root_key.clone());
            return;
        }
        match (props.get(1), props.get(2)) {
            (None, _) => {
                self.root.insert(root_key.clone());
            }
            (Some(entity), field) => {
                let touch =
                    self.entities.entry(root_key.clone()).or_default().entry(entity.clone()).or_default();
                match field {
                    Some(field) => {
                        touch.fields.insert(field.clone());
                    }
                    None => touch.whole = true,
                }
            }
        }
    }

    /// Marks every entity of each collection whose whole map was replaced or deleted at the root
    /// as wholly touched, reading the keys it had before and has after.
    pub(super) fn expand_replaced_collections(
        &mut self,
        collections: &[&str],
        before: &Automerge,
        after: &Automerge,
    ) {
        for collection in collections {
            if !self.root.contains(*collection) {
                continue;
            }
            let entities = self.entities.entry((*collection).to_owned()).or_default();
            for doc in [before, after] {
                if let Some(map) = read::object(doc, &ROOT, collection, ObjType::Map) {
                    for key in doc.keys(&map) {
                        entities.entry(key).or_default().whole = true;
                    }
                }
            }
        }
    }

    /// Whether the batch wrote into `obj` or into something below it.
    pub(super) fn wrote_into(&self, obj: &ObjId) -> bool {
        self.objects.contains(obj)
    }

    /// The entities touched in `collection`.
    pub(super) fn in_collection(&self, collection: &str) -> impl Iterator<Item = (&String, &EntityTouch)> {
        self.entities.get(collection).into_iter().flat_map(|m| m.iter())
    }
}

fn prop_name(prop: &Prop) -> String {
    match prop {
        Prop::Map(key) => key.clone(),
        Prop::Seq(index) => index.to_string(),
    }
}

fn action_prop(action: &PatchAction) -> Option<String> {
    match action {
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => Some(key.clone()),
        PatchAction::PutSeq { index, .. }
        | PatchAction::Insert { index, .. }
        | PatchAction::SpliceText { index, .. }
        | PatchAction::DeleteSeq { index, .. } => Some(index.to_string()),
        PatchAction::Increment { prop, .. } | PatchAction::Conflict { prop } => Some(prop_name(prop)),
        PatchAction::Mark { .. } => None,
    }
}
