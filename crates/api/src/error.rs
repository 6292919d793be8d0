//! The one place where berth's errors become HTTP answers: Docker's status codes and its
//! `{"message": …}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_container::record::LookupError;
use berth_container::ContainerError;
use berth_image::{ImageError, ReferenceError};
use berth_registry::RegistryError;

/// An error on its way to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what} is not implemented in berth yet"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            // A 304 carries no body.
            return self.status.into_response();
        }
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "request failed");
        }
        (
            self.status,
            axum::Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

impl From<ReferenceError> for ApiError {
    fn from(e: ReferenceError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let status = match &e {
            ImageError::NotFound(_) => StatusCode::NOT_FOUND,
            ImageError::Conflict(_) => StatusCode::CONFLICT,
            ImageError::Reference(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let status = match &e {
            RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistryError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RegistryError::Image(ImageError::NotFound(_)) => StatusCode::NOT_FOUND,
            RegistryError::Manifest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> Self {
        let status = match &e {
            ContainerError::Lookup(LookupError::NotFound(_))
            | ContainerError::NoSuchImage(_)
            | ContainerError::NotFound(_) => StatusCode::NOT_FOUND,
            ContainerError::Lookup(LookupError::Ambiguous(_)) => StatusCode::BAD_REQUEST,
            ContainerError::Conflict(_) => StatusCode::CONFLICT,
            ContainerError::NotModified => StatusCode::NOT_MODIFIED,
            ContainerError::Invalid(_) => StatusCode::BAD_REQUEST,
            ContainerError::Start(_) | ContainerError::Io { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<berth_volume::VolumeError> for ApiError {
    fn from(e: berth_volume::VolumeError) -> Self {
        use berth_volume::VolumeError as V;
        let status = match &e {
            V::Invalid(_) | V::Unsupported(_) => StatusCode::BAD_REQUEST,
            V::NotFound(_) => StatusCode::NOT_FOUND,
            V::Conflict(_) => StatusCode::CONFLICT,
            V::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<berth_network::NetworkError> for ApiError {
    fn from(e: berth_network::NetworkError) -> Self {
        use berth_network::NetworkError as N;
        let status = match &e {
            N::Invalid(_) => StatusCode::BAD_REQUEST,
            N::NotFound(_) => StatusCode::NOT_FOUND,
            N::Conflict(_) => StatusCode::CONFLICT,
            N::Forbidden(_) => StatusCode::FORBIDDEN,
            N::Unavailable(_) | N::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
