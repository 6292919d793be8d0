//! The image builder of berth: the Dockerfile language ([`dockerfile`], [`shell`],
//! [`instruction`], [`stages`]), the build context and `.dockerignore` ([`context`],
//! [`ignore`]), the build cache ([`cache`]) and the builder that runs the steps on berth's own
//! containers and image store ([`builder`]), for the classic `POST /build` API.
//! [`changes`] applies `--change` instructions for `commit` and `import`.

#[cfg(feature = "builder")]
pub mod builder;
#[cfg(feature = "builder")]
pub mod cache;
pub mod changes;
#[cfg(feature = "builder")]
mod concurrent;
#[cfg(feature = "builder")]
pub mod context;
pub mod dockerfile;
pub mod glob;
#[cfg(feature = "builder")]
pub mod glob_root;
pub mod ignore;
pub mod instruction;
#[cfg(feature = "builder")]
pub mod prune;
pub mod shell;
pub mod stages;
#[cfg(feature = "builder")]
mod steps;

#[cfg(feature = "builder")]
pub use builder::{BuildOptions, Builder};

/// Why a build failed. `Dockerfile` and `Invalid` are the client's fault (400 before the
/// stream starts, an error line after); the rest are the step's or berth's.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Dockerfile(String),
    #[error("{0}")]
    Invalid(String),
    /// A RUN's command exited non-zero, in dockerd's words (docker-py matches them).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    Command { command: String, code: i64 },
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BuildError {
    /// The code an error line carries (`errorDetail.code`), as dockerd gives it for a RUN.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::Command { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the client is to blame (the API's 400).
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            BuildError::Dockerfile(_)
                | BuildError::Invalid(_)
                | BuildError::Shell(_)
                | BuildError::Parse(_)
        )
    }
}

#[cfg(feature = "builder")]
impl From<berth_container::ContainerError> for BuildError {
    fn from(e: berth_container::ContainerError) -> Self {
        BuildError::Failed(e.to_string())
    }
}

#[cfg(feature = "builder")]
impl From<berth_image::archive::ArchiveError> for BuildError {
    fn from(e: berth_image::archive::ArchiveError) -> Self {
        BuildError::Failed(e.to_string())
    }
}

#[cfg(feature = "builder")]
impl From<berth_image::ImageError> for BuildError {
    fn from(e: berth_image::ImageError) -> Self {
        BuildError::Failed(e.to_string())
    }
}
