//! Tests for the state module: transitions, status texts, durations, restart policy and back-off.
use super::*;
use chrono::TimeZone;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

#[test]
fn new_state_json_shape() {
    let json = serde_json::to_value(ContainerState::new_created()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "Status": "created", "Running": false, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"
        })
    );
    let keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "Status",
            "Running",
            "Paused",
            "Restarting",
            "OOMKilled",
            "Dead",
            "Pid",
            "ExitCode",
            "Error",
            "StartedAt",
            "FinishedAt"
        ]
    );
}

#[test]
fn json_round_trip_recomputes_status() {
    let mut s = ContainerState::new_created();
    s.set_running(42, t0() + Duration::nanoseconds(120_000_000));
    let text = serde_json::to_string(&s).unwrap();
    assert!(text.contains(r#""StartedAt":"2024-05-01T12:00:00.12Z""#));
    let back: ContainerState = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s);

    let stale = r#"{"Status":"removing","Running":false,"Dead":false,"StartedAt":"2024-05-01T12:00:00Z","FinishedAt":"2024-05-01T12:00:01Z","ExitCode":3}"#;
    let back: ContainerState = serde_json::from_str(stale).unwrap();
    assert_eq!(back.status, ContainerStatus::Exited);
    assert_eq!(back.exit_code, 3);
}

#[test]
fn timestamps_like_go_rfc3339nano() {
    assert_eq!(format_timestamp(t0()), "2024-05-01T12:00:00Z");
    assert_eq!(
        format_timestamp(t0() + Duration::nanoseconds(123_456_789)),
        "2024-05-01T12:00:00.123456789Z"
    );
    assert_eq!(
        format_timestamp(t0() + Duration::nanoseconds(500)),
        "2024-05-01T12:00:00.0000005Z"
    );
    assert_eq!(format_timestamp(zero_time()), ZERO_TIME);
    assert_eq!(parse_timestamp("garbage"), zero_time());
}

#[test]
fn transitions_and_statuses() {
    let mut s = ContainerState::new_created();
    assert_eq!(s.status, ContainerStatus::Created);
    assert!(!s.is_running());

    s.set_running(100, t0());
    assert_eq!(
        (s.status, s.pid, s.running),
        (ContainerStatus::Running, 100, true)
    );

    s.set_paused(true);
    assert_eq!(s.status, ContainerStatus::Paused);
    assert!(s.is_running() && s.paused);
    s.set_paused(false);
    assert_eq!(s.status, ContainerStatus::Running);

    s.set_exited(137, true, "", t0() + Duration::seconds(5));
    assert_eq!(s.status, ContainerStatus::Exited);
    assert_eq!((s.pid, s.exit_code, s.oom_killed), (0, 137, true));
    assert_eq!(s.finished_at, "2024-05-01T12:00:05Z");

    s.set_restarting();
    assert_eq!(s.status, ContainerStatus::Restarting);
    assert!(s.is_running() && s.restarting);
    assert_eq!(s.exit_code, 137);

    s.set_running(101, t0() + Duration::seconds(6));
    assert!(!s.oom_killed && !s.restarting);
    assert_eq!(s.exit_code, 0);

    // Removal of a running container: still "running" until it exits.
    s.set_removing();
    assert_eq!(s.status, ContainerStatus::Running);
    s.set_exited(0, false, "", t0() + Duration::seconds(7));
    assert_eq!(s.status, ContainerStatus::Removing);
    s.set_dead();
    assert_eq!(s.status, ContainerStatus::Removing);
    s.reset_removing();
    assert_eq!(s.status, ContainerStatus::Dead);
}

#[test]
fn start_failure_records_error() {
    let mut s = ContainerState::new_created();
    s.set_exited(
        127,
        false,
        "exec: \"nope\": executable file not found",
        t0(),
    );
    assert_eq!(s.error, "exec: \"nope\": executable file not found");
    // Never started: Docker still calls this "created".
    assert_eq!(s.status, ContainerStatus::Created);
    s.set_running(5, t0());
    assert!(s.error.is_empty());
}

#[test]
fn status_texts() {
    let now = t0() + Duration::seconds(3);
    let mut s = ContainerState::new_created();
    assert_eq!(status_text(&s, now), "Created");

    s.set_running(1, t0());
    assert_eq!(status_text(&s, now), "Up 3 seconds");
    s.set_paused(true);
    assert_eq!(
        status_text(&s, t0() + Duration::minutes(2)),
        "Up 2 minutes (Paused)"
    );
    s.set_paused(false);

    s.set_exited(1, false, "", t0());
    s.set_restarting();
    assert_eq!(status_text(&s, now), "Restarting (1) 3 seconds ago");

    s.set_exited(0, false, "", t0() - Duration::seconds(2));
    assert_eq!(status_text(&s, now), "Exited (0) 5 seconds ago");

    s.set_removing();
    assert_eq!(status_text(&s, now), "Removal In Progress");
    s.reset_removing();
    s.set_dead();
    assert_eq!(status_text(&s, now), "Dead");

    let mut odd = ContainerState::new_created();
    odd.started_at = format_timestamp(t0());
    assert_eq!(status_text(&odd, now), "");
}

#[test]
fn status_names() {
    for (st, name) in [
        (ContainerStatus::Created, "created"),
        (ContainerStatus::Running, "running"),
        (ContainerStatus::Paused, "paused"),
        (ContainerStatus::Restarting, "restarting"),
        (ContainerStatus::Removing, "removing"),
        (ContainerStatus::Exited, "exited"),
        (ContainerStatus::Dead, "dead"),
    ] {
        assert_eq!(st.as_str(), name);
        assert_eq!(serde_json::to_value(st).unwrap(), name);
        assert_eq!(name.parse::<ContainerStatus>().unwrap(), st);
    }
    assert_eq!(
        "up".parse::<ContainerStatus>().unwrap_err().to_string(),
        "invalid value for state (up): must be one of created, running, paused, restarting, removing, exited, dead"
    );
}

#[test]
fn human_duration_thresholds() {
    let s = Duration::seconds;
    let cases = [
        (Duration::milliseconds(-5000), "Less than a second"),
        (Duration::milliseconds(999), "Less than a second"),
        (s(1), "1 second"),
        (Duration::milliseconds(1999), "1 second"),
        (s(2), "2 seconds"),
        (s(59), "59 seconds"),
        (s(60), "About a minute"),
        (s(119), "About a minute"),
        (s(120), "2 minutes"),
        (s(59 * 60 + 59), "59 minutes"),
        (s(3600), "About an hour"),
        (s(3600 + 29 * 60 + 59), "About an hour"),
        (s(3600 + 30 * 60), "2 hours"),
        (s(47 * 3600 + 29 * 60), "47 hours"),
        (s(47 * 3600 + 30 * 60), "2 days"),
        (s(13 * 86400 + 23 * 3600), "13 days"),
        (s(14 * 86400), "2 weeks"),
        (s(59 * 86400), "8 weeks"),
        (s(60 * 86400), "2 months"),
        (s(729 * 86400), "24 months"),
        (s(730 * 86400), "2 years"),
        (s(5 * 365 * 86400 + 86400), "5 years"),
    ];
    for (d, want) in cases {
        assert_eq!(human_duration(d), want, "for {d:?}");
    }
}

#[test]
fn restart_policy_parse() {
    let p = |name: &str, n| RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: n,
    };
    assert_eq!(RestartPolicy::parse("").unwrap(), p("", 0));
    assert_eq!(RestartPolicy::parse("no").unwrap(), p("no", 0));
    assert_eq!(RestartPolicy::parse("always").unwrap(), p("always", 0));
    assert_eq!(
        RestartPolicy::parse("on-failure:3").unwrap(),
        p("on-failure", 3)
    );
    assert_eq!(
        RestartPolicy::parse("anything:123").unwrap(),
        p("anything", 123)
    );
    assert_eq!(
        RestartPolicy::parse("negative:-1").unwrap(),
        p("negative", -1)
    );
    assert_eq!(
        RestartPolicy::parse(":1").unwrap_err().to_string(),
        "invalid restart policy format: no policy provided before colon"
    );
    for bad in ["always:2:3", "on-failure:x", "unless-stopped:"] {
        let err = RestartPolicy::parse(bad);
        if bad == "unless-stopped:" {
            assert_eq!(err.unwrap(), p("unless-stopped", 0));
        } else {
            assert_eq!(
                err.unwrap_err().to_string(),
                "invalid restart policy format: maximum retry count must be an integer"
            );
        }
    }
    let json = serde_json::to_value(p("on-failure", 2)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
}

#[test]
fn restart_policy_validate() {
    let p = |name: &str, n| RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: n,
    };
    for ok in [
        p("", 0),
        p("", 5),
        p("no", 0),
        p("always", 0),
        p("unless-stopped", 0),
        p("on-failure", 0),
        p("on-failure", 5),
    ] {
        assert_eq!(ok.validate(), Ok(()), "{ok:?}");
    }
    let msg = |r: RestartPolicy| r.validate().unwrap_err().to_string();
    assert_eq!(
        msg(p("always", 3)),
        "invalid restart policy: maximum retry count can only be used with 'on-failure'"
    );
    assert_eq!(
        msg(p("no", -1)),
        "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"
    );
    assert_eq!(
        msg(p("on-failure", -1)),
        "invalid restart policy: maximum retry count cannot be negative"
    );
    assert_eq!(
        msg(p("sometimes", 0)),
        "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
    );
}

#[test]
fn restart_decisions() {
    let p = |name: &str, n| RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: n,
    };
    assert!(!should_restart(&p("", 0), 1, false, 0));
    assert!(!should_restart(&p("no", 0), 1, false, 0));
    assert!(should_restart(&p("always", 0), 0, false, 100));
    assert!(!should_restart(&p("always", 0), 0, true, 0));
    assert!(should_restart(&p("unless-stopped", 0), 0, false, 0));
    assert!(!should_restart(&p("unless-stopped", 0), 1, true, 0));
    assert!(!should_restart(&p("on-failure", 0), 0, false, 0));
    assert!(should_restart(&p("on-failure", 0), 1, false, 1000));
    assert!(should_restart(&p("on-failure", 3), 2, false, 2));
    assert!(!should_restart(&p("on-failure", 3), 2, false, 3));
    assert!(!should_restart(&p("on-failure", 3), 137, true, 0));

    assert!(should_start_on_daemon_start(&p("always", 0), 0, true, 0));
    assert!(!should_start_on_daemon_start(
        &p("unless-stopped", 0),
        0,
        true,
        0
    ));
    assert!(should_start_on_daemon_start(
        &p("unless-stopped", 0),
        0,
        false,
        0
    ));
    assert!(!should_start_on_daemon_start(&p("no", 0), 1, false, 0));
}

#[test]
fn backoff_doubles_caps_and_resets() {
    let ms = StdDuration::from_millis;
    let short = StdDuration::from_secs(1);
    let mut b = Backoff::new();
    let delays: Vec<_> = (0..12).map(|_| b.next_delay(short)).collect();
    assert_eq!(
        &delays[..10],
        &[
            ms(100),
            ms(200),
            ms(400),
            ms(800),
            ms(1600),
            ms(3200),
            ms(6400),
            ms(12800),
            ms(25600),
            ms(51200)
        ]
    );
    assert_eq!(delays[10], StdDuration::from_secs(60));
    assert_eq!(delays[11], StdDuration::from_secs(60));
    assert_eq!(b.next_delay(StdDuration::from_secs(10)), ms(100));
    assert_eq!(b.next_delay(StdDuration::from_millis(9999)), ms(200));
}
