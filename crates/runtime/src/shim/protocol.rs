//! What berthd and a shim say to each other on the shim's socket.
//!
//! Each connection carries one request: a JSON line from berthd, a JSON line back. An `attach`
//! connection then stays open as a stream: the shim sends output in Docker's multiplexed frames
//! (so berthd can pass them on as they are), berthd sends raw stdin bytes and half-closes when
//! the client's stdin ends. A `wait` connection gets its answer when the container exits.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Runs the user's program in the created container.
    Start,
    Kill {
        signal: i32,
    },
    /// Resizes the container's TTY, or with `exec` that exec's.
    Resize {
        height: u16,
        width: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec: Option<String>,
    },
    Pause,
    Resume,
    /// Answered when the container's first process has exited and everything is cleaned up.
    Wait,
    State,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Runs a second process in the container. `process` is its OCI process document. With
    /// `attach` the connection then carries the exec's stdio as an attach's does: frames out
    /// (raw bytes with a TTY), stdin in. Without it the exec's output is read and dropped.
    Exec {
        exec_id: String,
        process: serde_json::Value,
        tty: bool,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        attach: bool,
    },
    /// Answered when exec `exec_id` has exited and its output is drained (at once if it
    /// already has); the answer's `exit` carries its status.
    ExecWait {
        exec_id: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub pid: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

impl Reply {
    pub fn ok(pid: i32) -> Self {
        Reply {
            pid,
            ..Default::default()
        }
    }

    pub fn error(msg: impl Into<String>) -> Self {
        Reply {
            error: Some(msg.into()),
            ..Default::default()
        }
    }
}

/// How the container's first process ended. Written to `exit.json` in the shim's state dir
/// before the shim goes away, so a daemon that was down at the time still learns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + the signal that killed it, as Docker reports it.
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

/// Stream ids of Docker's multiplexed frames.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// The 8-byte header of Docker's multiplexed stream frames: stream id, three zero bytes,
/// big-endian payload length.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// Parses a frame header into (stream, payload length).
pub fn parse_frame_header(h: &[u8; 8]) -> (u8, usize) {
    (h[0], u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Attach {
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"op":"attach","stdin":true,"stdout":true,"stderr":false}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert_eq!(
            serde_json::to_string(&Request::Start).unwrap(),
            r#"{"op":"start"}"#
        );
    }

    #[test]
    fn frame_headers_round_trip() {
        let h = frame_header(STDERR, 70_000);
        assert_eq!(h, [2, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(parse_frame_header(&h), (STDERR, 70_000));
    }
}
