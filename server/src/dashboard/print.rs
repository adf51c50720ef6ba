//! `GET …/print/rounds/{round}?building=&estate=`: a delivery sheet to print for volunteers
//! without a phone (or with a flat battery): one table per building, door by door in climbing
//! order, with boxes to tick and a line for notes; the coordinator types the results in later.
//!
//! Rendered on the server as plain HTML with a print stylesheet, so it prints the same from any
//! browser and needs no script. Headings are Chinese with English beneath, as the dashboard is.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use doorstep_core::Compound;
use doorstep_core::document::round;
use doorstep_core::id::{DocumentId, HouseholdId, PersonId};
use doorstep_core::schema::address::{NumericKey, building_label};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::vocabulary::{Outcome, TaskStatus};
use serde::Deserialize;

use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, Params, blocking, names, path_id};
use crate::clock;
use crate::error::{AppError, excerpt};
use crate::http::json::PathParams;

/// The query string: which building (label, with or without 号楼) of which estate.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PrintParams {
    building: Option<String>,
    estate: Option<String>,
}

/// The content security policy of the sheet: no script, nothing fetched, framed by no other site.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

const STYLE: &str = r#"
body { font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5em; color: #000; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h1 small, th small, .meta small { font-weight: normal; color: #444; font-size: .7em; }
.meta { margin: .2em 0 .8em; }
table { border-collapse: collapse; width: 100%; font-size: .95em; }
th, td { border: 1px solid #000; padding: .35em .4em; vertical-align: top; text-align: left; }
th { background: #eee; }
td.box { text-align: center; font-size: 1.3em; width: 3.2em; }
td.note { width: 22%; }
tr { page-break-inside: avoid; }
.needs { font-weight: bold; }
.sign { margin-top: 1.2em; }
section + section { page-break-before: always; margin-top: 2em; }
@media print { body { margin: 0; } @page { size: A4 landscape; margin: 12mm; } }
"#;

/// Escapes text for HTML; a control or text-direction character a stored text still holds
/// (written before the rulebook refused them) is shown as its code point, as the dashboard
/// shows it, rather than reordering the sheet's line.
fn esc(text: &str) -> String {
    use doorstep_core::rulebook::{Kind, characters};
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if characters::is_unwelcome(c, Kind::Long) => {
                let _ = write!(out, "⟨U+{:04X}⟩", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// One building's doors.
struct Building<'a> {
    estate: &'a str,
    label: &'a str,
    doors: Vec<(&'a Household, &'a Task)>,
}

/// The sheet for round `id`, for one building or every building; `Err` says why there is none.
pub fn sheet(
    compound: &Compound,
    compound_name: &str,
    id: DocumentId,
    building: Option<&str>,
    estate: Option<&str>,
    names: &HashMap<PersonId, String>,
) -> Result<String, AppError> {
    let doc = compound
        .rounds()
        .find(|d| d.id() == id)
        .ok_or_else(|| AppError::NotFound(format!("no round {id} in this compound")))?;
    let info = round::info(doc.id(), doc.automerge()).map_err(|e| AppError::NotFound(e.to_string()))?;
    let tasks = round::tasks(doc.id(), doc.automerge());
    let households: HashMap<HouseholdId, Household> =
        compound.households().into_iter().map(|h| (h.id, h)).collect();
    let mut by_building: BTreeMap<(String, NumericKey), Building<'_>> = BTreeMap::new();
    let mut doors: Vec<(&Household, &Task)> = tasks
        .iter()
        .filter(|t| t.status() != TaskStatus::Cancelled)
        .filter_map(|t| Some((households.get(&t.household)?, t)))
        .filter(|(h, _)| building.is_none_or(|b| building_label(&h.address.building) == b))
        .filter(|(h, _)| estate.is_none_or(|e| h.address.estate == e))
        .collect();
    doors.sort_by_key(|(h, t)| (h.address.climb_key(), t.id));
    for (h, t) in doors {
        let a = &h.address;
        by_building
            .entry((a.estate.clone(), NumericKey::new(&a.building)))
            .or_insert_with(|| Building { estate: &a.estate, label: &a.building, doors: Vec::new() })
            .doors
            .push((h, t));
    }
    let place = match (estate, building) {
        (_, Some(b)) => Some(format!("building {}", excerpt(b))),
        (Some(e), None) => Some(format!("estate {}", excerpt(e))),
        (None, None) => None,
    };
    if let (true, Some(place)) = (by_building.is_empty(), place) {
        return Err(AppError::NotFound(format!("round {} has no tasks to deliver in {place}", info.title)));
    }
    let mut html = String::with_capacity(16 * 1024);
    let title = esc(&info.title);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>配送单 {title}</title><style>{STYLE}</style></head><body>\n"
    );
    // A whole round with nothing left to deliver (every task cancelled, or its household gone
    // from the roster) is a sheet that says so, not an error page in the coordinator's new tab.
    if by_building.is_empty() {
        let _ = write!(
            html,
            "<h1>{title} <small>Delivery sheet</small></h1>\n<p class=\"meta\">{compound} · \
             这一轮没有要送的户：任务都已取消，或住户已不在名册上。 \
             <small>Nothing to deliver in this round: every task is cancelled or its household is no \
             longer on the roster.</small></p>\n",
            compound = esc(compound_name),
        );
    }
    // The compound's own time zone (UTC+8 unless a coordinator set another), named beside it.
    let offset = compound.utc_offset();
    let printed = format!("{} ({})", offset.local_time(clock::now()), offset.label());
    for b in by_building.values() {
        section(&mut html, compound_name, &info, b, names, &printed);
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

fn section(
    html: &mut String,
    compound_name: &str,
    info: &RoundInfo,
    b: &Building<'_>,
    names: &HashMap<PersonId, String>,
    printed: &str,
) {
    let volunteers: BTreeSet<String> = b
        .doors
        .iter()
        .filter_map(|(_, t)| t.assignee)
        .map(|p| names.get(&p).cloned().unwrap_or_else(|| p.to_string()))
        .collect();
    let volunteers = if volunteers.is_empty() {
        "________".to_owned()
    } else {
        volunteers.into_iter().collect::<Vec<_>>().join("、")
    };
    let estate = if b.estate.is_empty() { String::new() } else { format!("{} ", esc(b.estate)) };
    let _ = write!(
        html,
        "<section>\n<h1>{title} · {estate}{label}号楼 <small>Delivery sheet, building {label}</small></h1>\n\
         <p class=\"meta\">{compound} · 日期 <small>Date</small> {date} · 负责人 <small>Volunteer</small> {volunteers} · \
         共 {count} 户 <small>households</small> · 打印时间 <small>Printed</small> {printed}</p>\n\
         <table>\n<thead><tr>\
         <th>房号<br><small>Flat</small></th><th>户主<br><small>Head</small></th>\
         <th>电话<br><small>Phone</small></th><th>物品<br><small>Items</small></th>\
         <th>重点人群<br><small>Needs</small></th><th>已送达<br><small>Delivered</small></th>\
         <th>无人<br><small>Nobody home</small></th><th>拒收<br><small>Refused</small></th>\
         <th>备注<br><small>Notes</small></th></tr></thead>\n<tbody>\n",
        title = esc(&info.title),
        label = esc(b.label),
        compound = esc(compound_name),
        date = esc(&info.date),
        volunteers = esc(&volunteers),
        count = b.doors.len(),
    );
    for (h, t) in &b.doors {
        let a = &h.address;
        let flat = if a.unit.is_empty() { a.flat.clone() } else { format!("{}单元 {}", a.unit, a.flat) };
        let needs: Vec<&str> = h.needs.iter().map(|n| n.label_zh()).collect();
        let delivered = tick(t, Outcome::Delivered);
        let nobody_home = tick(t, Outcome::NobodyHome);
        let refused = tick(t, Outcome::Refused);
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"needs\">{}</td>\
             <td class=\"box\">{delivered}</td><td class=\"box\">{nobody_home}</td><td class=\"box\">{refused}</td>\
             <td class=\"note\">{}</td></tr>",
            esc(&flat),
            esc(&h.head),
            esc(&h.phone),
            esc(&t.items),
            esc(&needs.join("、")),
            esc(&h.notes),
        );
    }
    html.push_str(
        "</tbody>\n</table>\n<p class=\"sign\">志愿者签名 <small>Volunteer signature</small> \
         ____________　完成时间 <small>Finished at</small> ____________</p>\n</section>\n",
    );
}

/// The box for one outcome: ticked when a volunteer already recorded it, with the count when it
/// was recorded more than once (a double delivery reads "☑×2 重复", never one tick).
fn tick(task: &Task, outcome: Outcome) -> String {
    let times = task.attempts.iter().filter(|a| a.outcome == outcome).count();
    match times {
        0 => "☐".to_owned(),
        1 => "☑".to_owned(),
        n if outcome == Outcome::Delivered => format!("☑×{n} <small class=\"double\">重复 double</small>"),
        n => format!("☑×{n}"),
    }
}

/// `GET /dashboard/api/compounds/{compound}/print/rounds/{round}`.
pub async fn round_sheet(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, round)): PathParams<(String, String)>,
    Params(params): Params<PrintParams>,
) -> Result<Response, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let round: DocumentId = path_id(&round)?;
    let building = params.building.map(|b| building_label(&b)).filter(|b| !b.is_empty());
    let estate = params.estate.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
    let names = names(&state, scope.compound.id).await?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let name = scope.compound.name;
    let html =
        blocking(move || sheet(&compound, &name, round, building.as_deref(), estate.as_deref(), &names))
            .await??;
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (axum::http::header::CONTENT_SECURITY_POLICY, POLICY),
        ],
        html,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use doorstep_core::Timestamp;
    use doorstep_core::schema::task::Attempt;
    use doorstep_core::schema::vocabulary::{Priority, TaskKind};

    use super::*;

    fn id<T: std::str::FromStr>(n: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    #[test]
    fn a_stored_control_or_direction_character_prints_as_its_code_point() {
        assert_eq!(esc("李秀\u{202E}英 <b>"), "李秀⟨U+202E⟩英 &lt;b&gt;");
        assert_eq!(esc("独居\n敲门\u{7}"), "独居\n敲门⟨U+0007⟩");
    }

    #[test]
    fn every_recorded_outcome_is_ticked_and_a_double_delivery_is_counted() {
        let attempt = |by: u8, outcome| Attempt {
            by: id(by),
            at: Timestamp::from_millis(0),
            outcome,
            note: String::new(),
            knocked_by: None,
            knocked_at: None,
        };
        let task = Task {
            id: id(1),
            round: id(2),
            household: id(3),
            kind: TaskKind::Groceries,
            items: String::new(),
            priority: Priority::Normal,
            assignee: None,
            request: None,
            cancelled: None,
            attempts: vec![
                attempt(4, Outcome::NobodyHome),
                attempt(4, Outcome::Delivered),
                attempt(5, Outcome::Delivered),
            ],
        };
        assert_eq!(tick(&task, Outcome::NobodyHome), "☑");
        assert!(tick(&task, Outcome::Delivered).starts_with("☑×2"), "{}", tick(&task, Outcome::Delivered));
        assert!(tick(&task, Outcome::Delivered).contains("重复"));
        assert_eq!(tick(&task, Outcome::Refused), "☐");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<b>\"张\" & '李'</b>"), "&lt;b&gt;&quot;张&quot; &amp; &#39;李&#39;&lt;/b&gt;");
    }
}
