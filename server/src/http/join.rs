//! `POST /v1/join`: an invite code and a device name in, a device token out. The one API route
//! without a token, since this is how a device gets one.
//!
//! Attempts are throttled per client address ([`crate::config::JoinLimits`]): a burst for a
//! compound's volunteers joining together from one Wi-Fi, then a steady trickle, so guessing a
//! 60-bit invite code is hopeless. Over the limit the answer is 429 `join_throttled` with
//! `Retry-After`. The address is the TCP peer's, or a trusted proxy's forwarded one
//! ([`crate::client`]); a forged `X-Forwarded-For` buys nothing. The allowance lives in the
//! relay's [`crate::throttle::Throttles`]: with several relays on one PostgreSQL database, a
//! guesser throttled by one relay is throttled by all of them, and by a restarted one.

use axum::Json;
use axum::extract::State;

use super::json::JsonBody;
use crate::Config;
use crate::admin::{self, JoinRequest, Joined};
use crate::client::Client;
use crate::error::AppError;
use crate::secret;
use crate::state::AppState;
use crate::throttle::Allowance;

/// One address's join attempts, from the configuration.
fn join_allowance(config: &Config) -> Allowance {
    Allowance { per_second: config.join.per_second, burst: config.join.burst }
}

/// Redeems an invite.
pub async fn join(
    State(state): State<AppState>,
    client: Client,
    JsonBody(request): JsonBody<JoinRequest>,
) -> Result<Json<Joined>, AppError> {
    // The limiter is keyed by a hash, as it is for tokens; an address is hashed the same way.
    let key = secret::hash_token(&format!("join {}", client.addr));
    // The relay's own host (its operator, a benchmark, a same-host proxy not named as trusted)
    // is not throttled; see `client::is_own_host`.
    if !crate::client::is_own_host(client.addr)
        && let Err(wait) = state.relay.throttles().take(key, join_allowance(&state.config)).await?
    {
        let secs = wait.as_secs_f64().ceil().max(1.0);
        return Err(AppError::Throttled {
            error: "join_throttled",
            reason: format!(
                "too many join attempts from this network; wait {secs:.0} seconds and check the invite code \
                 (加入尝试过多，请 {secs:.0} 秒后再试，并核对邀请码)"
            ),
            retry_after: Some(wait),
        });
    }
    Ok(Json(admin::join(&state.relay, request).await?))
}
