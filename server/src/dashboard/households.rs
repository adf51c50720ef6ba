//! The roster as a coordinator searches it: `GET …/households?status=&need=&building=&estate=&q=`
//! and one household with its tasks and requests, `GET …/households/{household}`.

use axum::Json;
use axum::extract::State;
use doorstep_core::id::HouseholdId;
use doorstep_core::query::{self, HouseholdBook};
use doorstep_core::schema::address::building_label;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::Household;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::request::Request;
use doorstep_core::schema::task::Task;
use doorstep_core::schema::vocabulary::TaskStatus;
use doorstep_core::{Compound, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, Params, blocking, path_id};
use crate::error::AppError;
use crate::http::json::PathParams;

/// The query string, as sent; an empty parameter means "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterParams {
    status: Option<String>,
    need: Option<String>,
    building: Option<String>,
    estate: Option<String>,
    q: Option<String>,
}

/// A roster filter: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Control status.
    pub status: Option<ControlStatus>,
    /// Need tag.
    pub need: Option<NeedTag>,
    /// Building label, without 号楼/栋.
    pub building: Option<String>,
    /// Estate, exactly.
    pub estate: Option<String>,
    /// Text found in the head's name, the phone, the flat or the address, ignoring case.
    pub text: Option<String>,
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl TryFrom<FilterParams> for Filter {
    type Error = AppError;

    fn try_from(p: FilterParams) -> Result<Self, AppError> {
        let invalid = |e: doorstep_core::schema::UnknownValue| AppError::invalid(e.to_string());
        Ok(Filter {
            status: given(p.status).map(|s| s.parse()).transpose().map_err(invalid)?,
            need: given(p.need).map(|s| s.parse()).transpose().map_err(invalid)?,
            building: given(p.building).map(|b| building_label(&b)),
            estate: given(p.estate),
            text: given(p.q).map(|q| q.to_lowercase()),
        })
    }
}

impl Filter {
    /// Whether `h` passes.
    pub fn matches(&self, h: &Household) -> bool {
        let a = &h.address;
        self.status.is_none_or(|s| h.status == s)
            && self.need.is_none_or(|n| h.needs.contains(&n))
            && self.building.as_ref().is_none_or(|b| building_label(&a.building) == *b)
            && self.estate.as_ref().is_none_or(|e| a.estate == *e)
            && self.text.as_ref().is_none_or(|q| {
                let dashed = if a.unit.is_empty() {
                    format!("{}-{}", a.building, a.flat)
                } else {
                    format!("{}-{}-{}", a.building, a.unit, a.flat)
                };
                [h.head.as_str(), h.phone.as_str(), a.flat.as_str(), &a.to_string(), &dashed]
                    .iter()
                    .any(|field| field.to_lowercase().contains(q.as_str()))
                    || phone_digits(q).is_some_and(|digits| h.phone.contains(digits.as_str()))
            })
    }
}

/// The digits of a search typed as a phone number is written ("199 9973 6261", "+86 199-9973-6261"),
/// so that it finds the number the importer stored as digits; `None` for any other search. A
/// dashed address ("3-2-1203", at most eight digits) is not taken for a phone number: the search
/// must hold nine digits or more, or be grouped by spaces or start with `+`.
fn phone_digits(q: &str) -> Option<String> {
    let grouping = |c: char| matches!(c, ' ' | '\u{3000}' | '-' | '(' | ')' | '（' | '）' | '.');
    let rest = q.strip_prefix('+').unwrap_or(q);
    if !rest.chars().all(|c| c.is_ascii_digit() || grouping(c)) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let phone_like =
        digits.len() >= 9 || (digits.len() >= 4 && (q.starts_with('+') || q.contains([' ', '\u{3000}'])));
    if !phone_like {
        return None;
    }
    let mobile = ["0086", "86"]
        .iter()
        .find_map(|code| digits.strip_prefix(code).filter(|d| d.len() == 11 && d.starts_with('1')));
    Some(mobile.map_or(digits.clone(), str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::phone_digits;

    #[test]
    fn a_phone_number_typed_with_its_grouping_is_searched_as_digits() {
        assert_eq!(phone_digits("199 9973 6261").as_deref(), Some("19999736261"));
        assert_eq!(phone_digits("199-9973-6261").as_deref(), Some("19999736261"));
        assert_eq!(phone_digits("+86 199-9973-6261").as_deref(), Some("19999736261"));
        assert_eq!(phone_digits("0086 19999736261").as_deref(), Some("19999736261"));
        assert_eq!(phone_digits("9973 6261").as_deref(), Some("99736261"));
        assert_eq!(phone_digits("(0371) 1234-5678").as_deref(), Some("037112345678"));
    }

    #[test]
    fn addresses_and_names_are_not_taken_for_phone_numbers() {
        assert_eq!(phone_digits("3-2-1203"), None, "a dashed address");
        assert_eq!(phone_digits("17-3-702"), None);
        assert_eq!(phone_digits("1203"), None);
        assert_eq!(phone_digits("谢燕杰"), None);
        assert_eq!(phone_digits("1号楼"), None);
    }
}

/// The households passing `filter`, in climbing order.
pub fn households(compound: &Compound, filter: &Filter) -> Vec<Household> {
    query::households_in_order(compound).into_iter().filter(|h| filter.matches(h)).collect()
}

/// One task of a household, in any round.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdTask {
    /// The task.
    pub task: Task,
    /// Its derived status.
    pub status: TaskStatus,
    /// The title of its round.
    pub round_title: String,
    /// The date of its round.
    pub round_date: String,
}

/// `GET …/households/{household}`.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdDetail {
    /// The household.
    pub household: Household,
    /// Its tasks in every round held, newest round first.
    pub tasks: Vec<HouseholdTask>,
    /// Its requests, newest first.
    pub requests: Vec<Request>,
    /// When it was removed from the roster (by the removing device's clock), if it was: the
    /// household is then shown as it last stood, for the work that still names it.
    pub removed_at: Option<Timestamp>,
}

/// A household with its history, if the roster holds it or once held it.
pub fn detail(compound: &Compound, id: HouseholdId) -> Option<HouseholdDetail> {
    let book = HouseholdBook::of(compound, [id]);
    let household = book.get(id)?.clone();
    let removed_at = book.removal(id).map(|removal| removal.at);
    let infos = compound.round_infos();
    let mut tasks: Vec<HouseholdTask> = compound
        .tasks()
        .into_iter()
        .filter(|t| t.household == id)
        .map(|task| {
            let info = infos.iter().find(|i| i.document == task.round);
            HouseholdTask {
                status: task.status(),
                round_title: info.map(|i| i.title.clone()).unwrap_or_default(),
                round_date: info.map(|i| i.date.clone()).unwrap_or_default(),
                task,
            }
        })
        .collect();
    tasks.sort_by(|a, b| b.round_date.cmp(&a.round_date).then_with(|| a.task.id.cmp(&b.task.id)));
    let mut requests: Vec<Request> = compound.requests().into_iter().filter(|r| r.household == id).collect();
    requests.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    Some(HouseholdDetail { household, tasks, requests, removed_at })
}

/// `GET /dashboard/api/compounds/{compound}/households`.
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
    Params(params): Params<FilterParams>,
) -> Result<Json<Vec<Household>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let filter = Filter::try_from(params)?;
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    Ok(Json(blocking(move || households(&compound, &filter)).await?))
}

/// `GET /dashboard/api/compounds/{compound}/households/{household}`.
pub async fn one(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams((compound, household)): PathParams<(String, String)>,
) -> Result<Json<HouseholdDetail>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let household: HouseholdId = path_id(&household)?;
    let compound = snapshot::load(&state, &scope, Rounds::All).await?;
    let found = blocking(move || detail(&compound, household)).await?;
    Ok(Json(found.ok_or_else(|| {
        AppError::NotFound(format!("no household {household} in this roster, now or before"))
    })?))
}
