//! The `azimuth policy` commands, run as a user runs them.

use crate::support::{azimuth, policy, show};

#[test]
fn default_policy_passes_every_scenario_in_tests_scenarios() {
    let out = azimuth(&["policy", "test", "tests/scenarios"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.contains("17 passed, 0 failed"), "{}", show(&out));
}

#[test]
fn policy_test_prints_a_readable_diff_and_exits_1_on_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("lowest-latency.wasm");
    std::fs::write(&component, policy("lowest-latency", &[])).unwrap();
    let out = azimuth(&[
        "policy",
        "test",
        "--policy",
        component.to_str().unwrap(),
        "tests/scenarios",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout.contains("FAIL tests/scenarios/14-hash-order-kept-within-tiers.json"),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains("order:            expected [a3, a1, a2, b2, b1, ufs]"),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains("                  actual   [a1, a3, a2, b1, b2, ufs]"),
        "{}",
        show(&out)
    );
    assert!(stdout.contains("13 passed, 4 failed"), "{}", show(&out));
}

#[test]
fn policy_eval_prints_the_decision_as_json_with_names() {
    let out = azimuth(&[
        "policy",
        "eval",
        "--scenario",
        "examples/scenarios/prefer-cached-remote.json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(decision["order"], serde_json::json!(["b1", "a1", "ufs"]));
    assert_eq!(decision["passive_cache_to"], "a1");
    assert_eq!(decision["policy"], "embedded:default");
    assert_eq!(decision["fallback"], serde_json::Value::Null);
}

#[test]
fn policy_eval_names_the_file_and_position_of_a_bad_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("typo.json");
    std::fs::write(
        &scenario,
        "{\"client_cluster\": \"a\",\n \"candidates\": [{\"worker\": \"a1\", \"cluster\": \"a\", \"cache\": \"ful\"}]}",
    )
    .unwrap();
    let out = azimuth(&["policy", "eval", "--scenario", scenario.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr.contains("typo.json"), "{}", show(&out));
    assert!(stderr.contains("unknown variant `ful`"), "{}", show(&out));
    assert!(stderr.contains("line 2"), "{}", show(&out));
}

#[test]
fn policy_eval_rejects_a_scenario_naming_a_worker_twice() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("twice.json");
    std::fs::write(
        &scenario,
        r#"{"client_cluster": "a", "candidates": [{"worker": "a1", "cluster": "a"}, {"worker": "a1", "cluster": "b"}]}"#,
    )
    .unwrap();
    let out = azimuth(&["policy", "eval", "--scenario", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("candidates[1]: worker `a1` is listed twice"),
        "{}",
        show(&out)
    );
}

#[test]
fn policy_build_then_check_prints_world_size_sha256_and_call_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("ll.wasm");
    let out = azimuth(&[
        "policy",
        "build",
        "policies/lowest-latency",
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let bytes = std::fs::read(&output).unwrap();
    let sha = azimuth_policy::sha256_hex(&bytes);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&sha),
        "{}",
        show(&out)
    );

    let out = azimuth(&["policy", "check", output.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout.contains("world:   azimuth:policy/policy@0.1.0"),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains("exports: azimuth:policy/routing@0.1.0"),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains(&format!("size:    {} bytes", bytes.len())),
        "{}",
        show(&out)
    );
    assert!(
        stdout.contains(&format!("sha256:  {sha}")),
        "{}",
        show(&out)
    );
    assert!(stdout.contains("calls:   direct"), "{}", show(&out));
}

/// Runs `policy check` on `bytes` and checks it exits 1 saying `reason`.
fn check_refuses(bytes: &[u8], reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.wasm");
    std::fs::write(&file, bytes).unwrap();
    let out = azimuth(&["policy", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(reason),
        "{}",
        show(&out)
    );
}

#[test]
fn policy_check_refuses_a_component_that_imports_and_names_the_import() {
    check_refuses(&policy("test-imports", &[]), "imports `log`");
}

#[test]
fn policy_check_refuses_a_policy_that_traps_when_asked() {
    check_refuses(&policy("misbehaving", &["trap"]), "trapped");
}

#[test]
fn policy_check_refuses_a_file_that_is_not_a_component() {
    check_refuses(b"not wasm at all", "not a valid policy component");
}

#[test]
fn policy_build_names_a_directory_without_cargo_toml() {
    let out = azimuth(&["policy", "build", "wit"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("wit is not a crate directory: it has no Cargo.toml"),
        "{}",
        show(&out)
    );
}
