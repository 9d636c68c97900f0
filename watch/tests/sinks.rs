//! Sinks as their vendors define them, routing, HTTPS and actions.
//!
//! - A real `serve` process pages PagerDuty (Events API v2), Opsgenie (alert API), Slack
//!   (incoming webhook) and an incident webhook, stood in for by local servers that check the
//!   fields each vendor's documentation requires; credentials come from the environment and are
//!   never printed; `[[route]]` sends pages and tickets to different sinks.
//! - HTTPS: a webhook behind a certificate of a private CA is delivered with `ca_file` and
//!   refused (and retried) without it.
//! - Actions: a rollback that fails is recorded on the alert and not retried; the rate guard
//!   skips what is over `max_actions_per_hour`, saying so; a dry run changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use heartbeat_watch::{Alert, AlertStatus, ManualClock, Watch};
use support::{
    BIN, Guard, Payload, Received, Recorder, T0, bounded, manual_watch, rule_file, second,
};

fn emitter(addr: &str, service: &str) -> Guard {
    Guard(
        Command::new(BIN)
            .args([
                "emit",
                "--endpoint",
                &format!("http://{addr}"),
                "--service",
                service,
                "--emitter",
                "main",
                "--cadence",
                "1s",
                "--export-interval",
                "1s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn vendor_sinks_get_what_their_apis_require_and_routes_split_pages_from_tickets() {
    const PD_KEY: &str = "R0UT1NGKEY-test-0123456789abcdef";
    const OG_KEY: &str = "0p5gen1e-key-test";
    let hook = Recorder::start_answering(0, |r| {
        if r.path == "/pd" {
            (
                202,
                "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"x\"}"
                    .to_owned(),
            )
        } else if r.path.starts_with("/og/") {
            (
                202,
                "{\"result\":\"Request will be processed\",\"requestId\":\"r\"}".to_owned(),
            )
        } else {
            (200, "ok".to_owned())
        }
    });
    let db = support::temp_path("vendors");
    let addr = &hook.addr;
    let rules = rule_file(
        "vendors",
        &format!(
            r#"[watch]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
tick = "1s"
database = "{}"

[[deadman]]
name = "api"
service = "api-svc"
emitter = "main"
window = "3s"
min_beats = 2
max_silence = "3s"
severity = "page"
runbook_url = "https://runbooks.example/api-down"
sop = "1. Check the deploy.\n2. Roll back."

[[deadman]]
name = "worker"
service = "worker-svc"
emitter = "main"
window = "3s"
min_beats = 2
max_silence = "3s"
severity = "ticket"

[[alert]]
name = "pagerduty"
format = "pagerduty"
webhook = "http://{addr}/pd"
credential_env = "TEST_PD_KEY"

[[alert]]
name = "slack"
format = "slack"
webhook = "http://{addr}/slack"

[[alert]]
name = "opsgenie"
format = "opsgenie"
webhook = "http://{addr}/og"
credential_env = "TEST_OG_KEY"

[[alert]]
name = "incident"
format = "incident"
webhook = "http://{addr}/incident"

[[route]]
match = {{ severity = "page" }}
sinks = ["pagerduty", "slack"]

[[route]]
sinks = ["opsgenie", "incident"]
"#,
            db.display()
        ),
    );
    let (_watch, waddr) =
        support::serve_with_env(&rules, &[("TEST_PD_KEY", PD_KEY), ("TEST_OG_KEY", OG_KEY)]);
    let mut api = emitter(&waddr, "api-svc");
    let mut worker = emitter(&waddr, "worker-svc");
    std::thread::sleep(Duration::from_secs(5));
    api.0.kill().unwrap();
    worker.0.kill().unwrap();
    let by = |p: &'static str| move |r: &Received| r.path.starts_with(p);
    for p in ["/pd", "/slack", "/og/", "/incident"] {
        hook.wait_for(Duration::from_secs(20), by(p))
            .unwrap_or_else(|| panic!("nothing at {p}: {:#?}", hook.received()));
    }
    // Resolve both: the beats come back.
    let _api = emitter(&waddr, "api-svc");
    let _worker = emitter(&waddr, "worker-svc");
    hook.wait_for(Duration::from_secs(20), |r| r.path.contains("/close"))
        .expect("Opsgenie close");
    hook.wait_for(Duration::from_secs(20), |r| {
        r.path == "/pd" && r.json()["event_action"] == "resolve"
    })
    .expect("PagerDuty resolve");
    std::thread::sleep(Duration::from_secs(2));
    let got = hook.received();

    // PagerDuty (Events API v2): the page only; routing key in the body; trigger then resolve
    // with one dedup_key.
    let pd: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| r.path == "/pd")
        .map(Received::json)
        .collect();
    assert_eq!(pd.len(), 2, "{pd:#?}");
    let (trigger, resolve) = (&pd[0], &pd[1]);
    assert_eq!(trigger["routing_key"], PD_KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("api-svc")
    );
    assert!(!trigger["payload"]["source"].as_str().unwrap().is_empty());
    assert_eq!(
        trigger["links"][0]["href"],
        "https://runbooks.example/api-down"
    );
    assert_eq!(
        trigger["payload"]["custom_details"]["sop"],
        "1. Check the deploy.\n2. Roll back."
    );
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    assert_eq!(
        trigger["payload"]["custom_details"]["rule"], "api",
        "only the page"
    );

    // Slack: the page only, readable blocks with the runbook.
    let slack: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| r.path == "/slack")
        .map(Received::json)
        .collect();
    assert!(!slack.is_empty());
    assert!(slack[0]["text"].as_str().unwrap().contains("api"));
    assert!(
        slack[0]["blocks"]
            .to_string()
            .contains("https://runbooks.example/api-down")
    );
    assert!(
        slack.iter().all(|s| !s.to_string().contains("worker-svc")),
        "tickets go elsewhere"
    );

    // Opsgenie: the ticket only; create with a GenieKey header and an alias, then close by alias.
    let og: Vec<&Received> = got.iter().filter(|r| r.path.starts_with("/og/")).collect();
    assert_eq!(og[0].path, "/og/v2/alerts");
    assert_eq!(
        og[0].header("authorization"),
        Some(&*format!("GenieKey {OG_KEY}"))
    );
    let create = og[0].json();
    assert!(!create["message"].as_str().unwrap().is_empty());
    assert!(create["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(create["priority"], "P3");
    let alias = create["alias"].as_str().unwrap();
    assert!(alias.starts_with("worker@"), "{alias}");
    assert!(
        og.iter().any(|r| r.path.starts_with("/og/v2/alerts/worker")
            && r.path.ends_with("/close?identifierType=alias")),
        "{og:#?}"
    );

    // The incident webhook: the ticket, open then resolve.
    let inc: Vec<serde_json::Value> = got
        .iter()
        .filter(|r| r.path == "/incident")
        .map(Received::json)
        .collect();
    assert_eq!(inc[0]["event"], "open");
    assert_eq!(inc[0]["alert"]["rule"], "worker");
    assert!(inc.iter().any(|i| i["event"] == "resolve"));

    // No credential anywhere it should not be.
    for r in &got {
        if r.path != "/pd" {
            assert!(
                !r.body.contains(PD_KEY),
                "PagerDuty key leaked to {}",
                r.path
            );
        }
        assert!(
            !r.body.contains(OG_KEY),
            "Opsgenie key in a body at {}",
            r.path
        );
    }
}

#[test]
fn a_missing_credential_is_a_start_error_naming_the_variable() {
    let db = support::temp_path("nocred");
    let rules = rule_file(
        "nocred",
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n[[alert]]\nname = \"pd\"\nformat = \"pagerduty\"\ncredential_env = \"HEARTBEAT_TEST_UNSET_KEY\"\n",
            db.display()
        ),
    );
    let out = Command::new(BIN)
        .args(["serve", "--quiet", "--rules"])
        .arg(&rules)
        .env_remove("HEARTBEAT_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "alert sink \"pd\": credential_env names HEARTBEAT_TEST_UNSET_KEY, which is not set"
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// In process, with a manual clock
// ---------------------------------------------------------------------------------------------

/// A process of `svc` at `version` sending `ok` and `failed` sends so far.
fn sends(instance: &str, version: &str, start: i64, now: i64, ok: i64, failed: i64) -> Vec<u8> {
    Payload::new("svc", instance, Some(version))
        .sum(
            "heartbeat.outcomes",
            &[
                ("heartbeat.outcome", "message.send"),
                ("heartbeat.result", "success"),
            ],
            start,
            now,
            ok,
        )
        .sum(
            "heartbeat.outcomes",
            &[
                ("heartbeat.outcome", "message.send"),
                ("heartbeat.result", "failure"),
            ],
            start,
            now,
            failed,
        )
        .protobuf()
}

/// 20 s healthy on 1.4.2, then 1.5.0 deployed at 20 s failing 80 % of its sends: the
/// outcome rule fires with the deploy in its diagnosis. Returns the alerts that fired.
async fn bad_deploy(watch: &Watch, clock: &ManualClock) -> Vec<Alert> {
    let mut events = Vec::new();
    let mut ok = 0;
    for s in 0..20 {
        ok += 10;
        events.extend(
            second(
                watch,
                clock,
                s,
                Some(sends("A", "1.4.2", T0, T0 + s * 1000 + 100, ok, 0)),
            )
            .await,
        );
    }
    let (mut ok2, mut failed2) = (0, 0);
    for s in 20..40 {
        ok2 += 2;
        failed2 += 8;
        events.extend(
            second(
                watch,
                clock,
                s,
                Some(sends(
                    "B",
                    "1.5.0",
                    T0 + 20_000,
                    T0 + s * 1000 + 100,
                    ok2,
                    failed2,
                )),
            )
            .await,
        );
    }
    events
}

const ACTION_RULES: &str = r#"
[watch]
tick = "1s"
max_actions_per_hour = 1

[[outcome]]
name = "send"
outcome = "message.send"
service = "svc"
window = "5s"
min_success_ratio = 0.9

[[outcome]]
name = "send-copy"
outcome = "message.send"
service = "svc"
window = "5s"
min_success_ratio = 0.9
"#;

/// Waits until the watch's alert `rule` carries an action run, ticking meanwhile.
async fn runs_of(watch: &Watch, rule: &str) -> Vec<heartbeat_watch::ActionRun> {
    for _ in 0..200 {
        watch.tick().await;
        let open = watch.snapshot().open_alerts;
        if let Some(a) = open.iter().find(|a| a.rule == rule)
            && !a.actions_taken.is_empty()
        {
            return a.actions_taken.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no action recorded on {rule}: {:#?}",
        watch.snapshot().open_alerts
    );
}

#[tokio::test]
async fn a_failed_rollback_is_recorded_not_retried_and_the_rate_guard_says_why() {
    bounded(async {
        let marker = support::temp_path("rollback-runs").with_extension("log");
        let rules = format!(
            "{ACTION_RULES}\n[[action]]\nname = \"rollback\"\nkind = \"rollback\"\ncommand = [\"sh\", \"-c\", \"echo \\\"$HEARTBEAT_SERVICE $HEARTBEAT_BAD_VERSION -> $HEARTBEAT_GOOD_VERSION\\\" >> {}; echo boom; exit 3\"]\n",
            marker.display()
        );
        let (watch, clock) = manual_watch(&rules).await;
        let events = bad_deploy(&watch, &clock).await;
        let fired: Vec<&Alert> = events.iter().filter(|a| a.status == AlertStatus::Firing).collect();
        assert_eq!(fired.len(), 2, "{fired:#?}");
        assert!(fired[0].deploys.iter().any(|d| d.from == "1.4.2" && d.to == "1.5.0"));
        // One rule's alert ran it and failed; the other's was over max_actions_per_hour = 1.
        let a = runs_of(&watch, "send").await;
        let b = runs_of(&watch, "send-copy").await;
        let (ran, skipped) = if a[0].skipped.is_none() { (a, b) } else { (b, a) };
        assert!(!ran[0].ok, "{ran:?}");
        assert_eq!(ran[0].exit, Some(3));
        assert!(ran[0].output.contains("boom"), "{ran:?}");
        assert!(ran[0].summary.contains("rollback of svc to 1.4.2 FAILED"), "{ran:?}");
        assert_eq!(
            skipped[0].skipped.as_deref(),
            Some("skipped: max_actions_per_hour (1) reached")
        );
        // Not retried: more ticks, the command ran once, with the versions in its environment.
        for s in 40..60 {
            second(&watch, &clock, s, None).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = std::fs::read_to_string(&marker).unwrap();
        assert_eq!(log, "svc 1.5.0 -> 1.4.2\n");
        let _ = std::fs::remove_file(&marker);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_rollback_records_what_it_would_do_and_runs_nothing() {
    bounded(async {
        let marker = support::temp_path("dry-run").with_extension("log");
        let rules = format!(
            "{ACTION_RULES}\n[[action]]\nname = \"rollback\"\nkind = \"rollback\"\nrules = [\"send\"]\ndry_run = true\ncommand = [\"sh\", \"-c\", \"touch {}\"]\n",
            marker.display()
        );
        let (watch, clock) = manual_watch(&rules).await;
        bad_deploy(&watch, &clock).await;
        let runs = runs_of(&watch, "send").await;
        assert!(runs[0].dry_run && runs[0].ok, "{runs:?}");
        assert!(runs[0].summary.starts_with("dry run: would roll back svc to 1.4.2"), "{runs:?}");
        assert!(!marker.exists(), "a dry run ran the command");
        watch.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// HTTPS
// ---------------------------------------------------------------------------------------------

/// An HTTPS server on 127.0.0.1 with a certificate signed by a fresh private CA; the CA's PEM
/// and the bodies it received.
async fn tls_server() -> (String, String, Arc<std::sync::Mutex<Vec<String>>>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "heartbeat test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = rcgen::CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bodies: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let b = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, b) = (acceptor.clone(), Arc::clone(&b));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let b = Arc::clone(&b);
                        async move {
                            use http_body_util::BodyExt;
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            b.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&bytes).into_owned());
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, issuer.pem(), bodies)
}

#[tokio::test]
async fn an_https_webhook_is_delivered_with_its_ca_and_refused_without() {
    bounded(async {
        let (addr, ca_pem, bodies) = tls_server().await;
        let ca = support::temp_path("ca").with_extension("pem");
        std::fs::write(&ca, ca_pem).unwrap();
        let rules = format!(
            "[watch]\ntick = \"1s\"\n[[deadman]]\nname = \"api\"\nservice = \"svc\"\nemitter = \"api\"\nwindow = \"3s\"\nmin_beats = 2\n\
             [[alert]]\nname = \"trusted\"\nwebhook = \"https://localhost:{port}/hook\"\nca_file = \"{}\"\n\
             [[alert]]\nname = \"system-roots\"\nwebhook = \"https://localhost:{port}/other\"\n",
            ca.display(),
            port = addr.rsplit(':').next().unwrap()
        );
        let (watch, clock) = manual_watch(&rules).await;
        for s in 0..10 {
            let beats = Payload::new("svc", "A", None)
                .sum("heartbeat.beats", &[("heartbeat.emitter", "api")], T0, T0 + s * 1000 + 100, s + 1)
                .protobuf();
            second(&watch, &clock, s, Some(beats)).await;
        }
        for s in 10..16 {
            second(&watch, &clock, s, None).await;
        }
        for _ in 0..100 {
            // The server records the body before it answers: the watch counts the delivery only
            // once the answer is read, so wait for the counters, not for the body.
            let (delivered, failed, _) = watch.deliveries();
            if delivered >= 1 && failed >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = bodies.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "only the sink with the CA delivered: {got:?}");
        assert!(got[0].contains("\"rule\":\"api\""));
        let (delivered, failed, _) = watch.deliveries();
        assert_eq!(delivered, 1);
        assert!(failed >= 1, "the system-roots sink could not verify the certificate");
        let _ = std::fs::remove_file(&ca);
        watch.shutdown().await;
    })
    .await;
}
