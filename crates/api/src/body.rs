//! Small request bodies are read whole before any handler runs.
//!
//! A handler that answers without reading the body (an error, a feature berth lacks) would
//! otherwise have the connection closed under a client still writing it; the client then sees
//! "broken pipe" or "connection reset" instead of the answer. Large bodies (image tarballs,
//! archives) stream to their handlers as before.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Bodies up to this size (JSON requests) are buffered.
const SMALL_BODY: u64 = 1 << 20;

pub async fn read_small_body(req: Request, next: Next) -> Response {
    let small = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= SMALL_BODY);
    if !small {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, SMALL_BODY as usize).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => ApiError::bad_request(format!("reading the request body: {e}")).into_response(),
    }
}

/// Makes every error answer Docker's `{"message": …}` JSON, whoever made it: axum's own
/// rejections (a bad query string, a body too large, a method a path does not take) come as
/// plain text or empty, and clients parse the JSON.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
    } else {
        text
    };
    ApiError::new(parts.status, message).into_response()
}

/// Reads a JSON request body: members sent as `null` count as absent (Go clients send nil
/// maps and slices), and an empty body is an empty object.
pub fn json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut v: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    berth_container::unsupported::strip_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}
