//! The roster ledger's columns and the header names they go by.
//!
//! Coordinators' spreadsheets are made by hand and copied from one district to the next, so the
//! same column turns up as "户主", " 户主 ", "*户主", "户主姓名" or "head". We match headers by
//! name after folding those differences away, in any order, and ignore columns we do not know
//! (an ID-card column, a row number) rather than refuse the file.

use crate::rulebook::{Kind, characters};
use crate::schema::address::normalize_width;

/// A column of the roster ledger (台账).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RosterColumn {
    /// 小区: the estate within the compound.
    Estate,
    /// 楼号: the building.
    Building,
    /// 单元: the unit (stairwell).
    Unit,
    /// 楼层: the floor.
    Floor,
    /// 房号: the flat, or the whole address.
    Flat,
    /// 户主: the head of household.
    Head,
    /// 联系电话: the phone number.
    Phone,
    /// 户内人数: people in the household.
    People,
    /// 60岁以上人数: people aged 60 or over.
    Aged60Plus,
    /// 6岁以下儿童: children under 6.
    ChildrenUnder6,
    /// 重点人群: special needs.
    Needs,
    /// 管控状态: control status.
    Status,
    /// 有无电梯: whether there is a lift.
    Lift,
    /// 备注: notes.
    Notes,
}

impl RosterColumn {
    /// Every column, in the order of the ledger template.
    pub const ALL: [RosterColumn; 14] = [
        RosterColumn::Estate,
        RosterColumn::Building,
        RosterColumn::Unit,
        RosterColumn::Floor,
        RosterColumn::Flat,
        RosterColumn::Head,
        RosterColumn::Phone,
        RosterColumn::People,
        RosterColumn::Aged60Plus,
        RosterColumn::ChildrenUnder6,
        RosterColumn::Needs,
        RosterColumn::Status,
        RosterColumn::Lift,
        RosterColumn::Notes,
    ];

    /// The Chinese header of the ledger template ("户主").
    pub fn header_zh(self) -> &'static str {
        match self {
            RosterColumn::Estate => "小区",
            RosterColumn::Building => "楼号",
            RosterColumn::Unit => "单元",
            RosterColumn::Floor => "楼层",
            RosterColumn::Flat => "房号",
            RosterColumn::Head => "户主",
            RosterColumn::Phone => "联系电话",
            RosterColumn::People => "户内人数",
            RosterColumn::Aged60Plus => "60岁以上人数",
            RosterColumn::ChildrenUnder6 => "6岁以下儿童",
            RosterColumn::Needs => "重点人群",
            RosterColumn::Status => "管控状态",
            RosterColumn::Lift => "有无电梯",
            RosterColumn::Notes => "备注",
        }
    }

    /// The English header ("head").
    pub fn header_en(self) -> &'static str {
        match self {
            RosterColumn::Estate => "estate",
            RosterColumn::Building => "building",
            RosterColumn::Unit => "unit",
            RosterColumn::Floor => "floor",
            RosterColumn::Flat => "flat",
            RosterColumn::Head => "head",
            RosterColumn::Phone => "phone",
            RosterColumn::People => "people",
            RosterColumn::Aged60Plus => "aged_60_plus",
            RosterColumn::ChildrenUnder6 => "children_under_6",
            RosterColumn::Needs => "needs",
            RosterColumn::Status => "status",
            RosterColumn::Lift => "lift",
            RosterColumn::Notes => "notes",
        }
    }

    /// Other headers seen in ledgers for the same column.
    fn other_headers(self) -> &'static [&'static str] {
        match self {
            RosterColumn::Estate => &["小区名称", "小区名"],
            RosterColumn::Building => &["楼栋", "楼栋号", "栋号", "栋"],
            RosterColumn::Unit => &["单元号"],
            RosterColumn::Floor => &[],
            RosterColumn::Flat => &["房间号", "门牌号", "室号", "address"],
            RosterColumn::Head => &["户主姓名"],
            RosterColumn::Phone => &["电话", "手机", "手机号", "手机号码", "联系方式", "phonenumber"],
            RosterColumn::People => &["人数", "家庭人数", "户籍人数"],
            RosterColumn::Aged60Plus => &["60岁以上", "60岁以上老人"],
            RosterColumn::ChildrenUnder6 => &["6岁以下", "6岁以下儿童人数"],
            RosterColumn::Needs => &["重点人员", "特殊人群"],
            RosterColumn::Status => &["管控状况"],
            RosterColumn::Lift => &["电梯"],
            RosterColumn::Notes => &["note", "remarks"],
        }
    }

    /// Headers that name this column only when no other header does: a per-person ledger has
    /// both 户主 and 姓名 (each resident's name), and there 姓名 is not the head.
    fn weak_headers(self) -> &'static [&'static str] {
        match self {
            RosterColumn::Head => &["姓名"],
            _ => &[],
        }
    }

    /// Whether an empty cell in this column, on a household already in the roster, clears what
    /// the roster holds. A blank 重点人群 says "none"; a blank anywhere else is a cell nobody
    /// filled in, and the roster's value stays (a blank 管控状态 must not turn 集中隔离 into
    /// 正常, nor a blank 联系电话 drop the number). 备注 too: volunteers write notes at the door
    /// all day, so a blank 备注 in a sheet exported this morning is the morning's, not an erasure
    /// (a re-import of it cleared every note written since, on every phone); a note is cleared on
    /// the dashboard or a phone.
    pub fn blank_clears(self) -> bool {
        matches!(self, RosterColumn::Needs)
    }

    /// Whether `cell` says nothing in this column: empty, or a mark ledgers use for "nothing
    /// here" ("/", "—", "-"; and "无" for 重点人群, where it is no tag). For 重点人群 that clears
    /// the tags; elsewhere the household keeps what it has. "无" says something in 管控状态 (no
    /// control: 正常, so a household released from quarantine is marked so, not left as it was)
    /// and in 有无电梯 (no lift).
    pub fn is_blank(self, cell: &str) -> bool {
        const DASHES: [&str; 6] = ["/", "-", "—", "－", "–", "／"];
        let cell = cell.trim();
        cell.is_empty()
            || DASHES.contains(&cell)
            || (self == RosterColumn::Needs
                && ["无", "none"].iter().any(|none| cell.eq_ignore_ascii_case(none)))
    }

    /// Whether a file without this column is refused.
    pub fn is_required(self) -> bool {
        matches!(self, RosterColumn::Building | RosterColumn::Flat | RosterColumn::Head)
    }

    /// The column a header names, if any: the Chinese or English header or a common variant,
    /// ignoring spaces, full-width forms, letter case, `_`, required-field stars and a trailing
    /// parenthesised unit such as "(人)".
    pub fn from_header(header: &str) -> Option<RosterColumn> {
        RosterColumn::matching(header).map(|(column, _)| column)
    }

    /// [`RosterColumn::from_header`], and whether the header is a weak one, which gives way to
    /// another header naming the same column (姓名 beside 户主).
    pub(crate) fn matching(header: &str) -> Option<(RosterColumn, bool)> {
        let key = header_key(header);
        if key.is_empty() {
            return None;
        }
        let strong = RosterColumn::ALL.into_iter().find(|column| {
            header_key(column.header_zh()) == key
                || header_key(column.header_en()) == key
                || column.other_headers().iter().any(|other| header_key(other) == key)
        });
        strong.map(|column| (column, false)).or_else(|| {
            RosterColumn::ALL
                .into_iter()
                .find(|column| column.weak_headers().iter().any(|weak| header_key(weak) == key))
                .map(|column| (column, true))
        })
    }
}

/// A set of roster columns, in a word (a preview holds one per household).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ColumnSet(u16);

impl ColumnSet {
    fn bit(column: RosterColumn) -> u16 {
        let at = RosterColumn::ALL.iter().position(|c| *c == column).unwrap_or_default();
        1 << at
    }

    /// Adds `column`.
    pub fn insert(&mut self, column: RosterColumn) {
        self.0 |= Self::bit(column);
    }

    /// Whether `column` is in the set.
    pub fn contains(self, column: RosterColumn) -> bool {
        self.0 & Self::bit(column) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The columns in the set, in the order of the ledger template.
    pub fn iter(self) -> impl Iterator<Item = RosterColumn> {
        RosterColumn::ALL.into_iter().filter(move |column| self.contains(*column))
    }
}

impl FromIterator<RosterColumn> for ColumnSet {
    fn from_iter<T: IntoIterator<Item = RosterColumn>>(iter: T) -> Self {
        let mut set = ColumnSet::default();
        iter.into_iter().for_each(|column| set.insert(column));
        set
    }
}

impl std::fmt::Display for RosterColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.header_zh())
    }
}

pub(super) fn header_key(header: &str) -> String {
    // A control or text-direction character pasted into a header says nothing about its column
    // (a cell's are taken out too, `cell_characters`); whitespace and line breaks go in
    // `normalize_width`.
    let header: String = header.chars().filter(|&c| !characters::is_unwelcome(c, Kind::Long)).collect();
    let key = normalize_width(header.trim_start_matches('\u{FEFF}')).to_lowercase().replace(['_', '-'], "");
    let key = key.trim_matches('*');
    // "户内人数(人)" → "户内人数"; the parentheses are ASCII after normalize_width.
    let key = match key.rfind('(') {
        Some(open) if open > 0 && key.ends_with(')') => &key[..open],
        _ => key,
    };
    key.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str, expect: Option<RosterColumn>) {
        assert_eq!(RosterColumn::from_header(header), expect, "header {header:?}");
    }

    #[test]
    fn every_column_goes_by_its_chinese_and_english_names() {
        for column in RosterColumn::ALL {
            check(column.header_zh(), Some(column));
            check(column.header_en(), Some(column));
            check(&column.header_en().to_uppercase(), Some(column));
        }
    }

    #[test]
    fn headers_are_folded() {
        check(" 户主 ", Some(RosterColumn::Head));
        check("\u{FEFF}小区", Some(RosterColumn::Estate));
        check("户\u{202E}主", Some(RosterColumn::Head));
        check("户内\n人数\u{7}", Some(RosterColumn::People));
        check("*楼号", Some(RosterColumn::Building));
        check("户内人数(人)", Some(RosterColumn::People));
        check("户内人数（人）", Some(RosterColumn::People));
        check("６岁以下儿童", Some(RosterColumn::ChildrenUnder6));
        check("Aged 60 Plus", Some(RosterColumn::Aged60Plus));
        check("children-under-6", Some(RosterColumn::ChildrenUnder6));
        check("有无电梯（有/无）", Some(RosterColumn::Lift));
        check("栋", Some(RosterColumn::Building));
        check("姓名", Some(RosterColumn::Head));
        check("身份证号", None);
        check("", None);
        check("()", None);
    }

    #[test]
    fn a_column_set_holds_what_was_put_in() {
        let set: ColumnSet = [RosterColumn::Notes, RosterColumn::Estate].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), [RosterColumn::Estate, RosterColumn::Notes]);
        assert!(!set.contains(RosterColumn::Phone) && ColumnSet::default().is_empty());
    }
}
