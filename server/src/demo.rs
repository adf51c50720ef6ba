//! `doorstep serve --demo`: on an empty store, a compound to try the relay with, seeded from the
//! sample ledger in `data/` (香樟苑, 1,040 households), with a coordinator, two volunteers
//! and an open vegetable round for building 1.

use std::time::Instant;

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::operation::Selection;
use doorstep_core::schema::vocabulary::{Priority, TaskKind};
use doorstep_core::{Operation, Role};

use crate::admin::{self, AdminError, Principal};
use crate::clock;
use crate::relay::Relay;
use crate::roster_reading::RosterReaders;
use crate::secret;
use crate::storage::NewPerson;

/// The sample ledger, embedded so the binary seeds without the repository at hand.
pub const SAMPLE_ROSTER: &[u8] = include_bytes!("../../data/xiangzhangyuan-roster.csv");

/// A person the demo made, with their token.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// Their ID.
    pub person: PersonId,
    /// Their device token.
    pub token: String,
}

/// What the demo seeded.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    /// The compound.
    pub compound: CompoundId,
    /// Households imported.
    pub households: usize,
    /// The open round.
    pub round: DocumentId,
    /// The coordinator and the volunteers.
    pub people: Vec<DemoPerson>,
}

/// Seeds the demo if the store has no compound yet; `None` if it has.
pub async fn seed(relay: &Relay) -> Result<Option<DemoSeed>, AdminError> {
    if !relay.storage().compounds().await?.is_empty() {
        return Ok(None);
    }
    let admin = Principal::relay_admin(relay);
    let compound = admin::create_compound(relay, &admin, "香樟苑", false).await?;
    let readers = RosterReaders::new(1);
    let deadline = Instant::now() + admin::UNHURRIED_READ;
    let report =
        admin::import_roster(&readers, relay, &admin, compound.id, SAMPLE_ROSTER, true, deadline).await?;
    let mut people = Vec::new();
    for (name, role) in [("王芳", Role::Coordinator), ("李强", Role::Volunteer), ("赵敏", Role::Volunteer)]
    {
        let person = clock::with_env(PersonId::generate);
        let now = clock::now();
        let storage = relay.storage();
        storage
            .create_person(NewPerson { id: person, name: name.to_owned(), district_admin: false }, now)
            .await?;
        storage.set_membership(person, compound.id, role, now).await?;
        let token = secret::new_token();
        storage.create_device(person, "demo".to_owned(), secret::hash_token(&token), now).await?;
        people.push(DemoPerson { name: name.to_owned(), role, person, token });
    }
    let first_volunteer = people.iter().find(|p| p.role == Role::Volunteer).map(|p| p.person);
    let round = relay
        .write(compound.id, move |compound, env, actor| {
            let applied = compound.apply(
                env,
                actor,
                &Operation::CreateRound {
                    title: "蔬菜包 第1轮 (1号楼)".into(),
                    kind: TaskKind::Groceries,
                    date: "2026-11-23".into(),
                    selection: Selection::Building { estate: String::new(), building: "1".into() },
                    items: "蔬菜包 ×1".into(),
                    priority: Priority::Normal,
                },
            )?;
            let round =
                applied.created.first().copied().ok_or(doorstep_core::OperationError::EmptySelection)?;
            if let Some(volunteer) = first_volunteer {
                compound.apply(
                    env,
                    actor,
                    &Operation::AssignBuilding {
                        round,
                        estate: String::new(),
                        building: "1".into(),
                        volunteer,
                    },
                )?;
            }
            Ok::<_, doorstep_core::OperationError>(round)
        })
        .await??;
    tracing::info!(compound = %compound.id, households = report.imported, %round, "demo seeded");
    Ok(Some(DemoSeed { compound: compound.id, households: report.imported, round, people }))
}
