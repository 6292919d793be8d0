//! The volume service's errors; the API maps each kind to its status code in one place
//! (`crates/api/src/error.rs`).

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// 400: the request is wrong (a bad name, spec, option or path).
    #[error("{0}")]
    Invalid(String),
    /// 404: no such volume (or bind source, for `--mount`).
    #[error("{0}")]
    NotFound(String),
    /// 409: the volume is in use, or the name is taken by another driver.
    #[error("{0}")]
    Conflict(String),
    /// 400: something Docker does that berth does not do yet, named.
    #[error("{0}")]
    Unsupported(String),
    /// 500: the system failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VolumeError {
        let context = context.into();
        move |source| VolumeError::Io { context, source }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> VolumeError {
        VolumeError::Invalid(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, VolumeError>;
