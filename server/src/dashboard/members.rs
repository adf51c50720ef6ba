//! `GET …/members`: the compound's people, to assign volunteers to tasks and buildings. The same
//! list as `GET /v1/compounds/{id}/members` ([`admin::members`]), behind the session cookie.

use axum::Json;
use axum::extract::{Path, State};

use super::DashState;
use super::error::DashError;
use super::signed_in::SignedIn;
use crate::admin;
use crate::storage::Member;

/// Lists the members, revoked ones included (with `revoked: true`).
pub async fn list(
    State(state): State<DashState>,
    signed: SignedIn,
    Path(compound): Path<String>,
) -> Result<Json<Vec<Member>>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    Ok(Json(admin::members(&state.app.relay, &signed.principal, scope.compound.id).await?))
}
