//! Emitters in a subprocess, speaking the emitter protocol on standard input and output: the
//! `native-bin`, `wasm-*`, reference and `command:<template>` targets.
//!
//! The command line is a template run by `sh -c`; its placeholders are filled from the
//! [`EmitterConfig`], which is also passed as the standard `OTEL_*` variables (the parent's own
//! `OTEL_*` variables are removed first, so a developer's settings cannot leak in):
//!
//! | placeholder | value |
//! |---|---|
//! | `{endpoint}` | the collector's base URL, `http://127.0.0.1:PORT` (gRPC and HTTP alike) |
//! | `{metrics_url}` | `{endpoint}/v1/metrics` |
//! | `{protocol}` | `grpc`, `http/protobuf` or `http/json` |
//! | `{scenario}` | the case's scenario name |
//! | `{service}` | `service.name` |
//! | `{interval_ms}` | the export interval in milliseconds |
//! | `{temporality}` | `cumulative`, `delta`, or empty for the emitter's default |
//! | `{compression}` | `gzip` or `none` |
//! | `{tenant_limit}` | the tenant limit, or empty |
//!
//! The emitter prints `{"hello": {...}}` ([`TargetInfo`]) first, then one reply line
//! (`{"ok": ...}`) per command line it reads; any other output is ignored.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::{
    Command, Emitter, EmitterConfig, KillMode, Protocol, Reply, Target, TargetError, TargetInfo,
};

/// How long an emitter may take to say hello (a browser launch on a busy machine).
const HELLO_LIMIT: Duration = Duration::from_secs(90);
/// How long an ordinary command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);
/// How long a flush or a shutdown may take (its export deadline, and retries, inside).
const EXPORT_LIMIT: Duration = Duration::from_secs(60);
/// Lines of standard error kept for error messages.
const STDERR_LINES: usize = 40;

/// A target whose emitters are processes started from a command template.
#[derive(Debug, Clone)]
pub struct CommandTarget {
    name: String,
    template: String,
}

impl CommandTarget {
    /// A target called `name` whose emitters run `template` (see the module docs).
    pub fn new(name: impl Into<String>, template: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            template: template.into(),
        }
    }

    /// The command line for `config`.
    pub fn command_line(&self, config: &EmitterConfig) -> String {
        let ms = config.export_interval.as_millis().to_string();
        let pairs = [
            ("{metrics_url}", format!("{}/v1/metrics", config.endpoint)),
            ("{endpoint}", config.endpoint.clone()),
            ("{protocol}", config.protocol.as_str().to_owned()),
            ("{scenario}", config.scenario.clone()),
            ("{service}", config.service_name.clone()),
            ("{interval_ms}", ms),
            (
                "{temporality}",
                config
                    .temporality
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "{compression}",
                if config.gzip { "gzip" } else { "none" }.to_owned(),
            ),
            (
                "{tenant_limit}",
                config
                    .tenant_limit
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
            ),
        ];
        let mut line = self.template.clone();
        for (placeholder, value) in pairs {
            line = line.replace(placeholder, &value);
        }
        line
    }

    async fn spawn(&self, config: &EmitterConfig) -> Result<ProcessEmitter, TargetError> {
        let line = self.command_line(config);
        let mut command = tokio::process::Command::new("sh");
        command.arg("-c").arg(format!("exec {line}"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command
            .envs(config.environment())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| TargetError::Start(format!("{line}: {e}")))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_stdout(BufReader::new(out), tx));
        }
        let stderr: Arc<Mutex<VecDeque<String>>> = Arc::default();
        if let Some(err) = child.stderr.take() {
            let keep = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if std::env::var_os("HEARTBEAT_CONFORMANCE_VERBOSE").is_some() {
                        eprintln!("[emitter {pid:?}] {line}");
                    }
                    let mut kept = keep.lock().unwrap_or_else(PoisonError::into_inner);
                    if kept.len() == STDERR_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        let mut emitter = ProcessEmitter {
            child,
            stdin,
            lines: rx,
            pid,
            kill: KillMode::Signal,
            stderr,
            info: None,
        };
        let hello = tokio::time::timeout(HELLO_LIMIT, async {
            loop {
                match emitter.lines.recv().await {
                    Some(Line::Hello(info)) => return Some(info),
                    Some(Line::Reply(_)) => continue,
                    None => return None,
                }
            }
        })
        .await;
        match hello {
            Ok(Some(info)) => {
                emitter.kill = info.kill;
                emitter.info = Some(info);
                Ok(emitter)
            }
            Ok(None) => Err(TargetError::Start(format!(
                "{line} ended without saying hello{}",
                emitter.stderr_tail()
            ))),
            Err(_) => Err(TargetError::Start(format!(
                "{line} did not say hello within {HELLO_LIMIT:?}{}",
                emitter.stderr_tail()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Target for CommandTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn describe(&self) -> Result<TargetInfo, TargetError> {
        // Nothing listens on the discard port: whatever it exports on its own is refused.
        let config = EmitterConfig::new("hello", "http://127.0.0.1:9", Protocol::HttpProtobuf);
        let mut emitter = self.spawn(&config).await?;
        let info = emitter.info.take();
        emitter.kill().await;
        info.ok_or_else(|| TargetError::Protocol("no hello".to_owned()))
    }

    async fn start(&self, config: &EmitterConfig) -> Result<Box<dyn Emitter>, TargetError> {
        Ok(Box::new(self.spawn(config).await?))
    }
}

enum Line {
    Hello(TargetInfo),
    Reply(Reply),
}

async fn read_stdout(out: BufReader<tokio::process::ChildStdout>, tx: mpsc::UnboundedSender<Line>) {
    let mut lines = out.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(&line) else {
            continue;
        };
        let parsed = if let Some(hello) = object.get("hello") {
            serde_json::from_value(hello.clone()).ok().map(Line::Hello)
        } else if object.contains_key("ok") {
            serde_json::from_value(serde_json::Value::Object(object))
                .ok()
                .map(Line::Reply)
        } else {
            None
        };
        if let Some(parsed) = parsed
            && tx.send(parsed).is_err()
        {
            return;
        }
    }
}

struct ProcessEmitter {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Line>,
    pid: Option<u32>,
    kill: KillMode,
    stderr: Arc<Mutex<VecDeque<String>>>,
    info: Option<TargetInfo>,
}

impl ProcessEmitter {
    fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_empty() {
            String::new()
        } else {
            let lines: Vec<&str> = kept.iter().map(String::as_str).collect();
            format!("; its standard error ends with:\n{}", lines.join("\n"))
        }
    }

    fn signal_group(&self, signal: &str) {
        if let Some(pid) = self.pid {
            let _ = std::process::Command::new("kill")
                .args(["-s", signal, "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    async fn write(&mut self, command: &Command) -> Result<(), TargetError> {
        let mut line = serde_json::to_string(command)
            .map_err(|e| TargetError::Protocol(format!("cannot encode {command:?}: {e}")))?;
        line.push('\n');
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(TargetError::Protocol(
                "its standard input is closed".to_owned(),
            ));
        };
        stdin
            .write_all(line.as_bytes())
            .await
            .and(stdin.flush().await)
            .map_err(|e| {
                TargetError::Protocol(format!("cannot write a command: {e}{}", self.stderr_tail()))
            })
    }

    async fn reaped_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.child.wait()).await.is_ok()
    }
}

#[async_trait::async_trait]
impl Emitter for ProcessEmitter {
    async fn send(&mut self, command: &Command) -> Result<Reply, TargetError> {
        self.write(command).await?;
        let limit = match command {
            Command::Flush | Command::Shutdown | Command::BeatStop { .. } => EXPORT_LIMIT,
            _ => COMMAND_LIMIT,
        };
        let reply = tokio::time::timeout(limit, async {
            loop {
                match self.lines.recv().await {
                    Some(Line::Reply(reply)) => return Some(reply),
                    Some(Line::Hello(_)) => continue,
                    None => return None,
                }
            }
        })
        .await;
        let reply = match reply {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                return Err(TargetError::Protocol(format!(
                    "it exited before answering {command:?}{}",
                    self.stderr_tail()
                )));
            }
            Err(_) => {
                return Err(TargetError::Timeout {
                    what: format!("{command:?}"),
                    limit,
                });
            }
        };
        if *command == Command::Shutdown {
            self.stdin = None;
            if !self.reaped_within(Duration::from_secs(10)).await {
                self.signal_group("KILL");
                let _ = self.reaped_within(Duration::from_secs(5)).await;
            }
        }
        Ok(reply)
    }

    async fn kill(&mut self) {
        if self.kill == KillMode::Command && self.write(&Command::Kill).await.is_ok() {
            let _ = self.reaped_within(Duration::from_secs(5)).await;
        }
        self.signal_group("KILL");
        let _ = self.child.start_kill();
        let _ = self.reaped_within(Duration::from_secs(5)).await;
        self.stdin = None;
    }

    async fn stall(&mut self, duration: Duration) -> Result<(), TargetError> {
        if !self.info.as_ref().is_none_or(|i| i.stall) {
            return Err(TargetError::Unsupported("stall"));
        }
        self.signal_group("STOP");
        tokio::time::sleep(duration).await;
        self.signal_group("CONT");
        Ok(())
    }

    fn memory(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

impl Drop for ProcessEmitter {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_group("KILL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_from_the_configuration() {
        let target = CommandTarget::new(
            "command:x",
            "emit --to {endpoint} --url {metrics_url} --via {protocol} --case {scenario} --every {interval_ms} --limit {tenant_limit}",
        );
        let mut config = EmitterConfig::new("gzip", "http://127.0.0.1:4000", Protocol::HttpJson);
        config.tenant_limit = Some(2);
        assert_eq!(
            target.command_line(&config),
            "emit --to http://127.0.0.1:4000 --url http://127.0.0.1:4000/v1/metrics --via http/json --case gzip --every 200 --limit 2"
        );
    }
}
