//! The volume service's errors; the API maps each kind to its status code in one place.

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// 400: the request itself is wrong (a bad name, target or option).
    #[error("{0}")]
    Invalid(String),
    /// 404.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// 409: in use by a container.
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    /// 409: a volume of that name exists with other options.
    #[error("{0}")]
    Conflict(String),
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
}
