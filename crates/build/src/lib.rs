//! Building images from a Dockerfile through the legacy `POST /build` API, with a build cache.
//!
//! Not implemented yet.
