//! The client's terminal: whether stdin/stdout are terminals, the window size sent with
//! `ConsoleSize` and resize calls, raw mode for `-it` sessions, and the detach key sequence.

use std::io;

/// The standard descriptors, by their usual names.
pub const STDIN: i32 = 0;
pub const STDOUT: i32 = 1;
pub const STDERR: i32 = 2;

/// Whether `fd` is a terminal (decides raw mode, sizes, progress bars and the TTY check).
pub fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// (height, width) of the terminal on `fd`; (0, 0) when it is not a terminal, as the docker
/// CLI reports it.
pub fn size(fd: i32) -> (u16, u16) {
    if !is_terminal(fd) {
        return (0, 0);
    }
    // SAFETY: TIOCGWINSZ fills a zeroed winsize we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return (0, 0);
    }
    (ws.ws_row, ws.ws_col)
}

/// A terminal in raw mode; the saved settings are put back when this is dropped, which also
/// happens on every error path and while unwinding from a panic.
pub struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode as moby's `term.MakeRaw`: no echo, no line editing, no signals from keys, no
    /// output processing, 8-bit characters, reads return after one byte.
    pub fn enable(fd: i32) -> io::Result<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on a descriptor with termios structs we own.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            raw.c_iflag &= !(libc::IGNBRK
                | libc::BRKINT
                | libc::PARMRK
                | libc::ISTRIP
                | libc::INLCR
                | libc::IGNCR
                | libc::ICRNL
                | libc::IXON);
            raw.c_oflag &= !libc::OPOST;
            raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
            raw.c_cflag &= !(libc::CSIZE | libc::PARENB);
            raw.c_cflag |= libc::CS8;
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings saved by `enable` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// The default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// Parses `--detach-keys` as moby's `term.ToBytes`: comma-separated single characters,
/// `ctrl-<c>` for `<c>` in `@a-z[\]^_`, or `DEL`.
pub fn detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    const CTRL: &str = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
    let mut codes = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let ctrl = key
            .strip_prefix("ctrl-")
            .filter(|c| c.len() == 1)
            .and_then(|c| CTRL.find(c));
        match ctrl {
            Some(code) => codes.push(code as u8),
            None if key == "DEL" => codes.push(127),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(codes)
}

/// Watches keyboard input for the detach sequence. Bytes that might start the sequence are
/// held back until it is clear whether they do, then released, so the container never sees a
/// completed sequence and sees every other byte unchanged and in order.
#[derive(Debug)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Returns the bytes to forward now, and whether the sequence was completed (in which case
    /// everything after it is dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        let mut out = Vec::with_capacity(input.len() + self.matched);
        for &b in input {
            if b != self.keys[self.matched] && self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detach_keys_like_moby() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(detach_keys("a"), Ok(vec![b'a']));
        assert_eq!(detach_keys("ctrl-a,x,DEL"), Ok(vec![1, b'x', 127]));
        assert_eq!(detach_keys("ctrl-@,ctrl-_"), Ok(vec![0, 31]));
        assert_eq!(
            detach_keys("ctrl-"),
            Err("Unknown character: 'ctrl-'".into())
        );
        assert_eq!(detach_keys("foo"), Err("Unknown character: 'foo'".into()));
        assert_eq!(detach_keys(""), Err("Unknown character: ''".into()));
    }

    #[test]
    fn matches_across_reads() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(b"\x11rest"), (vec![], true));

        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"\x10"), (vec![], false));
        // Not the sequence after all: the held byte is released before the new one.
        assert_eq!(m.feed(b"x"), (b"\x10x".to_vec(), false));

        let mut m = DetachMatcher::new(vec![16, 17]);
        // A repeated first key restarts the match.
        assert_eq!(m.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(m.feed(b"\x11"), (vec![], true));

        let mut m = DetachMatcher::new(vec![1, 2, 3]);
        assert_eq!(m.feed(b"\x01\x02"), (vec![], false));
        assert_eq!(m.feed(b"\x01\x02\x03"), (b"\x01\x02".to_vec(), true));

        let mut m = DetachMatcher::new(vec![b'q']);
        assert_eq!(m.feed(b"abqcd"), (b"ab".to_vec(), true));
    }
}
