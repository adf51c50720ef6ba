//! Which documents a member of a compound holds (DESIGN §3): everyone its roster, its requests
//! document and its open rounds; only coordinators, medics and admins its care ledger. The
//! relay's list of documents a caller may hold and its refusal of a message for a document the
//! caller may not hold both ask here, and so does the convergence properties' hub.

use crate::role::Role;
use crate::schema::vocabulary::DocKind;

/// Whether a member in `role` holds a document of `kind`; a round only while it is `open` (a
/// closed one leaves the phones, though a member's message for it is still answered, so that a
/// phone which closed it offline can deliver that change).
pub fn holds(role: Role, kind: DocKind, open: bool) -> bool {
    match kind {
        DocKind::Roster | DocKind::Requests => true,
        DocKind::Care => role.reads_care(),
        DocKind::Round => open,
    }
}

/// Whether a member in `role` may sync a document of `kind` at all: every document of their
/// compound but the care ledger, which only those who read it may.
pub fn may_sync(role: Role, kind: DocKind) -> bool {
    holds(role, kind, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volunteers_hold_everything_but_the_care_ledger_and_nobody_holds_a_closed_round() {
        for role in [Role::Admin, Role::Coordinator, Role::Medic, Role::Volunteer] {
            assert!(holds(role, DocKind::Roster, false) && holds(role, DocKind::Requests, false));
            assert!(holds(role, DocKind::Round, true) && !holds(role, DocKind::Round, false));
            assert!(may_sync(role, DocKind::Round), "a closed round's message is still answered");
            assert_eq!(may_sync(role, DocKind::Care), role != Role::Volunteer, "{role:?}");
        }
    }
}
