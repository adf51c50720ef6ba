//! Creating a compound: its roster, requests and care documents, written by the relay as admin.

use doorstep_core::{Actor, Compound, Role};

use super::{AdminError, Principal, checked_name};
use crate::cache::is_open;
use crate::clock;
use crate::relay::Relay;
use crate::storage::{CompoundRecord, DocumentRecord};

/// Creates a compound named `name`; the principal becomes its admin. A name another compound
/// has already is refused ([`AdminError::NameTaken`]) unless `again`: a request sent twice (it
/// seemed to hang, its answer was lost, its output scrolled away) must not make a second compound
/// that volunteers' invites then split between.
pub async fn create_compound(
    relay: &Relay,
    principal: &Principal,
    name: &str,
    again: bool,
) -> Result<CompoundRecord, AdminError> {
    if !principal.district_admin {
        return Err(AdminError::Forbidden(
            "只有区管理员可以创建小区 / only a district admin may create a compound".into(),
        ));
    }
    let actor = Actor { person: relay.admin(), role: Role::Admin };
    let device = relay.actor().clone();
    let name = checked_name("name", name)?;
    if !again {
        let existing: Vec<_> = relay
            .storage()
            .compounds()
            .await?
            .into_iter()
            .filter(|c| c.name.trim() == name.trim())
            .map(|c| c.id)
            .collect();
        if !existing.is_empty() {
            return Err(AdminError::NameTaken { name, existing });
        }
    }
    let (compound, documents) = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let compound = clock::with_env(|env| Compound::create(env, &actor, device, &name))?;
            let documents: Vec<(DocumentRecord, Vec<u8>)> = compound
                .documents()
                .map(|d| {
                    (
                        DocumentRecord { header: *d.header(), open: is_open(d.header(), d.automerge()) },
                        d.save(),
                    )
                })
                .collect();
            Ok::<_, AdminError>((compound.id(), documents))
        })
        .await
        .map_err(|e| AdminError::Relay(crate::relay::RelayError::Task(e.to_string())))??
    };
    let record = CompoundRecord { id: compound, name, created_at: clock::now() };
    relay.storage().create_compound(record.clone(), documents, vec![(principal.person, Role::Admin)]).await?;
    tracing::info!(compound = %record.id, name = %record.name, "compound created");
    Ok(record)
}
