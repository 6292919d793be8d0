use std::collections::HashMap;

use super::*;

struct Fixture(HashMap<PathBuf, &'static str>);

impl CgroupFiles for Fixture {
    fn read(&self, path: &Path) -> Option<String> {
        self.0.get(path).map(|s| s.to_string())
    }
}

fn fixture(files: &[(&str, &'static str)]) -> Fixture {
    Fixture(files.iter().map(|(p, c)| (PathBuf::from(p), *c)).collect())
}

#[test]
fn cgroup_v1_files() {
    let f = fixture(&[
        ("/cg/cpuacct/berth/c1/cpuacct.usage", "5000000000\n"),
        (
            "/cg/cpuacct/berth/c1/cpuacct.usage_percpu",
            "3000000000 2000000000 \n",
        ),
        (
            "/cg/cpuacct/berth/c1/cpuacct.stat",
            "user 300\nsystem 100\n",
        ),
        (
            "/cg/cpu/berth/c1/cpu.stat",
            "nr_periods 10\nnr_throttled 2\nthrottled_time 777\n",
        ),
        ("/cg/memory/berth/c1/memory.usage_in_bytes", "10485760\n"),
        (
            "/cg/memory/berth/c1/memory.max_usage_in_bytes",
            "20971520\n",
        ),
        (
            "/cg/memory/berth/c1/memory.limit_in_bytes",
            "9223372036854771712\n",
        ),
        (
            "/cg/memory/berth/c1/memory.stat",
            "cache 4096\nrss 8192\ntotal_inactive_file 4096\n",
        ),
        ("/cg/pids/berth/c1/pids.current", "3\n"),
        ("/cg/pids/berth/c1/pids.max", "max\n"),
        (
            "/cg/blkio/berth/c1/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n",
        ),
    ]);
    let s = read(&f, Path::new("/cg"), CgroupVersion::V1, "/berth/c1");
    assert_eq!(s.cpu.total_usage, 5_000_000_000);
    assert_eq!(s.cpu.percpu_usage, Some(vec![3_000_000_000, 2_000_000_000]));
    let tick = 1_000_000_000 / clock_ticks();
    assert_eq!(
        (s.cpu.usage_in_usermode, s.cpu.usage_in_kernelmode),
        (300 * tick, 100 * tick)
    );
    assert_eq!(s.throttling.throttled_periods, 2);
    assert_eq!(
        (s.memory_usage, s.memory_max_usage),
        (10_485_760, Some(20_971_520))
    );
    assert_eq!(s.memory_limit, None, "the v1 'unlimited' is no limit");
    assert_eq!(s.memory_stats["total_inactive_file"], 4096);
    assert_eq!((s.pids_current, s.pids_limit), (3, None));
    assert_eq!(s.io_service_bytes.len(), 2);
    assert_eq!(
        s.io_service_bytes[1],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "Write".into(),
            value: 8192
        }
    );
}

#[test]
fn cgroup_v2_files() {
    let f = fixture(&[
        ("/cg/berth/c1/cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9\n"),
        ("/cg/berth/c1/memory.current", "1048576\n"),
        ("/cg/berth/c1/memory.max", "67108864\n"),
        ("/cg/berth/c1/memory.stat", "anon 4096\ninactive_file 512\n"),
        ("/cg/berth/c1/pids.current", "2\n"),
        ("/cg/berth/c1/pids.max", "100\n"),
        ("/cg/berth/c1/io.stat", "254:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"),
    ]);
    let s = read(&f, Path::new("/cg"), CgroupVersion::V2, "/berth/c1");
    assert_eq!(s.cpu.total_usage, 2_000_000);
    assert_eq!(s.cpu.percpu_usage, None);
    assert_eq!(s.throttling.throttled_time, 9000);
    assert_eq!(
        (s.memory_usage, s.memory_limit),
        (1_048_576, Some(67_108_864))
    );
    assert_eq!((s.pids_current, s.pids_limit), (2, Some(100)));
    assert_eq!(s.io_service_bytes.len(), 2);
    assert_eq!(s.io_serviced[1].value, 2);
    // A cgroup that is gone reads as zeros.
    let empty = read(
        &fixture(&[]),
        Path::new("/cg"),
        CgroupVersion::V2,
        "/berth/gone",
    );
    assert_eq!(empty, CgroupStats::default());
}

#[test]
fn host_cpu_and_interfaces() {
    let stat = "cpu  100 0 50 1000 10 0 5 0 0 0\ncpu0 50 0 25 500 5 0 2 0 0 0\n";
    assert_eq!(
        system_cpu_usage(stat),
        1165 * (1_000_000_000 / clock_ticks())
    );
    let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
    let n = net_dev(dev);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n["eth0"],
        InterfaceStats {
            rx_bytes: 2000,
            rx_packets: 20,
            rx_errors: 1,
            rx_dropped: 2,
            tx_bytes: 3000,
            tx_packets: 30,
            tx_errors: 3,
            tx_dropped: 4
        }
    );
}
