//! Docker's multiplexed stream format (moby `stdcopy`), used by attach and logs when the
//! container has no TTY: each frame is an 8-byte header `[stream, 0, 0, 0, len as u32 BE]`
//! followed by `len` bytes. Frames arrive split across reads at arbitrary points, so the demuxer
//! keeps what it has not yet been able to use.

/// Where a frame's payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A frame the docker CLI would refuse, worded as its `StdCopy` words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemuxError {
    /// Stream type 3: the daemon reporting an error inside the stream.
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
    #[error("Unrecognized input header: {0}")]
    BadHeader(u8),
}

const HEADER: usize = 8;

/// Incremental demultiplexer: feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    pub fn new() -> Demux {
        Demux::default()
    }

    /// Consumes `data`, calling `sink` with each complete frame's payload (stdin frames, type 0,
    /// go to stdout as in `StdCopy`). A frame cut short stays buffered for the next call.
    pub fn feed(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(Stream, &[u8]) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while self.buf.len() - start >= HEADER {
            let h = &self.buf[start..start + HEADER];
            let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.buf.len() - start < HEADER + len {
                break;
            }
            let kind = h[0];
            let payload = &self.buf[start + HEADER..start + HEADER + len];
            match kind {
                0 | 1 => sink(Stream::Stdout, payload)?,
                2 => sink(Stream::Stderr, payload)?,
                3 => {
                    return Err(
                        DemuxError::Daemon(String::from_utf8_lossy(payload).into_owned()).into(),
                    )
                }
                other => return Err(DemuxError::BadHeader(other).into()),
            }
            start += HEADER + len;
        }
        self.buf.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![kind, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn run(chunks: &[&[u8]]) -> (Vec<(Stream, Vec<u8>)>, anyhow::Result<()>) {
        let mut d = Demux::new();
        let mut out = Vec::new();
        for c in chunks {
            let r = d.feed(c, &mut |s, p| {
                out.push((s, p.to_vec()));
                Ok(())
            });
            if r.is_err() {
                return (out, r);
            }
        }
        (out, Ok(()))
    }

    #[test]
    fn frames_split_anywhere() {
        let mut all = frame(1, b"to-stdout\n");
        all.extend(frame(2, b"to-stderr\n"));
        all.extend(frame(0, b""));
        all.extend(frame(1, b"x"));
        // Every split point, including inside headers.
        for cut in 0..=all.len() {
            for cut2 in cut..=all.len() {
                let (out, r) = run(&[&all[..cut], &all[cut..cut2], &all[cut2..]]);
                r.unwrap();
                let joined: Vec<(Stream, Vec<u8>)> =
                    out.into_iter().filter(|(_, p)| !p.is_empty()).collect();
                assert_eq!(
                    joined,
                    vec![
                        (Stream::Stdout, b"to-stdout\n".to_vec()),
                        (Stream::Stderr, b"to-stderr\n".to_vec()),
                        (Stream::Stdout, b"x".to_vec())
                    ]
                );
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let all = frame(2, &[7u8; 300]);
        let chunks: Vec<&[u8]> = all.chunks(1).collect();
        let (out, r) = run(&chunks);
        r.unwrap();
        assert_eq!(out, vec![(Stream::Stderr, vec![7u8; 300])]);
    }

    #[test]
    fn daemon_errors_and_bad_headers() {
        let (out, r) = run(&[&frame(1, b"a"), &frame(3, b"boom")]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            r.unwrap_err().to_string(),
            "error from daemon in stream: boom"
        );
        let (_, r) = run(&[&frame(9, b"a")]);
        assert_eq!(r.unwrap_err().to_string(), "Unrecognized input header: 9");
    }
}
