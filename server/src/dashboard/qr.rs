//! QR codes for the members page, drawn by the relay as SVG with the `qrcode` crate: the page
//! loads nothing from elsewhere (its content security policy forbids it), and a district's relay
//! may have no internet at all.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::error::DashError;
use crate::error::AppError;

/// The smallest side of the drawn code, in SVG units (CSS pixels at 100 %): big enough for a
/// phone camera to read off a laptop screen across a desk.
const MIN_SIDE: u32 = 232;

/// Draws `text` as a QR code with medium error correction (15 % of the code may be smudged or
/// glared and it still reads), a quiet zone, black on white. The SVG has no XML declaration,
/// so the page can place it inline.
pub fn svg(text: &str) -> Result<String, DashError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
        AppError::invalid(format!("this link cannot be drawn as a QR code ({e}); hand out the code as text"))
    })?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .min_dimensions(MIN_SIDE, MIN_SIDE)
        .quiet_zone(true)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    Ok(match drawn.find("<svg") {
        Some(start) => drawn[start..].to_owned(),
        None => drawn,
    })
}
