//! Applying a roster preview to a compound: the step after the coordinator has seen the
//! preview. A file with row errors changes nothing unless the caller accepts the good rows;
//! then every household goes in as one Automerge change. A household already at the same
//! address is updated in place (a re-import of a corrected sheet), never duplicated, and only
//! in what the file states (`import_plan.rs`).

use std::collections::HashMap;

use automerge::transaction::Transactable;
use serde::Serialize;

use super::OperationError;
use super::apply::{check_draft, may_add, transact};
use super::import_plan::FieldChanges;
use crate::compound::Compound;
use crate::document::roster;
use crate::env::Env;
use crate::id::{BuildingId, HouseholdId};
use crate::import::{RosterPreview, RowWarning};
use crate::role::Actor;
use crate::rulebook::table::HOUSEHOLD;
use crate::schema::address::{building_label, normalize_width};
use crate::schema::household::Building;
use crate::schema::vocabulary::DocKind;

/// Whether rows with errors block the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Import only a clean file (the default).
    AllOrNothing,
    /// Import the rows that were read, leaving out the rows with errors.
    AcceptGoodRows,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Households added.
    pub added: usize,
    /// Households already in the roster whose fields the file changed.
    pub updated: usize,
    /// Households already in the roster that the file matched and left as they were.
    pub unchanged: usize,
    /// For each field changed, on how many households.
    pub changes: Vec<FieldChanges>,
    /// Rows left out because of errors.
    pub rows_left_out: usize,
    /// Buildings added.
    pub buildings_added: usize,
    /// What the coordinator should still check or fill in, in file order: the file's warnings
    /// and the plan's ([`ImportPlan::warnings`](super::ImportPlan::warnings)), a blank cell of
    /// a household already there saying the value stored was kept.
    pub warnings: Vec<RowWarning>,
}

impl Compound {
    /// Imports `preview` into the roster (coordinators), as [`Compound::plan_import`] plans
    /// it. See [`ImportPolicy`].
    pub fn import_roster(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        preview: &RosterPreview,
        policy: ImportPolicy,
    ) -> Result<ImportSummary, OperationError> {
        may_add(actor.role, "import a roster", &HOUSEHOLD)?;
        for row in &preview.households {
            check_draft(&row.draft).map_err(|e| OperationError::Invalid {
                field: "roster",
                reason: format!("line {}: {e}", row.line),
            })?;
        }
        let plan = self.plan_import(preview)?;
        // Rows, not errors: a row with three bad cells is one row left out.
        let left_out = preview.bad_rows + plan.errors.len();
        if left_out > 0 && policy == ImportPolicy::AllOrNothing {
            let first = preview.errors.iter().chain(&plan.errors).min_by_key(|e| e.line);
            return Err(OperationError::ImportHasErrors {
                rows: left_out,
                first: first.map(ToString::to_string).unwrap_or_default(),
            });
        }
        let doc_id =
            self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?.id();
        let doc = self.document(doc_id).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        // By estate and label as addresses are compared (`DoorKey`), so that a row's 1号楼 goes
        // into the roster's building "1" however either was written.
        let building_key = |estate: &str, label: &str| (normalize_width(estate), building_label(label));
        let mut buildings: HashMap<(String, String), BuildingId> = roster::buildings(doc.automerge())
            .into_values()
            .map(|b| (building_key(&b.estate, &b.label), b.id))
            .collect();
        let mut new_buildings = Vec::new();
        let mut adds = Vec::new();
        for draft in &plan.adds {
            let a = &draft.address;
            let building = *buildings.entry(building_key(&a.estate, &a.building)).or_insert_with(|| {
                let b = Building {
                    id: BuildingId::generate(env),
                    estate: a.estate.clone(),
                    label: a.building.clone(),
                    lift: draft.lift,
                };
                let id = b.id;
                new_buildings.push(b);
                id
            });
            adds.push((HouseholdId::generate(env), building, draft));
        }
        let summary = ImportSummary {
            added: plan.summary.add,
            updated: plan.summary.update,
            unchanged: plan.summary.unchanged,
            changes: plan.summary.changes.clone(),
            rows_left_out: left_out,
            buildings_added: new_buildings.len(),
            warnings: plan.warnings.clone(),
        };
        let doc = self.document_mut(doc_id).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        transact(doc, env, |tx| {
            for b in &new_buildings {
                roster::put_building(tx, b)?;
            }
            for (id, building, draft) in &adds {
                roster::put_household(tx, *id, *building, draft)?;
            }
            // Only what changes is written: a field written with the value it already holds
            // would still win over a phone's concurrent edit of it.
            for update in &plan.updates {
                let obj = roster::entity(&*tx, roster::HOUSEHOLDS, &update.id.to_string())
                    .ok_or(OperationError::UnknownHousehold(update.id))?;
                roster::edit_household(tx, &obj, &update.edit)?;
                if let Some(status) = update.status {
                    tx.put(&obj, "status", status.as_str())?;
                }
                if let Some(needs) = &update.needs {
                    roster::set_needs(tx, &obj, needs)?;
                }
                if let Some(notes) = &update.notes {
                    crate::document::text_update::update_text(tx, &obj, "notes", notes)?;
                }
            }
            Ok(())
        })?;
        Ok(summary)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::id::PersonId;
    use crate::import::read_roster_csv;
    use crate::operation::PlanSummary;
    use crate::role::Role;
    use crate::schema::household::Household;
    use crate::time::Timestamp;

    const LEDGER: &str = "小区,楼号,单元,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注\n\
        香樟苑,1号楼,2单元,502,屈玉英,13912345678,3,1,1,独居老人,集中隔离,有,腿脚不便\n\
        香樟苑,1号楼,2单元,601,耿文东,13800000001,2,0,0,,正常,有,\n\
        香樟苑,1号楼,1单元,602,刘明,13800000002,2,0,0,,正常,有,\n";

    struct Ledger {
        compound: Compound,
        coordinator: Actor,
        seed: u128,
    }

    impl Ledger {
        /// A compound with [`LEDGER`] imported.
        fn new() -> Self {
            let admin = Actor { person: PersonId::from_uuid(uuid::Uuid::from_u128(1)), role: Role::Admin };
            let coordinator =
                Actor { person: PersonId::from_uuid(uuid::Uuid::from_u128(2)), role: Role::Coordinator };
            let mut seed = 0u128;
            let mut entropy = || {
                seed += 1;
                seed
            };
            let mut env = Env::new(Timestamp::from_millis(1_790_000_000_000), &mut entropy);
            let compound =
                Compound::create(&mut env, &admin, automerge::ActorId::from([7u8; 16]), "香樟苑社区")
                    .unwrap();
            let mut ledger = Ledger { compound, coordinator, seed: 1_000 };
            let done = ledger.import(LEDGER).unwrap();
            assert_eq!((done.added, done.updated), (3, 0));
            ledger
        }

        fn plan(&self, csv: &str) -> PlanSummary {
            let preview = read_roster_csv(csv.as_bytes()).unwrap();
            self.compound.plan_import(&preview).unwrap().summary
        }

        fn import(&mut self, csv: &str) -> Result<ImportSummary, OperationError> {
            let preview = read_roster_csv(csv.as_bytes()).unwrap();
            let seed = &mut self.seed;
            let mut entropy = || {
                *seed += 1;
                *seed
            };
            let mut env = Env::new(Timestamp::from_millis(1_790_000_100_000), &mut entropy);
            self.compound.import_roster(&mut env, &self.coordinator, &preview, ImportPolicy::AllOrNothing)
        }

        fn at(&self, flat: &str) -> Household {
            let found: Vec<Household> =
                self.compound.households().into_iter().filter(|h| h.address.flat == flat).collect();
            assert_eq!(found.len(), 1, "{found:?}");
            found.into_iter().next().unwrap()
        }
    }

    /// The tester's data loss: a sheet of address and head only, committed over the compound,
    /// blanked 屈玉英's phone, needs and notes, set 集中隔离 to 正常 and 60岁以上 to 0.
    #[test]
    fn a_reimport_without_a_column_keeps_what_the_roster_holds_there() {
        let mut ledger = Ledger::new();
        let before = ledger.at("502");
        let fewer = "小区,楼号,单元,房号,户主\n香樟苑,1号楼,2单元,502,屈玉英\n香樟苑,1号楼,2单元,601,耿文东（已更正）\n";
        assert_eq!(ledger.plan(fewer).to_string(), "add 0, update 1, unchanged 1, 户主 1");
        let done = ledger.import(fewer).unwrap();
        assert_eq!((done.added, done.updated, done.unchanged), (0, 1, 1));
        assert_eq!(ledger.at("502"), before);
        assert_eq!(ledger.at("601").head, "耿文东（已更正）");
        assert_eq!(ledger.at("601").phone, "13800000001");
    }

    /// An empty cell in a column the file has: 重点人群 empty says "none" and clears; an empty
    /// 备注, 管控状态, phone, count or lift is a cell nobody filled in, and the roster's stays (a
    /// blank 备注 of a sheet exported in the morning cleared the notes volunteers wrote since,
    /// on every phone: helper finding).
    #[test]
    fn an_empty_cell_clears_roster_needs_and_keeps_the_rest_notes_too() {
        let mut ledger = Ledger::new();
        let before = ledger.at("502");
        let blanks = "小区,楼号,单元,房号,户主,联系电话,户内人数,60岁以上人数,6岁以下儿童,重点人群,管控状态,有无电梯,备注\n\
            香樟苑,1号楼,2单元,502,屈玉英,,,,,,,,\n";
        assert!(!before.notes.is_empty(), "the household has notes to keep");
        assert_eq!(ledger.plan(blanks).to_string(), "add 0, update 1, unchanged 0, 重点人群 1");
        ledger.import(blanks).unwrap();
        let after = ledger.at("502");
        assert_eq!(after, Household { needs: Default::default(), ..before });
    }

    /// The preview counts what the commit changes, field by field, and the commit writes only that.
    #[test]
    fn the_plan_counts_each_field_the_import_changes() {
        let mut ledger = Ledger::new();
        let changes = "小区,楼号,单元,房号,户主,联系电话,管控状态\n\
            香樟苑,1号楼,2单元,502,屈玉英,13912345678,居家隔离\n\
            香樟苑,1号楼,2单元,601,耿文东,139 0000 0009,居家隔离\n\
            香樟苑,1号楼,1单元,602,刘明,13900000008,正常\n\
            香樟苑,2号楼,1单元,101,新户,13900000007,正常\n";
        let plan = ledger.plan(changes);
        assert_eq!(plan.to_string(), "add 1, update 3, unchanged 0, 联系电话 2, 管控状态 2");
        let done = ledger.import(changes).unwrap();
        assert_eq!((done.added, done.updated, done.changes), (1, 3, plan.changes));
        assert_eq!(ledger.at("601").phone, "13900000009");
        assert_eq!(ledger.at("502").status.label_zh(), "居家隔离");
    }

    /// A file without 小区 matched the estate "" and added a second 1号楼1单元602. It now matches
    /// the one household at that building, unit and flat, and puts a new one in the compound's
    /// only estate.
    #[test]
    fn a_file_without_an_estate_matches_by_building_unit_and_flat() {
        let mut ledger = Ledger::new();
        let no_estate = "楼号,单元,房号,户主,联系电话\n1号楼,1单元,602,刘明,19961665615\n3号楼,1单元,101,新户,13900000007\n";
        let plan = ledger.plan(no_estate);
        assert_eq!((plan.matched_without_estate, plan.estate_for_new.as_deref()), (1, Some("香樟苑")));
        assert_eq!(plan.to_string(), "add 1, update 1, unchanged 0, 联系电话 1");
        ledger.import(no_estate).unwrap();
        assert_eq!(ledger.compound.households().len(), 4);
        assert_eq!(ledger.at("602").phone, "19961665615");
        assert_eq!(ledger.at("101").address.estate, "香樟苑");
        assert_eq!(
            roster::buildings(ledger.compound.single(DocKind::Roster).unwrap().automerge()).len(),
            2,
            "3号楼 in 香樟苑, no building without an estate"
        );
    }

    /// A zero-width space in 楼号 or 小区 made a second 1号楼2单元502 and a second estate 香樟苑
    /// beside the first; the row is the household that is there.
    #[test]
    fn an_address_differing_only_by_invisible_characters_is_the_household_there() {
        let mut ledger = Ledger::new();
        let look_alike = "小区,楼号,单元,房号,户主\n\
            香樟苑,1\u{200b}号楼,2单元,502,屈玉英\n\
            香樟苑\u{200b},1号楼,2单元,601,耿文东（已更正）\n\
            ,1号楼,1单元\u{feff},602,刘明\n";
        assert_eq!(ledger.plan(look_alike).to_string(), "add 0, update 1, unchanged 2, 户主 1");
        let done = ledger.import(look_alike).unwrap();
        assert_eq!((done.added, done.updated, done.buildings_added), (0, 1, 0));
        assert_eq!(ledger.compound.households().len(), 3);
        assert_eq!(ledger.at("601").head, "耿文东（已更正）");
    }

    /// A ledger writing 1#楼, 01 or 一单元 doubled a roster imported from one writing 1号楼 and
    /// 1单元. They are the households there. A flat is not a number ("0602" may be another door
    /// than "602"): it is added, with a warning naming the household it looks like.
    #[test]
    fn another_spelling_of_a_building_or_unit_is_the_household_there_and_a_zero_flat_is_warned_of() {
        let mut ledger = Ledger::new();
        let spelled = "小区,楼号,单元,房号,户主\n\
            香樟苑,1#楼,二单元,502,屈玉英\n\
            香樟苑,01,02,601,耿文东\n\
            香樟苑,一号楼,01单元,602,刘明\n\
            香樟苑,1#,1,0602,刘明\n";
        let preview = read_roster_csv(spelled.as_bytes()).unwrap();
        let plan = ledger.compound.plan_import(&preview).unwrap();
        assert_eq!(plan.summary.to_string(), "add 1, update 0, unchanged 3");
        let warned: Vec<String> = plan.warnings.iter().map(RowWarning::bilingual).collect();
        assert_eq!(
            warned,
            [
                "第 5 行，房号：香樟苑 1号楼1单元0602 将作为新的一户导入，但名单里已有 香樟苑 1号楼1单元602，只差房号前面的 0；如果是同一户，请把 房号 写成 \"602\" / \
              line 5, column 房号: 香樟苑 1号楼1单元0602 will be added as a new household, but the roster has 香樟苑 1号楼1单元602, \
              which differs only by the leading zeros of the flat; if it is the same household, write 房号 as \"602\""
            ]
        );
        let done = ledger.import(spelled).unwrap();
        assert_eq!((done.added, done.unchanged, done.buildings_added), (1, 3, 0));
        assert_eq!(ledger.compound.households().len(), 4);
    }

    /// A building (or unit) letter typed in lower case: "b座" added a second household at the
    /// door of the one at "B座", in a second building "b"; it is that household, as "Ｂ座" was.
    #[test]
    fn a_building_letter_in_lower_case_is_the_household_there() {
        let mut ledger = Ledger::new();
        let before = ledger.compound.households().len();
        let first = "小区,楼号,单元,房号,户主,联系电话\n香樟苑,B座,A单元,101,张三,13900000000\n";
        assert_eq!(ledger.import(first).unwrap().added, 1);
        for (spelled, phone) in [("b座,a单元", "13911112222"), ("Ｂ座,ａ单元", "13933334444")] {
            let done = ledger
                .import(&format!("小区,楼号,单元,房号,户主,联系电话\n香樟苑,{spelled},101,张三,{phone}\n"))
                .unwrap();
            assert_eq!((done.added, done.updated, done.buildings_added), (0, 1, 0), "{spelled}");
        }
        let households = ledger.compound.households();
        assert_eq!(households.len(), before + 1);
        let at_b: Vec<&str> =
            households.iter().filter(|h| h.address.building == "B").map(|h| h.phone.as_str()).collect();
        assert_eq!(at_b, ["13933334444"]);
    }

    /// A re-import leaving 户内人数 or 联系电话 blank for a household already there keeps what
    /// the roster holds, and its warning said "imported as unknown (未填)" / "fill it in": it
    /// says the value was left as it was, in the plan and in what the import answers. A new
    /// household's blank is still imported as unknown.
    #[test]
    fn a_blank_count_or_phone_of_a_household_there_is_warned_of_as_left_as_it_was() {
        let mut ledger = Ledger::new();
        let blanks = "小区,楼号,单元,房号,户主,联系电话,户内人数\n\
            香樟苑,1号楼,2单元,502,屈玉英,,\n\
            香樟苑,1号楼,2单元,701,新户,,\n";
        let preview = read_roster_csv(blanks.as_bytes()).unwrap();
        let plan = ledger.compound.plan_import(&preview).unwrap();
        let warned: Vec<(&str, String)> = plan.warnings.iter().map(|w| (w.code, w.bilingual())).collect();
        assert_eq!(
            warned,
            [
                (
                    "phone_blank_kept",
                    "第 2 行，联系电话：联系电话 为空，保留原值 13912345678 / line 2, column 联系电话: 联系电话 is empty; \
                     left as it was (13912345678)"
                        .to_owned()
                ),
                (
                    "people_blank_kept",
                    "第 2 行，户内人数：户内人数 为空，保留原值 3 / line 2, column 户内人数: 户内人数 is empty; left as it was (3)"
                        .to_owned()
                ),
                ("phone_blank", preview.warnings[2].bilingual()),
                ("people_blank", preview.warnings[3].bilingual()),
            ]
        );
        assert!(warned[3].1.contains("imported as unknown"), "{}", warned[3].1);
        let done = ledger.import(blanks).unwrap();
        assert_eq!(done.warnings, plan.warnings);
        let kept = ledger.at("502");
        assert_eq!((kept.people, kept.phone.as_str()), (Some(3), "13912345678"));
    }

    /// Flats 101 and 0101 of a building new to the roster, in one file, were both added with no
    /// word: the second is warned of as the first is against the roster, naming both lines (a
    /// warning, as there: "0101" may be another door). A third spelling names the first line.
    #[test]
    fn two_new_flats_of_one_file_differing_only_by_leading_zeros_are_warned_of() {
        let mut ledger = Ledger::new();
        let zeros = "小区,楼号,单元,房号,户主\n\
            香樟苑,83号楼,1单元,101,张三\n\
            香樟苑,83号楼,1单元,0101,李四\n\
            香樟苑,83号楼,2单元,0101,王五\n\
            香樟苑,83号楼,1单元,00101,赵六\n";
        let preview = read_roster_csv(zeros.as_bytes()).unwrap();
        let plan = ledger.compound.plan_import(&preview).unwrap();
        let warned: Vec<(usize, &str)> = plan.warnings.iter().map(|w| (w.line, w.code)).collect();
        assert_eq!(warned, [(3, "flat_like_another_row"), (5, "flat_like_another_row")]);
        assert_eq!(
            plan.warnings[0].bilingual(),
            "第 3 行，房号：香樟苑 83号楼1单元0101 与第 2 行的 香樟苑 83号楼1单元101 只差房号前面的 0，两行都将作为新的一户导入；如果是同一户，请删去一行 / \
             line 3, column 房号: 香樟苑 83号楼1单元0101 and 香樟苑 83号楼1单元101 on line 2 differ only by the leading zeros of \
             the flat, and both will be added as new households; if they are the same household, delete one of the rows"
        );
        assert!(plan.warnings[1].reason.contains("on line 2"), "{}", plan.warnings[1].reason);
        let done = ledger.import(zeros).unwrap();
        assert_eq!((done.added, done.warnings.len()), (4, 2));
    }

    /// The roster's estate spelt another way ("香樟苑小区" for "香樟苑") made the whole ledger a
    /// new estate, added beside the roster with no word: each row whose building, unit, flat and
    /// head are a household's there is warned of, naming the estate to write. A second estate
    /// numbered like the first, with other people at those doors, is not.
    #[test]
    fn an_estate_spelt_another_way_is_warned_of_row_by_row() {
        let ledger = Ledger::new();
        let suffixed = "小区,楼号,单元,房号,户主
            香樟苑小区,1号楼,2单元,502,屈玉英
            香樟苑小区,1号楼,2单元,601,耿文东
            人和花园,1号楼,1单元,602,陈立
";
        let preview = read_roster_csv(suffixed.as_bytes()).unwrap();
        let plan = ledger.compound.plan_import(&preview).unwrap();
        assert_eq!(plan.summary.to_string(), "add 3, update 0, unchanged 0");
        let warned: Vec<(usize, &str)> = plan.warnings.iter().map(|w| (w.line, w.code)).collect();
        assert_eq!(warned, [(2, "estate_like_one_there"), (3, "estate_like_one_there")]);
        assert!(
            plan.warnings[0].bilingual().contains("if it is the same estate, write 小区 as \"香樟苑\""),
            "{}",
            plan.warnings[0].bilingual()
        );
    }

    /// "6 rows cannot be imported" was said of two rows with three bad cells each: the rows are
    /// counted, not the errors.
    #[test]
    fn rows_left_out_are_counted_as_rows_not_as_errors() {
        let mut ledger = Ledger::new();
        let slashes = "小区,楼号,单元,房号,户主,户内人数,60岁以上人数,6岁以下儿童\n\
            香樟苑,1号楼,2单元,502,屈玉英,/,/,/\n\
            香樟苑,1号楼,2单元,601,耿文东,/,/,/\n\
            香樟苑,1号楼,2单元,701,新户,2,0,0\n";
        assert!(matches!(ledger.import(slashes), Err(OperationError::ImportHasErrors { rows: 2, .. })));
        let preview = read_roster_csv(slashes.as_bytes()).unwrap();
        assert_eq!(preview.errors.len(), 6);
        let mut seed = 5_000u128;
        let mut entropy = || {
            seed += 1;
            seed
        };
        let mut env = Env::new(Timestamp::from_millis(1_790_000_200_000), &mut entropy);
        let done = ledger
            .compound
            .import_roster(&mut env, &ledger.coordinator, &preview, ImportPolicy::AcceptGoodRows)
            .unwrap();
        assert_eq!((done.added, done.rows_left_out), (1, 2));
    }

    /// A row that leaves 60岁以上人数 blank keeps the household's, so a 户内人数 below it would
    /// leave more over-60s than people: a bad row saying to fill it in, the household unchanged.
    #[test]
    fn a_row_leaving_fewer_people_than_the_household_has_over_60s_is_a_bad_row() {
        let mut ledger = Ledger::new();
        ledger
            .import("小区,楼号,单元,房号,户主,户内人数,60岁以上人数\n香樟苑,1号楼,1单元,909,三位老人,3,3\n")
            .unwrap();
        let preview = read_roster_csv(
            "小区,楼号,单元,房号,户主,户内人数,60岁以上人数\n香樟苑,1号楼,1单元,909,三位老人,1,\n".as_bytes(),
        )
        .unwrap();
        assert!(preview.errors.is_empty(), "the row alone is good: {:?}", preview.errors);
        let plan = ledger.compound.plan_import(&preview).unwrap();
        let codes: Vec<(usize, &str)> = plan.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(codes, [(2, "count_exceeds_people")]);
        assert!(plan.errors[0].reason.contains("60岁以上人数 3"), "{}", plan.errors[0].reason);
        assert!(matches!(
            ledger.import(
                "小区,楼号,单元,房号,户主,户内人数,60岁以上人数\n香樟苑,1号楼,1单元,909,三位老人,1,\n"
            ),
            Err(OperationError::ImportHasErrors { rows: 1, .. })
        ));
        let household = ledger.compound.households().into_iter().find(|h| h.address.flat == "909").unwrap();
        assert_eq!((household.people, household.aged_60_plus), (Some(3), 3), "unchanged");
    }

    /// With two estates, a row without 小区 that names a flat in both, or in neither, cannot be
    /// placed: a bad row naming the estates, never a guess.
    #[test]
    fn a_row_without_an_estate_in_a_compound_of_several_is_a_bad_row_unless_one_flat_matches() {
        let mut ledger = Ledger::new();
        ledger
            .import("小区,楼号,单元,房号,户主\n北林,1号楼,1单元,602,另一户\n北林,9号楼,1单元,101,九号楼\n")
            .unwrap();
        let preview = read_roster_csv(
            "楼号,单元,房号,户主\n1号楼,1单元,602,刘明\n5号楼,1单元,101,无处\n9号楼,1单元,101,九号楼改\n"
                .as_bytes(),
        )
        .unwrap();
        let plan = ledger.compound.plan_import(&preview).unwrap();
        let codes: Vec<(usize, &str)> = plan.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(codes, [(2, "estate_ambiguous"), (3, "estate_unknown")]);
        assert!(
            plan.errors[0].reason_zh.contains("香樟苑、北林")
                || plan.errors[0].reason_zh.contains("北林、香樟苑")
        );
        assert_eq!(plan.summary.to_string(), "add 0, update 1, unchanged 0, 户主 1");
        assert_eq!(plan.estates, ["北林"], "the estate the placed row goes into, not the file's empty 小区");
        assert!(matches!(
            ledger.import("楼号,单元,房号,户主\n1号楼,1单元,602,刘明\n"),
            Err(OperationError::ImportHasErrors { rows: 1, .. })
        ));
    }
}
