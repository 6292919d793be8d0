//! The network service's errors; the API maps each kind to its status code in one place.

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// 400: the request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// 404.
    #[error("network {0} not found")]
    NotFound(String),
    /// 409: clashes with another network or with endpoints in use.
    #[error("{0}")]
    Conflict(String),
    /// 403 as dockerd answers for predefined networks and in-use addresses.
    #[error("{0}")]
    Forbidden(String),
    /// A host resource (a port, an address pool) is taken: 500 with dockerd's words.
    #[error("{0}")]
    Unavailable(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetworkError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetworkError {
        let context = context.into();
        move |source| NetworkError::Io { context, source }
    }
}
