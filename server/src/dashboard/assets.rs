//! The dashboard's static files, embedded in the binary by `build.rs`: `GET /dashboard` (and
//! `/dashboard/`) is `index.html`, `GET /dashboard/assets/{file}` any file of
//! `server/assets/dashboard/`. Nothing is fetched from elsewhere at run time, and the content
//! security policy makes sure the page cannot either.
//!
//! `Cache-Control: no-cache` with an `ETag`: a browser revalidates on every load (so a relay
//! upgrade shows at once) and gets a bodiless 304 while nothing changed.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, excerpt};
use crate::http::json::PathParams;

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// What the dashboard page may load and run: its own files only. Styles may be inline (the
/// page sets element styles from script); scripts may not, nor may anything be framed.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                      form-action 'self'";

/// The media type of a file, by its extension.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(name: &str, headers: &HeaderMap) -> Result<Response, AppError> {
    let (_, hash, bytes) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(|| AppError::NotFound(format!("the dashboard has no file {}", excerpt(name))))?;
    let etag = format!("\"{hash}\"");
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { (*bytes).into_response() };
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, value);
    }
    if name.ends_with(".html") {
        h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    }
    Ok(response)
}

/// `GET /dashboard`, `GET /dashboard/`.
pub async fn index(headers: HeaderMap) -> Result<Response, AppError> {
    serve("index.html", &headers)
}

/// `GET /dashboard/assets/{file}`.
pub async fn file(PathParams(name): PathParams<String>, headers: HeaderMap) -> Result<Response, AppError> {
    serve(&name, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_extensions() {
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("APP.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
