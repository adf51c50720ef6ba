//! The relay's HTTP surface: the router, its middleware and its handlers.
//!
//! | route | auth | body |
//! |---|---|---|
//! | `POST /v1/sync` | token | CBOR `SyncRequest` → CBOR `SyncResponse` |
//! | `GET, POST /v1/sync/pieces?digest=&total=&from=&encoding=` | token | a sync request in pieces, every byte that arrives kept (a phone whose link drops requests sends long ones so; `sync_pieces.rs`): `POST` a piece from byte `from` → `202` `{held, taken}` until the request is whole, then the sync's own answer; `GET` → `{held, taken}` |
//! | `GET /v1/documents/{id}/copy?heads=&from=&digest=&since=` | token | the document saved whole at those heads, from byte `from` (a phone whose link drops requests fetches what it lacks so; `document_copy.rs`); with `since`, the phone's own heads, `204` when the changes it lacks are fewer than a copy is worth |
//! | `POST /v1/set-aside` | token | JSON `{items, awaiting}` → `{received, refused, outcomes}`: the review inbox ([`crate::set_aside`]); 413 over the limits |
//! | `POST /v1/join` | invite code | JSON `{invite_code, device_name, name?}` → `{token, person, compound, role}` |
//! | `GET /v1/me` | token | who am I, my memberships, my compounds' coordinators by name |
//! | `GET, POST /v1/compounds` | token | list / create `{name, again?}` (district admins); 409 naming the compound that has the name already, unless `"again": true` |
//! | `POST /v1/compounds/{id}/invites` | token | `{role, expires_in_hours?}` → `{code, …}` |
//! | `GET /v1/compounds/{id}/members` | token | members |
//! | `POST /v1/compounds/{id}/members/{person}/revoke` | token | 204 |
//! | `POST /v1/compounds/{id}/roster?accept_good_rows=` | token | CSV → import report |
//! | `GET /v1/compounds/{id}/roster.csv` | token | CSV |
//! | `POST /v1/persons/{id}/revoke-devices` | token | `{revoked}` |
//! | `GET /v1/events` | token | Server-Sent Events: `changed` `{compound, doc, kind}` per committed change |
//! | `GET /healthz`, `GET /metrics` | none | text |
//! | `/dashboard…` | session cookie | the coordinators' dashboard, see [`crate::dashboard`] |

mod admin;
mod auth;
pub(crate) mod body_in_hand;
mod cbor;
mod document_copy;
mod events;
mod health;
mod join;
pub(crate) mod json;
mod middleware;
mod off_the_workers;
mod set_aside;
mod sync;
mod sync_pieces;
mod wiped;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use cbor::CBOR;

use crate::error::AppError;
use crate::state::AppState;

/// The most a body may be on the routes anyone may call without a token (`/v1/join`,
/// `/dashboard/login`): a join code and a name, or a token, are a few hundred bytes. Without it
/// they took the body limit (8 MiB) each, read before anything was checked: 250 such bodies sent
/// at once took a demo relay from 20 MiB to 260 MiB.
pub const SIGN_IN_BODY_BYTES: usize = 16 * 1024;

/// The most a body may be on every route that takes a JSON object of a few fields (a
/// coordinator's operation, an invite, a revocation): the longest text a field takes is 4,000
/// characters, 48 KB at most as JSON escapes. It is the router's default; the routes whose bodies
/// may be as long as the body limit (sync, requests in pieces, the set-aside exchange, roster
/// uploads) read them into the bodies in hand instead (`body_in_hand.rs`), bounded there.
pub const JSON_BODY_BYTES: usize = 256 * 1024;

/// The relay's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/sync", post(sync::sync))
        .route("/v1/sync/pieces", get(sync_pieces::held).post(sync_pieces::send))
        .route("/v1/documents/{id}/copy", get(document_copy::copy))
        .route("/v1/set-aside", post(set_aside::exchange))
        .route("/v1/wiped", post(wiped::wiped))
        .route("/v1/join", post(join::join).layer(DefaultBodyLimit::max(SIGN_IN_BODY_BYTES)))
        .route("/v1/me", get(admin::me))
        .route("/v1/compounds", get(admin::compounds).post(admin::create_compound))
        .route("/v1/compounds/{id}/invites", post(admin::create_invite))
        .route("/v1/compounds/{id}/members", get(admin::members))
        .route("/v1/compounds/{id}/members/{person}/revoke", post(admin::revoke))
        .route("/v1/compounds/{id}/roster", post(admin::import_roster))
        .route("/v1/compounds/{id}/roster.csv", get(admin::export_roster))
        .route("/v1/persons/{id}/revoke-devices", post(admin::revoke_devices))
        .route("/v1/events", get(events::events))
        .merge(crate::dashboard::router(state.clone()))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Every body an extractor reads whole; the routes whose bodies may be as long as the body
        // limit read them into the bodies in hand, bounded there (`body_in_hand.rs`).
        .layer(DefaultBodyLimit::max(JSON_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> AppError {
    AppError::MethodNotAllowed(format!(
        "{} does not take {method}; send with the method its route takes (POST to send, GET to read)",
        crate::error::excerpt(uri.path())
    ))
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::NotFound(format!("no route {}; the API lives under /v1", uri.path()))
}
