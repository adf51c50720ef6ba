//! The household ledger's (台账) single-value fields that two people can set at once to different
//! values, as a concurrent-edit conflict names them.

use super::labelled_enum::labelled_enum;

labelled_enum!(
    /// A field of a household that holds one value (not text, not a set of tags).
    LedgerField, "ledger field" {
        /// 户主.
        Head => ("head", "户主", "Head of household"),
        /// 联系电话.
        Phone => ("phone", "联系电话", "Phone"),
        /// 户内人数.
        People => ("people", "户内人数", "People"),
        /// 60岁以上人数.
        Aged60Plus => ("aged_60_plus", "60岁以上人数", "Aged 60+"),
        /// 6岁以下儿童人数.
        ChildrenUnder6 => ("children_under_6", "6岁以下儿童人数", "Children under 6"),
        /// 有无电梯.
        Lift => ("lift", "电梯", "Lift"),
    }
);
