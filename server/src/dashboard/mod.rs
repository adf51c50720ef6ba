//! The coordinators' dashboard (DESIGN §6), server side: the page and its files, cookie
//! sign-in, and a JSON API over the same documents phones sync.
//!
//! Why the dashboard is thin: every number and list it shows is a core query (counts,
//! conflicts, households in climbing order) or a small function over core's types, read from a
//! copy of the compound's documents (`snapshot.rs`); every change it makes is a core
//! [`Operation`](doorstep_core::Operation) applied through [`Relay::write`](crate::relay::Relay::write)
//! as the signed-in person in their role, so the rules that bind a coordinator's phone bind the
//! dashboard too. Imports go through core's importer and exports through the relay's roster
//! export, so what the dashboard writes out it reads back in.
//!
//! | route | answer |
//! |---|---|
//! | `GET /dashboard`, `/dashboard/`, `/dashboard/assets/{file}` | the page and its files |
//! | `POST /dashboard/login` `{"token"}` | `Me` + `Set-Cookie: doorstep_session=…`; 401 bad token, 403 not a coordinator |
//! | `POST /dashboard/logout` | 204, cookie cleared |
//! | `GET /dashboard/api/me` | `Me`: `{person, name, district_admin, compounds: [{id, name, role}]}` |
//! | `GET /dashboard/api/events?compound=` | Server-Sent Events (see [`crate::events`]) |
//! | `GET /dashboard/api/legend` | the map's `{fills, needs}` legend, for the roster's need marks |
//! | `GET …/compounds/{c}/overview` | `{name, counts, rounds: [progress], requests_waiting, conflicts}` |
//! | `GET …/compounds/{c}/households?status=&need=&building=&estate=&q=` | `[Household]`, climbing order |
//! | `GET …/compounds/{c}/households/{h}` | `{household, tasks: [{task, status, round_title, round_date}], requests, removed_at}` (a household removed since: as it last stood) |
//! | `GET …/compounds/{c}/households/{h}/history` | `[{at, person, name, fields, actor, change}]`, oldest first |
//! | `GET …/compounds/{c}/map?round=` | `{legend, round, buildings}`: buildings → units → floors (top first) → flats with `colour`, `needs` and, for an open round, `door` |
//! | `GET …/compounds/{c}/rounds` | `[{round, total, delivered, attempted, open, assigned, to_reassign, cancelled, double_deliveries, cancelled_but_delivered, late}]` |
//! | `GET …/compounds/{c}/rounds/{r}` | `{round, progress, tasks: [{task, status, household, assignee_name, assignee_removed, late_attempts}]}` |
//! | `GET …/compounds/{c}/rounds/{r}/tasks/{t}/history` | `[{at, person, name, fields, actor, change}]`, oldest first |
//! | `GET …/compounds/{c}/requests` | `[Request + {address, head, household_removed, by_name}]`, newest first |
//! | `GET …/compounds/{c}/conflicts` | `[Conflict + {address, head, household_removed, names, review}]` |
//! | `GET …/compounds/{c}/members` | `[Member + {joined_at, devices: [{id, name, created_at, revoked, last_seen, clock_off_by_ms?, relay_clock_in_doubt?}], share_refused?: {times, last_at, document, kind}}]` |
//! | `POST …/compounds/{c}/members/invites` `{"role"}` | 201 `{code, role, expires_at, link, qr_svg}`; 403 a coordinator inviting a coordinator |
//! | `POST …/compounds/{c}/members/{p}/revoke` | `{revoked}`; their phones wipe the compound at their next sync |
//! | `POST …/compounds/{c}/members/{p}/devices/{d}/revoke` | `{revoked: d}`; district admins; that phone (a lost one) wipes everything at its next sync, their others keep working |
//! | `POST …/compounds/{c}/members/{p}/tokens` `{"device_name"}` | 201 `{token, link, qr_svg}`; district admins only |
//! | `GET …/compounds/{c}/time-zone` | `{minutes, label}`: the compound's UTC offset (default 480, `UTC+8`); set with the operation `set_utc_offset` |
//! | `GET …/compounds/{c}/set-aside` | `[{id, person, person_name, address, summary, op, operation, made_at, rule, reason, state, decided_by_name, note, …}]`, waiting first, then decided, each newest first |
//! | `POST …/compounds/{c}/set-aside/{i}/apply` | applies the item's operation as the signed-in coordinator → `{id, done}`; 409 if decided, 422 if refused |
//! | `POST …/compounds/{c}/set-aside/{i}/dismiss` `{"reason"}` | the item, dismissed; 409 if decided |
//! | `POST …/compounds/{c}/operations` | core `Operation` JSON → `{changed, created, new_entity}`; 403/422 (422 `not_a_member`: a task given to someone who is not a live member) |
//! | `POST …/compounds/{c}/import?mode=preview\|commit[&accept_good_rows=true]` | CSV or XLSX body |
//! | `GET …/compounds/{c}/export/{roster,special-needs}.{csv,xlsx}` | downloads |
//! | `GET …/compounds/{c}/export/rounds/{r}.{csv,xlsx}` | a round's results |
//! | `GET …/compounds/{c}/print/rounds/{r}?building=&estate=` | printable HTML delivery sheet |
//!
//! `…` is `/dashboard/api`. Every `/dashboard/api` route needs the session cookie; every
//! compound route needs the person to be its coordinator or admin (a district admin is admin
//! everywhere).

mod assets;
mod assignees;
mod closed_rounds;
mod error;
mod events;
mod export;
mod history;
mod households;
mod import;
mod inbox;
mod login;
mod map;
mod map_marks;
mod map_round;
mod members;
mod operations;
mod overview;
mod print;
mod qr;
mod rounds;
mod session;
mod set_aside;
mod signed_in;
mod snapshot;
mod table;
mod time_zone;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::{get, post};
use doorstep_core::id::{BadId, CompoundId, PersonId};
use serde::de::DeserializeOwned;

pub use error::{DashError, RowProblem};
pub use session::{COOKIE_NAME, LIFETIME, Sessions};

use crate::error::AppError;
use crate::relay::RelayError;
use crate::state::AppState;

/// What the dashboard's handlers share: the relay's state and the open sessions.
#[derive(Debug, Clone)]
pub struct DashState {
    /// The relay, its configuration, limits and counters.
    pub app: AppState,
    /// The signed-in sessions, kept in the relay's store.
    pub sessions: Sessions,
    /// The permits for copies of compounds made at once (`snapshot.rs`).
    pub snapshots: snapshot::Snapshots,
    /// What each closed round shows on the conflicts page and the overview (`closed_rounds.rs`).
    pub closed_rounds: Arc<closed_rounds::ClosedRoundNotes>,
}

/// The dashboard's routes, to merge into the relay's router.
pub fn router(app: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/me", get(login::me))
        .route("/events", get(events::stream))
        .route("/legend", get(map::legend))
        .route("/compounds/{compound}/overview", get(overview::get))
        .route("/compounds/{compound}/households", get(households::list))
        .route("/compounds/{compound}/households/{household}", get(households::one))
        .route("/compounds/{compound}/households/{household}/history", get(history::household))
        .route("/compounds/{compound}/rounds/{round}/tasks/{task}/history", get(history::task))
        .route("/compounds/{compound}/map", get(map::get))
        .route("/compounds/{compound}/rounds", get(rounds::list))
        .route("/compounds/{compound}/rounds/{round}", get(rounds::one))
        .route("/compounds/{compound}/requests", get(inbox::list_requests))
        .route("/compounds/{compound}/conflicts", get(inbox::list_conflicts))
        .route("/compounds/{compound}/members", get(members::list))
        .route("/compounds/{compound}/set-aside", get(set_aside::list))
        .route("/compounds/{compound}/set-aside/{item}/apply", post(set_aside::apply))
        .route("/compounds/{compound}/set-aside/{item}/dismiss", post(set_aside::dismiss))
        .route("/compounds/{compound}/members/invites", post(members::invite))
        .route("/compounds/{compound}/members/{person}/revoke", post(members::revoke))
        .route("/compounds/{compound}/members/{person}/devices/{device}/revoke", post(members::revoke_device))
        .route("/compounds/{compound}/members/{person}/tokens", post(members::new_token))
        .route("/compounds/{compound}/time-zone", get(time_zone::get))
        .route("/compounds/{compound}/operations", post(operations::apply))
        .route("/compounds/{compound}/import", post(import::import))
        .route("/compounds/{compound}/export/{file}", get(export::ledger))
        .route("/compounds/{compound}/export/rounds/{file}", get(export::round_results))
        .route("/compounds/{compound}/print/rounds/{round}", get(print::round_sheet));
    Router::new()
        .route("/dashboard", get(assets::index))
        .route("/dashboard/", get(assets::index))
        .route("/dashboard/assets/{file}", get(assets::file))
        .route(
            "/dashboard/login",
            post(login::login).layer(axum::extract::DefaultBodyLimit::max(crate::http::SIGN_IN_BODY_BYTES)),
        )
        .route("/dashboard/logout", post(login::logout))
        .nest("/dashboard/api", api)
        .with_state(DashState {
            sessions: Sessions::new(app.relay.shared_storage()),
            snapshots: snapshot::Snapshots::default(),
            closed_rounds: Arc::default(),
            app,
        })
}

/// A query string whose failures answer in the relay's error format.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, DashError> {
        Query::<T>::try_from_uri(&parts.uri).map(|Query(value)| Params(value)).map_err(|e| {
            AppError::invalid(format!("the query string is not acceptable: {}", e.body_text())).into()
        })
    }
}

/// Parses an ID from a path segment.
fn path_id<T: std::str::FromStr<Err = BadId>>(text: &str) -> Result<T, DashError> {
    text.parse().map_err(|e: BadId| AppError::invalid(e.to_string()).into())
}

/// Runs CPU work (copying documents, a query, a workbook) on the blocking pool, off the async
/// workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, DashError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| RelayError::Task(e.to_string()).into())
}

/// The names of a compound's members (revoked ones too: their past work keeps its name).
async fn names(state: &DashState, compound: CompoundId) -> Result<HashMap<PersonId, String>, DashError> {
    let members = state.app.relay.storage().members(compound).await?;
    Ok(members.into_iter().map(|m| (m.person, m.name)).collect())
}
