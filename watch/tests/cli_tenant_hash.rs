//! `heartbeat-watch tenant-hash`: on-call's way from a customer id to its series when emitters
//! hash tenant ids. Its output must be the vectors computed with OpenSSL
//! (`core/tests/data/tenant_hash_vectors.json`), which the SDK and the browser build are tested
//! against too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_heartbeat-watch");
const VAR: &str = "HEARTBEAT_TENANT_HASH_SALT";

fn run(args: &[&str], env_salt: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("tenant-hash").args(args).env_remove(VAR);
    if let Some(salt) = env_salt {
        cmd.env(VAR, salt);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn vectors() -> Vec<(String, String, String)> {
    let file: serde_json::Value = serde_json::from_str(include_str!(
        "../../core/tests/data/tenant_hash_vectors.json"
    ))
    .unwrap();
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (s("salt"), s("tenant"), s("wire"))
        })
        .collect()
}

#[test]
fn prints_the_vector_value_and_the_id_for_each_id() {
    let vectors = vectors();
    assert!(vectors.len() >= 10);
    for (salt, tenant, wire) in &vectors {
        let out = run(&["--salt", salt, tenant], None);
        assert_eq!(stdout(&out), format!("{wire}\t{tenant}\n"), "{salt:?}");
    }
    // Several ids at once, in order.
    let out = run(&["--salt", "s3cret-salt", "acme", "globex"], None);
    assert_eq!(
        stdout(&out),
        "h-6614d812eeab4e05\tacme\nh-3d220ee51154278b\tglobex\n"
    );
}

#[test]
fn the_salt_can_come_from_the_environment_and_the_flag_wins() {
    let out = run(&["acme"], Some("s3cret-salt"));
    assert_eq!(stdout(&out), "h-6614d812eeab4e05\tacme\n");
    let out = run(&["--salt", "other-salt", "acme"], Some("s3cret-salt"));
    assert_eq!(stdout(&out), "h-428c8e9545cfb2a4\tacme\n");
}

#[test]
fn invalid_ids_print_overflow_and_say_why() {
    let out = run(&["--salt", "s3cret-salt", "", "a\tb", "_overflow"], None);
    assert_eq!(
        stdout(&out),
        "_overflow\t\n_overflow\ta\\tb\n_overflow\t_overflow\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("is not a valid tenant id").count(), 3, "{err}");
}

#[test]
fn a_missing_or_bad_salt_fails_without_showing_it() {
    let out = run(&["acme"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("give the salt with --salt, or set HEARTBEAT_TENANT_HASH_SALT"),
    );
    let out = run(&["acme"], Some(""));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("invalid tenant hashing salt \"\": it is empty")
    );
    let long = "topsecret".repeat(40);
    let out = run(&["--salt", &long, "acme"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it is longer than 255 bytes"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    assert!(out.stdout.is_empty());
}
