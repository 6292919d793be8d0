//! Tests for the process module: Docker's merge rules, env files, user lookup inside a rootfs.
use super::*;
use std::fs;
use std::os::unix::fs::symlink;

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Mini notation: `-` is null, `[]` an empty array, `''` an empty string, else words.
fn arr(s: &str) -> Option<Vec<String>> {
    match s {
        "-" => None,
        "[]" => Some(vec![]),
        _ => Some(s.split(' ').map(|w| w.replace("''", "")).collect()),
    }
}

#[test]
fn entrypoint_cmd_merge() {
    let cases = [
        ("/entry.sh", "serve", "-", "-", "/entry.sh serve"),
        ("/entry.sh", "serve", "-", "echo hi", "/entry.sh echo hi"),
        ("-", "sh", "-", "ls", "ls"),
        // A run-time entrypoint drops the image's Cmd.
        ("/entry.sh", "serve", "/bin/true", "-", "/bin/true"),
        ("/entry.sh", "serve", "env", "-0", "env -0"),
        // `docker run --entrypoint "" busybox`: both cleared.
        ("-", "sh", "''", "-", "no command specified"),
        ("/entry.sh", "serve", "''", "-", "no command specified"),
        ("/entry.sh", "echo foobar", "''", "echo foo", "echo foo"),
        // `[]` clears the entrypoint yet keeps the image's Cmd; an empty cmd is "not given".
        ("/entry.sh", "serve", "[]", "-", "serve"),
        ("-", "sh", "-", "[]", "sh"),
        ("-", "-", "-", "-", "no command specified"),
        ("''", "-", "-", "-", "no command specified"),
    ];
    for (iep, icmd, ep, cmd, want) in cases {
        let (iep, icmd, ep, cmd) = (arr(iep), arr(icmd), arr(ep), arr(cmd));
        let got = merge_command(
            iep.as_deref(),
            icmd.as_deref(),
            ep.as_deref(),
            cmd.as_deref(),
        )
        .map_or_else(|e| e.to_string(), |argv| argv.join(" "));
        assert_eq!(got, want, "{iep:?} {icmd:?} {ep:?} {cmd:?}");
    }
}

#[test]
fn merged_config_keeps_docker_null_vs_empty() {
    let m = |ep: &str, cmd: &str| {
        let (ep, cmd) = (arr(ep), arr(cmd));
        let (iep, icmd) = (v(&["/e"]), v(&["serve"]));
        merge_config_command(Some(&iep), Some(&icmd), ep.as_deref(), cmd.as_deref()).unwrap()
    };
    assert_eq!(
        m("''", "ls"),
        MergedCommand {
            entrypoint: None,
            cmd: arr("ls")
        }
    );
    assert_eq!(
        m("[]", "-"),
        MergedCommand {
            entrypoint: arr("[]"),
            cmd: arr("serve")
        }
    );
    assert_eq!(
        m("-", "-"),
        MergedCommand {
            entrypoint: arr("/e"),
            cmd: arr("serve")
        }
    );
}

#[test]
fn config_env_puts_container_entries_first() {
    let env = merge_config_env(
        &v(&["PATH=/img", "A=image", "B=image"]),
        &v(&["A=user", "C=user", "B"]),
    );
    assert_eq!(env, v(&["A=user", "C=user", "B", "PATH=/img"]));
    assert_eq!(merge_config_env(&v(&["X=1"]), &[]), v(&["X=1"]));
}

#[test]
fn process_env_order_and_overrides() {
    let env = merge_env(&[], &[], "abc123", "/root");
    assert_eq!(env, v(&[DEFAULT_PATH_ENV, "HOSTNAME=abc123", "HOME=/root"]));
    assert_eq!(merge_env(&[], &[], "h", "").last().unwrap(), "HOME=/");

    let image = v(&["PATH=/image/bin", "LANG=C", "HOME=/home/img"]);
    let user = v(&["FOO=bar", "LANG=en_US.UTF-8", "HOSTNAME=custom"]);
    let want = [
        "PATH=/image/bin",
        "HOSTNAME=custom",
        "FOO=bar",
        "LANG=en_US.UTF-8",
        "HOME=/home/img",
    ];
    assert_eq!(merge_env(&image, &user, "abc", "/root"), v(&want));

    // A bare KEY suppresses the image's value and removes a daemon default.
    let env = merge_env(&v(&["SECRET=img"]), &v(&["SECRET", "PATH"]), "h", "/root");
    assert_eq!(env, v(&["HOSTNAME=h", "HOME=/root"]));

    // Duplicates: the last wins, in its own position (runc); TTY adds TERM after HOSTNAME.
    let env = process_env(&v(&["A=1", "B=2", "A=3"]), "h", "/", true);
    assert_eq!(
        env,
        v(&[
            DEFAULT_PATH_ENV,
            "HOSTNAME=h",
            "TERM=xterm",
            "B=2",
            "A=3",
            "HOME=/"
        ])
    );

    let env = process_env(&v(&["=x", "A=\0", "OK=1"]), "h", "/", false);
    assert_eq!(env, v(&[DEFAULT_PATH_ENV, "HOSTNAME=h", "OK=1", "HOME=/"]));
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
    app:x:1000:1000:App:/home/app:/bin/sh\n\
    nohome:x:1001:1001::\n";
const GROUP: &str =
    "root:x:0:root\n# comment\ndaemon:x:1:\nwheel:x:10:root,app\napp:x:1000:\naudio:x:29:app\n";

fn rootfs(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    if let Some(p) = passwd {
        fs::write(dir.path().join("etc/passwd"), p).unwrap();
    }
    if let Some(g) = group {
        fs::write(dir.path().join("etc/group"), g).unwrap();
    }
    dir
}

/// `uid:gid:[sgids]:home` or the error text, to keep expectation tables one line per case.
fn resolved(root: &Path, spec: &str) -> String {
    match resolve_user(root, spec) {
        Ok(u) => format!("{}:{}:{:?}:{}", u.uid, u.gid, u.additional_gids, u.home),
        Err(e) => e.to_string(),
    }
}

#[test]
fn resolve_user_specs() {
    let fs = rootfs(Some(PASSWD), Some(GROUP));
    let cases = [
        ("", "0:0:[0, 10]:/root"),
        ("root", "0:0:[0, 10]:/root"),
        ("app", "1000:1000:[10, 29]:/home/app"),
        ("1000", "1000:1000:[10, 29]:/home/app"),
        ("app:daemon", "1000:1:[]:/home/app"),
        ("1000:29", "1000:29:[]:/home/app"),
        ("app:4242", "1000:4242:[]:/home/app"),
        ("4242", "4242:0:[]:/"),
        ("4242:wheel", "4242:10:[]:/"),
        ("nohome", "1001:1001:[]:/"),
        ("daemon:1:ignored", "1:1:[]:/usr/sbin"),
        (
            "nobody",
            "unable to find user nobody: no matching entries in passwd file",
        ),
        (
            "app:staff",
            "unable to find group staff: no matching entries in group file",
        ),
        ("-1", "uids and gids must be in range 0-2147483647"),
        ("2147483648", "uids and gids must be in range 0-2147483647"),
        (
            "0:99999999999999999999999",
            "uids and gids must be in range 0-2147483647",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(resolved(fs.path(), spec), want, "spec {spec:?}");
    }
    let long = format!("{}:x:5:5::/:/bin/sh\n", "a".repeat(SCANNER_MAX_TOKEN));
    let fs = rootfs(Some(&long), None);
    assert_eq!(
        resolved(fs.path(), "5"),
        "unable to find user 5: bufio.Scanner: token too long"
    );
}

#[test]
fn resolve_user_with_missing_files() {
    let fs = rootfs(None, None);
    assert_eq!(resolved(fs.path(), ""), "0:0:[]:/");
    assert_eq!(resolved(fs.path(), "1234:55"), "1234:55:[]:/");
    assert_eq!(
        resolved(fs.path(), "app"),
        "unable to find user app: no matching entries in passwd file"
    );
    assert_eq!(
        resolved(fs.path(), "0:staff"),
        "unable to find group staff: no matching entries in group file"
    );
    let no_etc = tempfile::tempdir().unwrap();
    assert_eq!(resolved(no_etc.path(), "7"), "7:0:[]:/");
    let no_group = rootfs(Some(PASSWD), None);
    assert_eq!(resolved(no_group.path(), "app"), "1000:1000:[]:/home/app");
}

#[test]
fn symlink_cannot_escape_rootfs() {
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("shadow");
    fs::write(&secret, "evil:x:4242:4242::/evil:/bin/sh\n").unwrap();
    let unknown = "unable to find user evil: no matching entries in passwd file";

    let fs_abs = rootfs(None, None);
    symlink(&secret, fs_abs.path().join("etc/passwd")).unwrap();
    assert_eq!(resolved(fs_abs.path(), "evil"), unknown);

    let depth = fs_abs.path().components().count() + 2;
    let relative = format!("{}{}", "../".repeat(depth), secret.display());
    let fs_rel = rootfs(None, None);
    symlink(&relative, fs_rel.path().join("etc/passwd")).unwrap();
    assert_eq!(resolved(fs_rel.path(), "evil"), unknown);
    assert!(open_in_root(fs_rel.path(), "/etc/passwd").is_err());

    // A directory symlink to the host's directory is clamped the same way.
    let fs_dir = tempfile::tempdir().unwrap();
    symlink(host.path(), fs_dir.path().join("etc")).unwrap();
    assert!(open_in_root(fs_dir.path(), "/etc/shadow").is_err());
}

#[test]
fn symlinks_inside_rootfs_resolve_against_it() {
    let fs = rootfs(None, Some(GROUP));
    fs::create_dir_all(fs.path().join("usr/lib")).unwrap();
    fs::write(fs.path().join("usr/lib/passwd"), PASSWD).unwrap();
    // An absolute target means <rootfs>/usr/lib/passwd, not the host's.
    symlink("/usr/lib/passwd", fs.path().join("etc/passwd")).unwrap();
    assert_eq!(resolved(fs.path(), "app"), "1000:1000:[10, 29]:/home/app");
    // `..` beyond the root stays at the root.
    symlink("../../../../../usr/lib/passwd", fs.path().join("etc/p2")).unwrap();
    let mut s = String::new();
    open_in_root(fs.path(), "etc/p2")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, PASSWD);
    assert!(open_in_root(fs.path(), "/../../etc/../usr/./lib/passwd").is_ok());
}

#[test]
fn loops_fifos_and_directories_are_refused() {
    let fs = rootfs(None, None);
    symlink("passwd", fs.path().join("etc/passwd")).unwrap();
    let os_err = |path: &str| open_in_root(fs.path(), path).unwrap_err().raw_os_error();
    assert_eq!(os_err("/etc/passwd"), Some(libc::ELOOP));
    assert_eq!(resolved(fs.path(), "0"), "0:0:[]:/");

    // Opening a FIFO for reading would block the daemon until a writer appears.
    nix::unistd::mkfifo(
        &fs.path().join("etc/group"),
        Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert!(open_in_root(fs.path(), "/etc/group").is_err());
    assert_eq!(resolved(fs.path(), "0:0"), "0:0:[]:/");

    assert_eq!(os_err("/etc"), Some(libc::EISDIR));
    fs::write(fs.path().join("file"), "x").unwrap();
    assert_eq!(os_err("/file/passwd"), Some(libc::ENOTDIR));
}
