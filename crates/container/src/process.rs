//! The container's process as Docker derives it: Entrypoint/Cmd merging, environment, user.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::AtFlags;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};

/// The `PATH` Docker puts in every Linux container's environment unless the image or the user sets
/// one.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors worded as Docker, the docker CLI or runc word them, since clients show them verbatim.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no command specified")]
    NoCommand,
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("uids and gids must be in range 0-2147483647")]
    IdOutOfRange,
    #[error("unable to find user {user}: {source}")]
    ReadPasswd { user: String, source: io::Error },
    #[error("unable to find groups for spec {user}: {source}")]
    ReadGroup { user: String, source: io::Error },
}

/// A container's Entrypoint and Cmd after Docker's create-time merge with the image's: what inspect
/// shows as `Config.Entrypoint` / `Config.Cmd` (`None` serialises as `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedCommand {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

impl MergedCommand {
    /// The process argv: entrypoint followed by cmd. Never empty (the merge refuses that).
    pub fn argv(&self) -> Vec<String> {
        let mut argv = self.entrypoint.clone().unwrap_or_default();
        argv.extend(self.cmd.iter().flatten().cloned());
        argv
    }
}

/// Docker's Entrypoint/Cmd merge (moby `merge` and `mergeAndVerifyConfig`): the stored pair.
///
/// The API distinguishes three run-time Entrypoint values and so do we:
/// - `None` (JSON `null`/absent): not set; the image's Entrypoint applies, and its Cmd when no cmd
///   is given.
/// - `Some([])` (JSON `[]`): clears the image's Entrypoint but, being empty, still lets the image's
///   Cmd apply when no cmd is given (moby tests `len(Entrypoint) == 0` for the Cmd and `== nil` for
///   the Entrypoint).
/// - `Some([""])`: what `docker run --entrypoint ""` sends. Non-empty, so the image's Entrypoint
///   *and* Cmd are both dropped; afterwards `[""]` is reset to `null`. Any other non-empty
///   Entrypoint likewise drops the image's Cmd.
///
/// A run-time cmd of `None` or `[]` means "not given" (moby tests only its length).
pub fn merge_config_command(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint: Option<&[String]>,
    cmd: Option<&[String]>,
) -> Result<MergedCommand, ProcessError> {
    let mut ep = entrypoint.map(<[String]>::to_vec);
    let mut args = cmd.map(<[String]>::to_vec);
    if ep.as_ref().is_none_or(Vec::is_empty) {
        if args.as_ref().is_none_or(Vec::is_empty) {
            args = image_cmd.map(<[String]>::to_vec);
        }
        if ep.is_none() {
            ep = image_entrypoint.map(<[String]>::to_vec);
        }
    }
    if ep
        .as_deref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        ep = None;
    }
    if ep.as_ref().is_none_or(Vec::is_empty) && args.as_ref().is_none_or(Vec::is_empty) {
        return Err(ProcessError::NoCommand);
    }
    Ok(MergedCommand {
        entrypoint: ep,
        cmd: args,
    })
}

/// The process argv from Docker's Entrypoint/Cmd merge; see [`merge_config_command`] for the rules.
pub fn merge_command(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint: Option<&[String]>,
    cmd: Option<&[String]>,
) -> Result<Vec<String>, ProcessError> {
    merge_config_command(image_entrypoint, image_cmd, entrypoint, cmd).map(|m| m.argv())
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Docker's create-time env merge: what inspect shows as `Config.Env`. The container's entries come
/// first, as given (bare `KEY` included); image entries follow unless the container names the same
/// key.
pub fn merge_config_env(image_env: &[String], container_env: &[String]) -> Vec<String> {
    let user_keys: HashSet<&str> = container_env.iter().map(|e| env_key(e)).collect();
    let mut env = container_env.to_vec();
    env.extend(
        image_env
            .iter()
            .filter(|e| !user_keys.contains(env_key(e)))
            .cloned(),
    );
    env
}

/// The environment the container's process starts with (no TTY); see [`process_env`].
pub fn merge_env(
    image_env: &[String],
    container_env: &[String],
    hostname: &str,
    home: &str,
) -> Vec<String> {
    process_env(
        &merge_config_env(image_env, container_env),
        hostname,
        home,
        false,
    )
}

/// The start-time environment from a stored (already merged) `Config.Env`, reproducing the three
/// places Docker builds it: moby's `CreateDaemonEnvironment` puts `PATH` (default), `HOSTNAME` and,
/// for a TTY, `TERM=xterm` first and lets the config replace or append to them; a bare `KEY` there
/// *unsets* the key (the daemon never resolves it - the docker CLI already substituted any value
/// from the client's environment). runc then keeps the last of duplicate keys and appends `HOME`
/// from the user's passwd entry when it is absent.
///
/// Entries runc refuses (empty name, NUL byte) are dropped here rather than failing the start.
pub fn process_env(config_env: &[String], hostname: &str, home: &str, tty: bool) -> Vec<String> {
    let mut env: Vec<Option<String>> = vec![
        Some(DEFAULT_PATH_ENV.to_string()),
        Some(format!("HOSTNAME={hostname}")),
    ];
    if tty {
        env.push(Some("TERM=xterm".to_string()));
    }
    // Only the defaults are replaceable in place; later config duplicates append, as in moby.
    let defaults: HashMap<String, usize> = env
        .iter()
        .enumerate()
        .map(|(i, e)| (env_key(e.as_deref().unwrap_or_default()).to_string(), i))
        .collect();
    for entry in config_env {
        match entry.split_once('=') {
            None => {
                if let Some(&i) = defaults.get(entry.as_str()) {
                    env[i] = None;
                }
            }
            Some((key, _)) => match defaults.get(key) {
                Some(&i) => env[i] = Some(entry.clone()),
                None => env.push(Some(entry.clone())),
            },
        }
    }

    // runc's dedup: walk backwards so the last occurrence of a key wins and keeps its position.
    let mut seen = HashSet::new();
    let mut out: Vec<String> = env
        .into_iter()
        .flatten()
        .rev()
        .filter(|e| {
            let key = env_key(e);
            !key.is_empty() && !e.contains('\0') && seen.insert(key.to_string())
        })
        .collect();
    out.reverse();
    if !seen.contains("HOME") {
        let home = if home.is_empty() { "/" } else { home };
        out.push(format!("HOME={home}"));
    }
    out
}

/// Go's bufio.Scanner default maximum token size, which bounds passwd lines in runc.
const SCANNER_MAX_TOKEN: usize = 64 * 1024;

/// The identity a container process runs as, resolved against the container's own files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Groups whose member list names the user (only when no group was given, as in runc's
    /// `GetExecUser`). Docker's OCI spec lists `gid` first, then these, then `--group-add` ones.
    pub additional_gids: Vec<u32>,
    /// The passwd home directory, `/` when unknown.
    pub home: String,
}

/// Docker caps ids at MaxInt32 for 32-bit compatibility (moby/sys/user `maxID`).
const MAX_ID: i64 = i32::MAX as i64;
/// A passwd or group file larger than this is refused rather than read into the daemon's memory.
const USER_FILE_LIMIT: u64 = 16 << 20;
/// moby/sys/user lets group lines grow to 1 MiB (long member lists); passwd lines keep the Go
/// default.
const GROUP_LINE_MAX: usize = 1024 * 1024;

struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// Go's `strconv.Atoi`: `None` for text that is not a number, saturating on overflow.
fn atoi(s: &str) -> Option<i64> {
    use std::num::IntErrorKind;
    match s.parse::<i64>() {
        Ok(v) => Some(v),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Some(i64::MAX),
        Err(e) if *e.kind() == IntErrorKind::NegOverflow => Some(i64::MIN),
        Err(_) => None,
    }
}

fn checked_id(id: i64) -> Result<u32, ProcessError> {
    match id {
        0..=MAX_ID => Ok(id as u32),
        _ => Err(ProcessError::IdOutOfRange),
    }
}

/// Read a passwd-style file inside the rootfs. Like Docker, a file that cannot be opened counts as
/// absent.
fn read_user_file(root: &Path, path: &str, max_line: usize) -> io::Result<Option<Vec<String>>> {
    let Ok(file) = open_in_root(root, path) else {
        return Ok(None);
    };
    let mut data = Vec::new();
    file.take(USER_FILE_LIMIT + 1).read_to_end(&mut data)?;
    if data.len() as u64 > USER_FILE_LIMIT {
        return Err(io::Error::other(format!(
            "{path} is larger than {USER_FILE_LIMIT} bytes"
        )));
    }
    let text = String::from_utf8_lossy(&data);
    let mut lines = Vec::new();
    for line in text.split('\n') {
        if line.len() >= max_line {
            return Err(io::Error::other("bufio.Scanner: token too long"));
        }
        let line = line.trim();
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    Ok(Some(lines))
}

fn fields<'a>(line: &'a str) -> impl Fn(usize) -> &'a str + 'a {
    let f: Vec<&str> = line.split(':').collect();
    move |i| f.get(i).copied().unwrap_or_default()
}

/// passwd(5) the way moby/sys/user reads it: missing fields are empty, bad numbers are 0.
fn parse_passwd(lines: &[String]) -> Vec<PasswdEntry> {
    let entry = |line: &String| {
        let f = fields(line);
        let (name, home) = (f(0).to_string(), f(5).to_string());
        let (uid, gid) = (atoi(f(2)).unwrap_or(0), atoi(f(3)).unwrap_or(0));
        PasswdEntry {
            name,
            uid,
            gid,
            home,
        }
    };
    lines.iter().map(entry).collect()
}

/// group(5); unlike passwd, `#` comment lines are skipped.
fn parse_group(lines: &[String]) -> Vec<GroupEntry> {
    let entry = |line: &String| {
        let f = fields(line);
        let members = f(3)
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        let (name, gid) = (f(0).to_string(), atoi(f(2)).unwrap_or(0));
        GroupEntry {
            name,
            gid,
            members: members.collect(),
        }
    };
    lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(entry)
        .collect()
}

/// Resolve a `-u` spec (`""`, `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`)
/// against `<rootfs>/etc/passwd` and `<rootfs>/etc/group` with runc's `GetExecUser` rules: numeric
/// parts are always ids (and need no entry), names must exist, the first matching line wins, an
/// empty spec means uid 0, parts after a second `:` are ignored. Either file may be missing.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, ProcessError> {
    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or_default();
    let group_arg = parts.next().unwrap_or_default();
    // Numeric parts are ids even when a name matches them; out-of-range ones are refused.
    let uid_arg = atoi(user_arg).map(checked_id).transpose()?.map(i64::from);
    let gid_arg = atoi(group_arg).map(checked_id).transpose()?.map(i64::from);

    let passwd = read_user_file(rootfs, "/etc/passwd", SCANNER_MAX_TOKEN).map_err(|source| {
        ProcessError::ReadPasswd {
            user: if user_arg.is_empty() { "0" } else { user_arg }.to_string(),
            source,
        }
    })?;
    let users = passwd.as_deref().map(parse_passwd).unwrap_or_default();
    let matched = users.into_iter().find(|u| match uid_arg {
        _ if user_arg.is_empty() => u.uid == 0,
        Some(id) => u.uid == id,
        None => u.name == user_arg,
    });

    let (uid, mut gid, home, name) = match matched {
        Some(u) => (u.uid, u.gid, u.home, u.name),
        None if !user_arg.is_empty() && uid_arg.is_none() => {
            return Err(ProcessError::UnknownUser(user_arg.to_string()));
        }
        None => (uid_arg.unwrap_or(0), 0, String::new(), String::new()),
    };

    let mut sgids = Vec::new();
    if !group_arg.is_empty() || !name.is_empty() {
        let group = read_user_file(rootfs, "/etc/group", GROUP_LINE_MAX).map_err(|source| {
            ProcessError::ReadGroup {
                user: name.clone(),
                source,
            }
        })?;
        let groups = group.as_deref().map(parse_group).unwrap_or_default();
        if !group_arg.is_empty() {
            let found = groups.iter().find(|g| match gid_arg {
                Some(id) => g.gid == id,
                None => g.name == group_arg,
            });
            gid = match (found, gid_arg) {
                (Some(g), _) => g.gid,
                (None, Some(id)) => id,
                (None, None) => return Err(ProcessError::UnknownGroup(group_arg.to_string())),
            };
        } else {
            sgids = groups
                .iter()
                .filter(|g| g.members.contains(&name))
                .map(|g| g.gid)
                .collect();
        }
    }

    let additional_gids = sgids
        .into_iter()
        .map(checked_id)
        .collect::<Result<_, _>>()?;
    let home = if home.is_empty() { "/".into() } else { home };
    Ok(ResolvedUser {
        uid: checked_id(uid)?,
        gid: checked_id(gid)?,
        additional_gids,
        home,
    })
}

/// Linux's own limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn not_regular(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{path} is not a regular file"),
    )
}

/// Open the regular file `path` inside `root` for reading, as if `root` were `/`.
///
/// Image content is untrusted: `/etc/passwd` may be a symlink to `/etc/shadow` or `../../..`. Every
/// component is looked up with `O_NOFOLLOW` relative to an fd of its directory, symlinks are
/// expanded here (absolute targets restart at `root`), and `..` pops our own stack of directory fds
/// and stops at `root`, so no lookup ever leaves the tree even if it changes underneath us. FIFOs
/// and devices are refused so a hostile image cannot block or feed the daemon forever.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<File> {
    let root_fd = owned(openat(
        None,
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?);
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut pending: VecDeque<String> = path.split('/').map(str::to_string).collect();
    let mut links = 0;

    while let Some(name) = pending.pop_front() {
        match name.as_str() {
            "" | "." => continue,
            ".." => {
                dirs.pop();
                continue;
            }
            _ => {}
        }
        let last = pending.iter().all(|c| c.is_empty() || c == ".");
        let dir = dirs.last().unwrap_or(&root_fd).as_raw_fd();
        let st = fstatat(Some(dir), name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(errno(libc::ELOOP));
                }
                let target = readlinkat(Some(dir), name.as_str())?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    dirs.clear();
                }
                for component in target.split('/').rev() {
                    pending.push_front(component.to_string());
                }
            }
            libc::S_IFDIR => {
                let fd = openat(
                    Some(dir),
                    name.as_str(),
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                dirs.push(owned(fd));
            }
            libc::S_IFREG if last => {
                // O_NONBLOCK: should the entry be swapped for a FIFO after fstatat, open must not
                // block.
                let fd = owned(openat(
                    Some(dir),
                    name.as_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?);
                if fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Err(not_regular(path));
                }
                return Ok(File::from(fd));
            }
            _ if last => return Err(not_regular(path)),
            _ => return Err(errno(libc::ENOTDIR)),
        }
    }
    Err(errno(libc::EISDIR))
}

#[cfg(test)]
mod tests;
