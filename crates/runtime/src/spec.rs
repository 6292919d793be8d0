//! The OCI runtime spec (config.json) for a container, with Docker's defaults.
