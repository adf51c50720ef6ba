//! `GET /healthz` and `GET /metrics`, unauthenticated so a load balancer and Prometheus can
//! reach them; neither reveals anything about a compound.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::connections::certificate_expiry::Expiry;
use crate::error::AppError;
use crate::memory;
use crate::metrics::Gauges;
use crate::state::AppState;
use crate::storage::{PROBE_WAIT, StorageError};

/// Health: the process answers, the database passed its integrity check at start, its file is
/// still the one at its path, its last write found room on the disk, and it answers a read
/// within seconds (a PostgreSQL database that stopped answering is a 503 naming its address and
/// what failed, never its password; one that answers but refuses writes or holds none of the
/// relay's tables is a 503 saying so), and the relay's own certificate (when it serves HTTPS)
/// has not passed its notAfter (one that ends within 14 days is a warning line, still 200). A
/// damaged database is a 503 naming the
/// damage: restarting will not cure it. A full disk is a 503 saying to free space: phones keep
/// their changes meanwhile and the next write that succeeds makes the relay healthy again.
pub async fn healthz(State(state): State<AppState>) -> Result<Response, AppError> {
    if let Some(damage) = state.damage.get() {
        let text = format!(
            "unhealthy: the database is damaged ({damage}); restore it from a backup\n\
             数据库已损坏，请从备份恢复\n"
        );
        return Ok(unhealthy(text));
    }
    if let Some(gone) = state.relay.storage().file_gone() {
        let text = format!(
            "unhealthy: the database file was taken from under the relay ({gone}); what it writes now \
             is lost when it stops: put the file back (with its -wal), or restore a backup, and restart\n\
             数据库文件已被移走或替换：请放回原文件或从备份恢复后重启\n"
        );
        return Ok(unhealthy(text));
    }
    if let Some(full) = state.relay.storage().out_of_space() {
        let text = format!(
            "unhealthy: the disk holding the database is full ({} writes refused for want of space); \
             phones keep their changes and sync once a write succeeds: free space on that disk\n\
             数据库所在磁盘已满，手机上的记录仍保留：请清理磁盘空间\n",
            full.failed_writes
        );
        return Ok(unhealthy(text));
    }
    let certificate =
        state.certificate.get().map(|c| (c.path().display().to_string(), c.expiry(clock::now())));
    if let Some((path, expired @ Expiry::Expired { .. })) = &certificate {
        let said = expired.said().unwrap_or_default();
        let text = format!(
            "unhealthy: the relay's certificate in {path} {said}\n\
             中继的证书已过期，所有手机都无法连接：请更新证书并重启中继\n"
        );
        return Ok(unhealthy(text));
    }
    // Bounded: a database that does not answer (PostgreSQL stopped, its host unreachable) is a
    // 503 naming it within seconds, not a health check that hangs until the balancer gives up.
    let wait = PROBE_WAIT + Duration::from_secs(1);
    let answer = match tokio::time::timeout(wait, state.relay.storage().answers()).await {
        // It answers, but cannot serve until its operator acts (read-only, its tables gone).
        Ok(Err(StorageError::CannotServe(why))) => {
            let text = format!(
                "unhealthy: {why}; phones keep their changes and sync once it is fixed
"
            );
            return Ok(unhealthy(text));
        }
        Ok(answer) => answer.err().map(|e| e.to_string()),
        Err(_) => Some(format!("it did not answer within {} s", wait.as_secs())),
    };
    if let Some(why) = answer {
        let text = format!(
            "unhealthy: the database does not answer: {why}; phones keep their changes and sync once it \
             answers again\n\
             数据库无法访问，手机上的记录仍保留：请检查数据库\n"
        );
        return Ok(unhealthy(text));
    }
    // A clock in doubt, or a certificate that ends soon, is said, not failed: the relay serves,
    // and every relay behind a balancer taken out for it would leave none.
    let mut text = String::from("ok\n");
    if let Some(doubt) = state.relay_clock.doubt() {
        text.push_str(&format!("warning: {doubt}\n"));
    }
    // A disk nearly full is said while the relay still writes: a relay started with 40 KB free
    // said "ok" until its first write failed (an operator's black-box finding).
    if let Some(room) = state.relay.storage().room_on_disk().filter(|&room| room < LOW_ROOM_ON_DISK) {
        text.push_str(&format!(
            "warning: only {} KiB free on the disk holding the database; when it is full every write is refused: free space on that disk\n\
             数据库所在磁盘空间将满：请清理磁盘空间\n",
            room / 1024
        ));
    }
    if let Some((path, soon @ Expiry::Soon { .. })) = &certificate {
        text.push_str(&format!(
            "warning: the relay's certificate in {path} {}\n",
            soon.said().unwrap_or_default()
        ));
    }
    Ok(text.into_response())
}

/// Below this much free space on the database's disk, `/healthz` warns (still 200): a team's
/// return writes tens of MiB.
const LOW_ROOM_ON_DISK: u64 = 64 << 20;

/// A 503 with `text`, the cause and what to do, for a balancer's log and a person.
fn unhealthy(text: String) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// The counters, in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let cache = state.relay.cache();
    let gauges = Gauges {
        docs_cached: cache.len(),
        docs_evicted: cache.evicted(),
        work_queues: state.relay.queues().len(),
        messages_queued: state.relay.queues().queued_relay_wide(),
        pieces_held_bytes: state.held_requests.bytes(),
        pieces_let_go: state.held_requests.let_go(),
        resident_bytes: memory::resident_bytes(),
        out_of_space: state.relay.storage().out_of_space().is_some(),
        relay_clock_doubt_ms: state.relay_clock.doubt().map(|d| d.phones_off_by_ms),
        tls_handshake_failures: state.tls_handshake_failures.total(),
    };
    let text = state.metrics.render(&gauges);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
