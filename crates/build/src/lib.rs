//! Dockerfile instructions and, later, the image builder (legacy `POST /build` API).
//!
//! So far: applying the instructions that `docker import --change` and `docker commit --change`
//! accept to an image's container config.

pub mod changes;
