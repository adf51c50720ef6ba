//! What the 参谋图 marks a flat with, and the legend that explains it.
//!
//! A flat's fill follows the posted map's practice, by control status: red = confirmed, pink =
//! central quarantine, brown = home quarantine, yellow = home monitoring. A household under no
//! control whose members have trouble moving is green, as the posted maps have it. Every need tag
//! (重点人群) also gets a small mark of its own on the flat, whatever its fill, so a dialysis
//! patient under home quarantine is visible as both.
//!
//! Colour is never the only signal: every fill and every need mark carries a glyph (one Chinese
//! character, a short Latin abbreviation in English), so the map reads in black and white and for
//! people who do not tell the colours apart. The colours themselves live in the page's style
//! sheet, keyed by the names here.

use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::Household;
use doorstep_core::schema::need_tag::NeedTag;
use serde::Serialize;

/// A flat's fill on the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Fill {
    /// 确诊 confirmed.
    Red,
    /// 集中隔离 central quarantine.
    Pink,
    /// 居家隔离 home quarantine.
    Brown,
    /// 居家监测 home monitoring.
    Yellow,
    /// 行动不便 mobility impaired, under no control.
    Green,
    /// Nothing to mark.
    None,
}

impl Fill {
    /// Every fill, in the legend's order.
    pub const ALL: [Fill; 6] = [Fill::Red, Fill::Pink, Fill::Brown, Fill::Yellow, Fill::Green, Fill::None];

    /// A household's fill: its control status first, then mobility impairment for a household
    /// under no control.
    pub fn of(h: &Household) -> Self {
        match h.status {
            ControlStatus::Confirmed => Fill::Red,
            ControlStatus::CentralQuarantine => Fill::Pink,
            ControlStatus::HomeQuarantine => Fill::Brown,
            ControlStatus::HomeMonitoring => Fill::Yellow,
            ControlStatus::Normal if h.needs.contains(&NeedTag::MobilityImpaired) => Fill::Green,
            ControlStatus::Normal => Fill::None,
        }
    }

    /// The fill's name, as the page's style sheet and tests know it.
    pub fn as_str(self) -> &'static str {
        match self {
            Fill::Red => "red",
            Fill::Pink => "pink",
            Fill::Brown => "brown",
            Fill::Yellow => "yellow",
            Fill::Green => "green",
            Fill::None => "none",
        }
    }

    /// The glyph printed on a flat of this fill, Chinese and English.
    pub fn glyph(self) -> Glyph {
        let (zh, en) = match self {
            Fill::Red => ("确", "C"),
            Fill::Pink => ("集", "Q"),
            Fill::Brown => ("隔", "H"),
            Fill::Yellow => ("监", "W"),
            Fill::Green => ("行", "M"),
            Fill::None => ("·", "·"),
        };
        Glyph { zh, en }
    }

    /// What the fill means, Chinese and English.
    pub fn meaning(self) -> Glyph {
        let (zh, en) = match self {
            Fill::Red => (ControlStatus::Confirmed.label_zh(), ControlStatus::Confirmed.label_en()),
            Fill::Pink => {
                (ControlStatus::CentralQuarantine.label_zh(), ControlStatus::CentralQuarantine.label_en())
            }
            Fill::Brown => {
                (ControlStatus::HomeQuarantine.label_zh(), ControlStatus::HomeQuarantine.label_en())
            }
            Fill::Yellow => {
                (ControlStatus::HomeMonitoring.label_zh(), ControlStatus::HomeMonitoring.label_en())
            }
            Fill::Green => (NeedTag::MobilityImpaired.label_zh(), NeedTag::MobilityImpaired.label_en()),
            Fill::None => ("无标记", "Unmarked"),
        };
        Glyph { zh, en }
    }
}

impl From<Fill> for &'static str {
    fn from(fill: Fill) -> Self {
        fill.as_str()
    }
}

/// A short text in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Glyph {
    /// Chinese.
    pub zh: &'static str,
    /// English.
    pub en: &'static str,
}

/// The glyph of a need tag's mark: the first character of its Chinese name where that is
/// unambiguous, and a two-letter abbreviation in English.
pub fn need_glyph(tag: NeedTag) -> Glyph {
    let (zh, en) = match tag {
        NeedTag::ElderlyAlone => ("独", "EA"),
        NeedTag::Pregnant => ("孕", "PG"),
        NeedTag::Dialysis => ("透", "DI"),
        NeedTag::Chemotherapy => ("化", "CH"),
        NeedTag::ChronicIllness => ("慢", "CI"),
        NeedTag::Disabled => ("残", "DS"),
        NeedTag::MobilityImpaired => ("行", "MI"),
        NeedTag::DeafMute => ("聋", "DM"),
    };
    Glyph { zh, en }
}

/// One fill in the legend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FillEntry {
    /// The fill's name (`red`, …, `none`).
    pub fill: Fill,
    /// Its glyph.
    pub glyph: Glyph,
    /// What it means.
    pub label: Glyph,
}

/// One need tag's mark in the legend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedEntry {
    /// The need tag.
    pub need: NeedTag,
    /// Its mark's glyph.
    pub glyph: Glyph,
    /// Its name.
    pub label: Glyph,
}

/// The map's legend: every fill, then every need tag's mark, in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Legend {
    /// The fills.
    pub fills: Vec<FillEntry>,
    /// The need marks, one for every need tag core knows.
    pub needs: Vec<NeedEntry>,
}

impl Default for Legend {
    fn default() -> Self {
        Legend {
            fills: Fill::ALL
                .iter()
                .map(|&fill| FillEntry { fill, glyph: fill.glyph(), label: fill.meaning() })
                .collect(),
            needs: NeedTag::ALL
                .iter()
                .map(|&need| NeedEntry {
                    need,
                    glyph: need_glyph(need),
                    label: Glyph { zh: need.label_zh(), en: need.label_en() },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_need_tag_has_a_mark_of_its_own() {
        let legend = Legend::default();
        let tags: Vec<NeedTag> = legend.needs.iter().map(|n| n.need).collect();
        assert_eq!(tags, NeedTag::ALL.to_vec(), "the legend lists every need tag core knows, in order");
        let zh: HashSet<&str> = legend.needs.iter().map(|n| n.glyph.zh).collect();
        let en: HashSet<&str> = legend.needs.iter().map(|n| n.glyph.en).collect();
        assert_eq!((zh.len(), en.len()), (NeedTag::ALL.len(), NeedTag::ALL.len()), "glyphs are distinct");
        for n in &legend.needs {
            assert_eq!(n.glyph.zh.chars().count(), 1, "{:?}: one character fits on a flat", n.need);
            assert!(
                n.label.zh.starts_with(n.glyph.zh),
                "{:?}: the glyph is the name's first character",
                n.need
            );
        }
    }

    #[test]
    fn every_fill_has_its_own_glyph_and_meaning() {
        let legend = Legend::default();
        let glyphs: HashSet<&str> = legend.fills.iter().map(|f| f.glyph.zh).collect();
        let names: HashSet<&str> = legend.fills.iter().map(|f| f.fill.as_str()).collect();
        assert_eq!((glyphs.len(), names.len()), (Fill::ALL.len(), Fill::ALL.len()));
        let yellow = legend.fills.iter().find(|f| f.fill == Fill::Yellow).map(|f| f.label.zh);
        assert_eq!(yellow, Some("居家监测"), "home monitoring has a fill of its own");
    }
}
