//! berth's registry client: the distribution protocol (v2) for pull and push, with Docker's
//! authentication, insecure-registry policy, retries and progress messages.
//!
//! It fills the stores of `berth-image`; the API layer turns its progress into the chunked JSON
//! stream Docker clients read.

pub mod auth;
pub mod client;
pub mod pull;
pub mod push;

pub use auth::AuthConfig;
pub use client::{InsecureRegistries, RegistryClient};
pub use pull::{PullOutcome, ResolvedPull};

/// Why a registry operation failed. Messages are the ones dockerd gives for the same failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry has no such repository, tag or blob.
    #[error("{0}")]
    NotFound(String),
    /// Credentials were missing or refused.
    #[error("{0}")]
    Unauthorized(String),
    /// Could not reach the registry, or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// The registry sent bytes that do not match their digest or size.
    #[error("{0}")]
    Verification(String),
    /// A layer could not be unpacked.
    #[error("{0}")]
    Layer(String),
    #[error(transparent)]
    Manifest(#[from] berth_image::manifest::ManifestError),
    #[error(transparent)]
    Content(#[from] berth_image::content::ContentError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl RegistryError {
    /// Whether trying again might help: broken connections, not refusals.
    pub fn is_retriable(&self) -> bool {
        matches!(self, RegistryError::Transport(_))
    }
}
