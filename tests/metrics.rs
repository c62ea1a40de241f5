//! `/metrics`, `/health` and `/ready` on a live pipeline, checked by Prometheus's own tools:
//! `promtool check metrics` on the exposition, and a Prometheus server scraping it.

use std::process::{Command, Stdio};

use crate::support::{Killed, free_addr, http_get, peers_required, root, runnel_bin, wait_for};

fn have(tool: &str) -> bool {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success());
    assert!(found || !peers_required(), "{tool} is missing; scripts/test.sh installs it");
    if !found {
        eprintln!("skipping: {tool} is not installed (run scripts/test.sh)");
    }
    found
}

fn start_runnel() -> (Killed, std::net::SocketAddr) {
    let addr = free_addr();
    let child = Command::new(runnel_bin())
        .args(["run", "--metrics-addr", &addr.to_string(), root().join("pipelines/quickstart.toml").to_str().expect("utf-8")])
        .env("QUICKSTART_COUNT", "100000000")
        .env("QUICKSTART_RATE", "500.0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let child = Killed(child);
    wait_for("/ready", 30, || http_get(addr, "/ready").filter(|(s, _)| *s == 200));
    (child, addr)
}

#[test]
fn the_live_exposition_passes_promtool_and_has_every_family() {
    let (_runnel, addr) = start_runnel();
    assert_eq!(http_get(addr, "/health"), Some((200, "{\"ok\":true}".to_owned())));
    let body = wait_for("acknowledgements to be counted", 30, || {
        http_get(addr, "/metrics").map(|(_, b)| b).filter(|b| b.contains("runnel_source_acknowledgements_total{node=\"chat\",status=\"delivered\"}"))
    });
    for family in [
        "runnel_node_received_messages_total",
        "runnel_node_received_bytes_total",
        "runnel_node_sent_messages_total",
        "runnel_node_sent_bytes_total",
        "runnel_node_errors_total",
        "runnel_node_dropped_messages_total",
        "runnel_node_batch_duration_seconds_bucket",
        "runnel_edge_queued_messages",
        "runnel_ack_latency_seconds_bucket",
    ] {
        assert!(body.contains(family), "{family} missing from:\n{body}");
    }
    crate::support::assert_promtool_accepts(&body);
}

#[test]
fn a_prometheus_server_scrapes_the_pipeline() {
    if !have("prometheus") {
        return;
    }
    let (_runnel, addr) = start_runnel();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: runnel\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .expect("writes");
    let web = free_addr();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let query = "/api/v1/query?query=runnel_node_received_messages_total%7Bnode%3D%22console%22%7D";
    let body = wait_for("Prometheus to have scraped runnel", 60, || http_get(web, query).map(|(_, b)| b).filter(|b| b.contains("\"result\":[{")));
    let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let value = parsed["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).expect("a sample");
    assert!(value > 0.0, "the sink had received {value} messages");
}
