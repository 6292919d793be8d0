//! Docker's confinement, seen from inside a container: masked and read-only paths of /proc,
//! /sys read-only, and what --privileged and --read-only change.

use berth_tests::Daemon;

#[test]
fn masked_and_read_only_paths_as_dockers() {
    let (d, _reg) = Daemon::with_busybox();
    let script = r#"
for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
  [ -e $p ] || continue
  n=$(cat $p 2>/dev/null | wc -c); echo "$p $n"
done
for p in /proc/acpi /proc/scsi /sys/firmware; do
  [ -e $p ] || continue
  echo "$p $(ls $p | wc -l)"
done
echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable
echo x > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable
touch /sys/x 2>/dev/null && echo sys-writable
grep -E ' /(proc/sys|sys) ' /proc/mounts | awk '{print $2, substr($4,1,2)}'
"#;
    for runtime in ["builtin", "runc"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "sh",
                "-c",
                script,
            ])
            .ok();
        for line in out.stdout.lines() {
            let (path, rest) = line.split_once(' ').unwrap();
            match path {
                // Masked: empty files, empty directories, nothing written.
                p if p.starts_with("/proc/k")
                    || p.starts_with("/proc/t")
                    || p.starts_with("/proc/s") && !p.starts_with("/proc/sys")
                    || p.starts_with("/proc/acpi")
                    || p.starts_with("/sys/firmware") =>
                {
                    assert_eq!(rest, "0", "{runtime}: {line}")
                }
                "/proc/sys" | "/sys" => assert_eq!(rest, "ro", "{runtime}: {line}"),
                _ => panic!("{runtime}: {line}"),
            }
        }
        assert!(
            !out.stdout.contains("writable"),
            "{runtime}: {}",
            out.stdout
        );
        assert!(out.stdout.lines().count() >= 5, "{runtime}: {}", out.stdout);
    }
    // --privileged lifts the masks and makes /sys writable.
    let out = d
        .docker(&["run", "--rm", "--privileged", "busybox", "sh", "-c", "grep -E ' /sys ' /proc/mounts | awk '{print substr($4,1,2)}'; [ $(cat /proc/timer_list | wc -c) -gt 0 ] && echo unmasked"])
        .ok();
    assert_eq!(out.stdout, "rw\nunmasked\n");
    // --read-only: the root filesystem is read-only, /dev/shm is not.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "touch /etc/x 2>/dev/null || echo ro; touch /dev/shm/x && echo shm",
        ])
        .ok();
    assert_eq!(out.stdout, "ro\nshm\n");
}
