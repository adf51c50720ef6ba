//! What each role may do (DESIGN §3). The same rules are checked twice: locally by
//! [`operation`](crate::operation) before a change is made, and by the relay on the effects of
//! every change that arrives, because a phone can be lost, stolen or modified.

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// A permission rule, named so that an error can say exactly which rule was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Only admins create compounds.
    CompoundsAreCreatedByAdmins,
    /// Only coordinators edit the roster; volunteers and medics may edit notes only.
    RosterIsEditedByCoordinators,
    /// Only coordinators create, assign, cancel and close rounds and tasks.
    RoundsArePlannedByCoordinators,
    /// A volunteer may only claim an unassigned task or release their own.
    VolunteersClaimOnlyFreeTasks,
    /// Attempts are appended, never edited or removed, and only in one's own name.
    AttemptsAreAppendOnly,
    /// Only coordinators triage requests; others may add them.
    RequestsAreTriagedByCoordinators,
    /// Only coordinators and medics read or write the care ledger.
    CareLedgerIsForCoordinatorsAndMedics,
    /// A closed round takes no more changes.
    ClosedRoundsAreFinal,
    /// A change must be made under the author's own device actor.
    ActorsBelongToTheirPerson,
    /// Document header fields (id, kind, compound, schema) are never changed.
    HeadersAreFixed,
    /// A task a coordinator cancelled takes no more attempts from anyone who knew.
    CancelledTasksTakeNoAttempts,
    /// An object once created (an entity, a collection, a task's attempts, a text) is edited in
    /// place, never replaced by a new one or deleted, because a replacement silently drops every
    /// concurrent write into the old one.
    CreatedObjectsAreKept,
    /// A time written into a document lies within a window of the relay's clock.
    TimesFollowTheRelaysClock,
    /// A removal never hides edits: an edit to an entity removed meanwhile, or a removal by
    /// someone who had not seen the entity's latest edits, is refused so a person reviews it.
    RemovalsDoNotHideEdits,
    /// Only coordinators mark a conflict reviewed, in their own name; a review is never changed
    /// or removed.
    ConflictsAreReviewedByCoordinators,
    /// A new task, request or care entry names a household of its compound's roster (or one a
    /// coordinator removed from it), as the phone requires before it writes one.
    HouseholdsAreInTheRoster,
}

impl Rule {
    /// A stable code for the rule (`"roster_is_edited_by_coordinators"`).
    pub fn code(self) -> &'static str {
        match self {
            Rule::CompoundsAreCreatedByAdmins => "compounds_are_created_by_admins",
            Rule::RosterIsEditedByCoordinators => "roster_is_edited_by_coordinators",
            Rule::RoundsArePlannedByCoordinators => "rounds_are_planned_by_coordinators",
            Rule::VolunteersClaimOnlyFreeTasks => "volunteers_claim_only_free_tasks",
            Rule::AttemptsAreAppendOnly => "attempts_are_append_only",
            Rule::RequestsAreTriagedByCoordinators => "requests_are_triaged_by_coordinators",
            Rule::CareLedgerIsForCoordinatorsAndMedics => "care_ledger_is_for_coordinators_and_medics",
            Rule::ClosedRoundsAreFinal => "closed_rounds_are_final",
            Rule::ActorsBelongToTheirPerson => "actors_belong_to_their_person",
            Rule::HeadersAreFixed => "headers_are_fixed",
            Rule::CancelledTasksTakeNoAttempts => "cancelled_tasks_take_no_attempts",
            Rule::CreatedObjectsAreKept => "created_objects_are_kept",
            Rule::TimesFollowTheRelaysClock => "times_follow_the_relays_clock",
            Rule::RemovalsDoNotHideEdits => "removals_do_not_hide_edits",
            Rule::ConflictsAreReviewedByCoordinators => "conflicts_are_reviewed_by_coordinators",
            Rule::HouseholdsAreInTheRoster => "households_are_in_the_roster",
        }
    }

    /// The rule in a sentence, for error messages.
    pub fn explain(self) -> &'static str {
        match self {
            Rule::CompoundsAreCreatedByAdmins => "only admins create compounds",
            Rule::RosterIsEditedByCoordinators => {
                "only coordinators edit the roster; volunteers and medics may edit a household's notes only"
            }
            Rule::RoundsArePlannedByCoordinators => {
                "only coordinators create, assign, cancel and close rounds"
            }
            Rule::VolunteersClaimOnlyFreeTasks => {
                "a volunteer may claim only an unassigned task and release only their own"
            }
            Rule::AttemptsAreAppendOnly => {
                "attempts are appended in one's own name and never edited or removed"
            }
            Rule::RequestsAreTriagedByCoordinators => {
                "anyone may add a request; only coordinators triage them"
            }
            Rule::CareLedgerIsForCoordinatorsAndMedics => {
                "only coordinators and medics read or write the care ledger"
            }
            Rule::ClosedRoundsAreFinal => "a closed round takes no more changes",
            Rule::ActorsBelongToTheirPerson => "a change must be made under the author's own device actor",
            Rule::HeadersAreFixed => "a document's id, kind, compound and schema version are fixed",
            Rule::CancelledTasksTakeNoAttempts => {
                "a task a coordinator cancelled takes no more attempts; ask a coordinator before delivering"
            }
            Rule::CreatedObjectsAreKept => {
                "an entity, collection, attempts list or text is edited in place, never replaced or deleted"
            }
            Rule::TimesFollowTheRelaysClock => {
                "a recorded time must lie within 30 days before and 1 day after the relay's clock; check the phone's date"
            }
            Rule::RemovalsDoNotHideEdits => {
                "a removal may not hide edits: edits to a removed entity, and removals made without seeing its latest edits, go to a coordinator for review"
            }
            Rule::ConflictsAreReviewedByCoordinators => {
                "only coordinators mark a conflict reviewed, in their own name; a review is never changed or removed"
            }
            Rule::HouseholdsAreInTheRoster => {
                "a new task, request or care entry names a household of the compound's roster; sync the roster, then add it again"
            }
        }
    }
}

impl Rule {
    /// Every rule, in the order of the enum.
    pub const ALL: [Rule; 16] = [
        Rule::CompoundsAreCreatedByAdmins,
        Rule::RosterIsEditedByCoordinators,
        Rule::RoundsArePlannedByCoordinators,
        Rule::VolunteersClaimOnlyFreeTasks,
        Rule::AttemptsAreAppendOnly,
        Rule::RequestsAreTriagedByCoordinators,
        Rule::CareLedgerIsForCoordinatorsAndMedics,
        Rule::ClosedRoundsAreFinal,
        Rule::ActorsBelongToTheirPerson,
        Rule::HeadersAreFixed,
        Rule::CancelledTasksTakeNoAttempts,
        Rule::CreatedObjectsAreKept,
        Rule::TimesFollowTheRelaysClock,
        Rule::RemovalsDoNotHideEdits,
        Rule::ConflictsAreReviewedByCoordinators,
        Rule::HouseholdsAreInTheRoster,
    ];

    /// The rule a refusal's code names, if it names one of these (a refusal may also name
    /// `malformed`, `schema` or another relay code).
    pub fn from_code(code: &str) -> Option<Rule> {
        Self::ALL.into_iter().find(|rule| rule.code() == code)
    }

    /// [`Rule::explain`] in Chinese, for the people the phone shows it to.
    pub fn explain_zh(self) -> &'static str {
        match self {
            Rule::CompoundsAreCreatedByAdmins => "只有管理员可以创建小区",
            Rule::RosterIsEditedByCoordinators => "只有协调员可以修改住户名册；志愿者和医护只能修改住户备注",
            Rule::RoundsArePlannedByCoordinators => "只有协调员可以创建、分配、取消和结束配送轮次",
            Rule::VolunteersClaimOnlyFreeTasks => "志愿者只能领取未分配的任务，只能放弃自己领取的任务",
            Rule::AttemptsAreAppendOnly => "上门记录只能以本人名义追加，不能修改或删除",
            Rule::RequestsAreTriagedByCoordinators => "任何人都可以登记需求，只有协调员可以处理需求",
            Rule::CareLedgerIsForCoordinatorsAndMedics => "只有协调员和医护可以查看或填写照护记录",
            Rule::ClosedRoundsAreFinal => "已结束的配送轮次不再接受修改",
            Rule::ActorsBelongToTheirPerson => "修改必须来自本人的设备",
            Rule::HeadersAreFixed => "文件的编号、类型、所属小区和版本不能更改",
            Rule::CancelledTasksTakeNoAttempts => "协调员已取消的任务不再接受上门记录；送达前请先联系协调员",
            Rule::CreatedObjectsAreKept => "已有的记录只能原地修改，不能替换或删除",
            Rule::TimesFollowTheRelaysClock => {
                "记录的时间必须在中继时钟的前 30 天到后 1 天之内；请检查手机日期"
            }
            Rule::RemovalsDoNotHideEdits => {
                "删除不能掩盖修改：对已删除记录的修改，以及未看到最新修改的删除，交由协调员处理"
            }
            Rule::ConflictsAreReviewedByCoordinators => {
                "只有协调员可以以本人名义标记冲突已核实；核实记录不能更改或删除"
            }
            Rule::HouseholdsAreInTheRoster => {
                "新的任务、需求或照护记录必须对应本小区名册中的住户；请先同步名册，再重新添加"
            }
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.explain(), self.code())
    }
}

/// Checks that `role` passes `rule`'s role requirement. Rules that depend on more than the
/// role (claiming, closed rounds) are checked where the state is known.
pub fn require(role: Role, rule: Rule) -> Result<(), Rule> {
    let allowed = match rule {
        Rule::CompoundsAreCreatedByAdmins => role == Role::Admin,
        Rule::RosterIsEditedByCoordinators
        | Rule::RoundsArePlannedByCoordinators
        | Rule::RequestsAreTriagedByCoordinators
        | Rule::ConflictsAreReviewedByCoordinators => role.is_coordinating(),
        Rule::CareLedgerIsForCoordinatorsAndMedics => role.reads_care(),
        Rule::VolunteersClaimOnlyFreeTasks
        | Rule::AttemptsAreAppendOnly
        | Rule::ClosedRoundsAreFinal
        | Rule::ActorsBelongToTheirPerson
        | Rule::HeadersAreFixed
        | Rule::CancelledTasksTakeNoAttempts
        | Rule::CreatedObjectsAreKept
        | Rule::TimesFollowTheRelaysClock
        | Rule::RemovalsDoNotHideEdits
        | Rule::HouseholdsAreInTheRoster => true,
    };
    if allowed { Ok(()) } else { Err(rule) }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    #[test]
    fn every_rule_is_found_by_its_code_and_explained_in_chinese() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_code(rule.code()), Some(rule));
            assert!(rule.explain_zh().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{rule:?}");
        }
        assert_eq!(Rule::from_code("malformed"), None);
    }
}
