//! The container service's errors; the API maps each kind to its status code in one place.

use crate::record::LookupError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// 404 in the daemon's own words.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request clashes with the container's state or another container.
    #[error("{0}")]
    Conflict(String),
    /// 304: already in the asked-for state (start a running one, stop a stopped one).
    #[error("container already in that state")]
    NotModified,
    /// 400: the request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The runtime could not create or start the container (500 with the runtime's words).
    #[error("{0}")]
    Start(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<berth_volume::VolumeError> for ContainerError {
    fn from(e: berth_volume::VolumeError) -> Self {
        use berth_volume::VolumeError as V;
        match e {
            V::Invalid(m) | V::Unsupported(m) => ContainerError::Invalid(m),
            V::NotFound(m) => ContainerError::NotFound(m),
            V::Conflict(m) => ContainerError::Conflict(m),
            V::Io { context, source } => ContainerError::Io { context, source },
        }
    }
}

impl From<berth_network::NetworkError> for ContainerError {
    fn from(e: berth_network::NetworkError) -> Self {
        use berth_network::NetworkError as N;
        match e {
            N::Invalid(m) => ContainerError::Invalid(m),
            e @ N::NotFound(_) => ContainerError::NotFound(e.to_string()),
            N::Conflict(m) | N::Forbidden(m) => ContainerError::Conflict(m),
            N::Unavailable(m) => ContainerError::Start(m),
            N::Io { context, source } => ContainerError::Io { context, source },
        }
    }
}

impl ContainerError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
        let context = context.into();
        move |source| ContainerError::Io { context, source }
    }
}
