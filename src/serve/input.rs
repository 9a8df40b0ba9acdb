//! Reading a request to `lab serve`: the body within its size and time limits, the client's
//! request id, and the image inside it (format sniffed, pixel count bounded before decoding).

use std::io::Cursor;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use image::DynamicImage;

use super::State;
use super::handlers::{ApiError, err};

/// The most pixels an image sent to /v1/ocr may have (one line of text; 8000×500 is 4 million).
pub const OCR_MAX_PIXELS: u64 = 4_000_000;

/// The most pixels an image sent to /v1/extract may have (a page; 300 dpi A4 is 9 million).
pub const EXTRACT_MAX_PIXELS: u64 = crate::ml::lines::MAX_PIXELS;

/// Reads an image body: at most `--max-body` bytes (see [`read_limited`]).
pub(super) async fn read_body(
    st: &State,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    read_limited(st, headers, body, st.max_body, "lab serve --max-body").await
}

/// Reads the body: at most `limit` bytes (413 beyond, naming `what` sets the limit; a slightly
/// larger body is read to its end first, so the client gets the answer rather than a reset
/// connection), within `--body-timeout` (408).
pub(super) async fn read_limited(
    st: &State,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    let too_big = || {
        err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {limit} bytes ({what})"),
        )
    };
    let drain = limit.saturating_mul(4).max(16 << 20);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok());
    if declared.is_some_and(|n| n > drain) {
        return Err(too_big());
    }
    let bytes = tokio::time::timeout(st.limits.body_timeout, axum::body::to_bytes(body, drain))
        .await
        .map_err(|_| {
            err(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s (lab serve --body-timeout)",
                    st.limits.body_timeout.as_secs()
                ),
            )
        })?
        .map_err(|_| too_big())?;
    if bytes.len() > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// The client's `X-Request-Id` (1–128 of `A-Z a-z 0-9 . _ : -`), else a new id.
pub(super) fn request_id(st: &State, headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("x-request-id") {
        None => Ok(st.request_id()),
        Some(v) => {
            let s = v.to_str().unwrap_or_default();
            let ok = !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
            if ok {
                Ok(s.to_string())
            } else {
                Err(err(
                    StatusCode::BAD_REQUEST,
                    "bad X-Request-Id: use 1 to 128 letters, digits, `.`, `_`, `:` or `-`",
                ))
            }
        }
    }
}

/// A client's X-Request-Id that names an answer already given: refused, so that feedback for
/// one answer can never be scored against another.
pub(super) fn id_taken(id: &str) -> ApiError {
    err(
        StatusCode::CONFLICT,
        format!(
            "X-Request-Id `{id}` already names another answer of this server: send a new id, or none and one is made"
        ),
    )
}

/// Decodes an upload as PNG or JPEG, refusing anything else, empty, truncated, or over
/// `max_pixels` (read from the header, before anything is decoded).
pub(super) fn decode(
    bytes: &[u8],
    max_pixels: u64,
    endpoint: &str,
) -> Result<DynamicImage, ApiError> {
    if bytes.is_empty() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "empty body: send the image's bytes (PNG or JPEG)",
        ));
    }
    let mut r = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
    if !matches!(
        r.format(),
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg)
    ) {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body is not a PNG or JPEG image",
        ));
    }
    let (w, h) = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .and_then(|r| r.into_dimensions().map_err(std::io::Error::other))
        .map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                format!("cannot read the image's header (truncated or damaged?): {e}"),
            )
        })?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the image is {w}×{h} pixels, over the {max_pixels} pixels {endpoint} takes: scale or crop it"
            ),
        ));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(256 << 20);
    r.limits(limits);
    let img = r.decode().map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            format!("cannot decode the image (truncated or damaged?): {e}"),
        )
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!(
                "the image is empty ({}×{} pixels)",
                img.width(),
                img.height()
            ),
        ));
    }
    Ok(img)
}
