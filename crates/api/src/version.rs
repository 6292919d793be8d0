//! API version negotiation: every route answers under `/vX.YY/…` and bare, versions above ours
//! are refused, and every answer carries the headers Docker clients read.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The API version berth speaks.
pub const API_VERSION: &str = "1.47";
/// The oldest API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// The client's API version for this request, from the path prefix (ours when bare).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct ClientVersion(pub u32, pub u32);

impl ClientVersion {
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.')?;
        Some(ClientVersion(a.parse().ok()?, b.parse().ok()?))
    }
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.0, self.1) >= (major, minor)
    }
}

/// Splits `/v1.41/images/json` into `(Some("1.41"), "/images/json")`.
fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let v = &rest[..end];
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let tail = &rest[end..];
            return (Some(v), if tail.is_empty() { "/" } else { tail });
        }
    }
    (None, path)
}

/// Strips the version prefix before routing, checks it, and stamps Docker's headers on the answer.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let (version, bare) = split_version(&path);
    let ours = ClientVersion::parse(API_VERSION).unwrap();
    let client = match version {
        None => ours,
        Some(v) => match ClientVersion::parse(v) {
            Some(cv) if cv > ours => {
                return with_headers(
                    ApiError::new(StatusCode::BAD_REQUEST, format!("client version {v} is too new. Maximum supported API version is {API_VERSION}")).into_response(),
                )
            }
            Some(cv) if cv < ClientVersion::parse(MIN_API_VERSION).unwrap() => {
                return with_headers(
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
                    )
                    .into_response(),
                )
            }
            Some(cv) => cv,
            None => return ApiError::not_found("page not found").into_response(),
        },
    };
    if version.is_some() {
        let pq = match req.uri().query() {
            Some(q) => format!("{bare}?{q}"),
            None => bare.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = pq.parse().ok();
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req.extensions_mut().insert(client);
    with_headers(next.run(req).await)
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_str(&server_header())
            .unwrap_or(HeaderValue::from_static("Docker/berth (linux)")),
    );
    resp
}

/// `Server: Docker/<version> (linux)`: clients parse the `Docker/` product token.
pub fn server_header() -> String {
    format!("Docker/{} (linux)", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_version_prefixes() {
        assert_eq!(
            split_version("/v1.41/images/json"),
            (Some("1.41"), "/images/json")
        );
        assert_eq!(split_version("/_ping"), (None, "/_ping"));
        assert_eq!(split_version("/v1.47"), (Some("1.47"), "/"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
        assert!(ClientVersion::parse("1.50").unwrap() > ClientVersion::parse("1.47").unwrap());
        assert!(ClientVersion::parse("1.9").unwrap() < ClientVersion::parse("1.24").unwrap());
    }
}
