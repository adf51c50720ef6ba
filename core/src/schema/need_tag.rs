//! Special needs (重点人群) recorded for a household.

use super::labelled_enum::labelled_enum;

labelled_enum!(
    /// 重点人群: a reason a household needs particular care on a round.
    NeedTag, "need tag" {
        /// 独居老人.
        ElderlyAlone => ("elderly_alone", "独居老人", "Elderly living alone"),
        /// 孕产妇.
        Pregnant => ("pregnant", "孕产妇", "Pregnant"),
        /// 透析.
        Dialysis => ("dialysis", "透析", "Dialysis"),
        /// 化疗.
        Chemotherapy => ("chemotherapy", "化疗", "Chemotherapy"),
        /// 慢性病.
        ChronicIllness => ("chronic_illness", "慢性病", "Chronic illness"),
        /// 残疾人.
        Disabled => ("disabled", "残疾人", "Disabled"),
        /// 行动不便.
        MobilityImpaired => ("mobility_impaired", "行动不便", "Mobility impaired"),
        /// 聋哑.
        DeafMute => ("deaf_mute", "聋哑", "Deaf or mute"),
    }
);
