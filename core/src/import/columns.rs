//! The roster ledger's columns and the header names they go by.
//!
//! Coordinators' spreadsheets are made by hand and copied from one district to the next, so the
//! same column turns up as "户主", " 户主 ", "*户主", "户主姓名" or "head". We match headers by
//! name after folding those differences away, in any order, and ignore columns we do not know
//! (an ID-card column, a row number) rather than refuse the file.

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
            RosterColumn::Building => &["楼栋", "楼栋号", "栋号"],
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

    /// Whether a file without this column is refused.
    pub fn is_required(self) -> bool {
        matches!(self, RosterColumn::Building | RosterColumn::Flat | RosterColumn::Head)
    }

    /// The column a header names, if any: the Chinese or English header or a common variant,
    /// ignoring spaces, full-width forms, letter case, `_`, required-field stars and a trailing
    /// parenthesised unit such as "(人)".
    pub fn from_header(header: &str) -> Option<RosterColumn> {
        let key = header_key(header);
        if key.is_empty() {
            return None;
        }
        RosterColumn::ALL.into_iter().find(|column| {
            header_key(column.header_zh()) == key
                || header_key(column.header_en()) == key
                || column.other_headers().iter().any(|other| header_key(other) == key)
        })
    }
}

impl std::fmt::Display for RosterColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.header_zh())
    }
}

fn header_key(header: &str) -> String {
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
        check("*楼号", Some(RosterColumn::Building));
        check("户内人数(人)", Some(RosterColumn::People));
        check("户内人数（人）", Some(RosterColumn::People));
        check("６岁以下儿童", Some(RosterColumn::ChildrenUnder6));
        check("Aged 60 Plus", Some(RosterColumn::Aged60Plus));
        check("children-under-6", Some(RosterColumn::ChildrenUnder6));
        check("有无电梯（有/无）", Some(RosterColumn::Lift));
        check("身份证号", None);
        check("", None);
        check("()", None);
    }
}
