//! `POST /images/{name}/push`.

use axum::http::HeaderMap;
use axum::response::Response;

use crate::error::{ApiError, ApiResult};
use crate::SharedState;

pub async fn push(
    _s: SharedState,
    _name: &str,
    _tag: String,
    _headers: &HeaderMap,
) -> ApiResult<Response> {
    Err(ApiError::not_implemented("image push"))
}
