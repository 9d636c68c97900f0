//! The running watch: receivers, the judge loop, the state database, the alert hooks and the
//! live view, started on the caller's tokio runtime.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::alert::actions::Actions;
use crate::alert::{Alert, AlertStatus, Dispatcher, SinkError};
use crate::clock::{Clock, SystemClock, ms};
use crate::db::{Db, DbError, Names};
use crate::faults::Faults;
use crate::judge::{Judge, Snapshot};
use crate::receiver::limit::RateLimiter;
use crate::receiver::{Shared, Stats, Token, grpc, http};
use crate::report::{Month, SlaReport};
use crate::rulefile::{AlertSink, RuleFile};
use crate::selfwatch::{Health, SelfBeat, SelfBeatError};
use crate::store::Store;
use crate::view;

/// Requests between "body being read" and "stored" at once, by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 64;
/// Series the store tracks at most, by default.
pub const DEFAULT_MAX_SERIES: usize = 500_000;
/// Series idle this long are forgotten.
pub const SERIES_IDLE_EXPIRY: Duration = Duration::from_secs(6 * 3600);

/// Where the live view goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    /// No view.
    Off,
    /// On standard output: ANSI redraw on a terminal, plain text otherwise.
    Auto,
    /// On standard output, plain text.
    Plain,
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created if missing.
    File(PathBuf),
    /// In memory: gone at exit.
    InMemory,
}

/// Why the watch could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state database could not be opened or read.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The bearer-token variable named by `auth_token_env` is not set.
    #[error("auth_token_env names {0}, which is not set")]
    MissingToken(String),
    /// `[self_heartbeat]` could not start.
    #[error(transparent)]
    SelfHeartbeat(#[from] SelfBeatError),
    /// An alert sink could not be set up (a missing credential, an unusable CA file).
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Builds a [`Watch`]: code beats the rule file's `[watch]` table, which beats the defaults.
#[derive(Debug)]
pub struct WatchBuilder {
    rules: RuleFile,
    clock: Arc<dyn Clock>,
    database: Database,
    listen: SocketAddr,
    grpc_listen: Option<SocketAddr>,
    auto_tick: bool,
    view: ViewMode,
    title: String,
    ledger_slot: Duration,
    sinks: Option<Vec<AlertSink>>,
    queue_capacity: usize,
    max_series: usize,
    token: Option<Token>,
}

impl WatchBuilder {
    /// Reads the time from `clock` (default: the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps the state in `database` (default: the rule file's `watch.database`).
    pub fn with_database(mut self, database: Database) -> Self {
        self.database = database;
        self
    }

    /// Serves OTLP/HTTP on `addr` (port 0 for an ephemeral port).
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Serves OTLP/gRPC on `addr`, or not at all with `None`.
    pub fn with_grpc_listen(mut self, addr: Option<SocketAddr>) -> Self {
        self.grpc_listen = addr;
        self
    }

    /// Whether the watch judges on its own every tick (default `true`); without it, call
    /// [`Watch::tick`], as tests with a manual clock do.
    pub fn with_auto_tick(mut self, auto: bool) -> Self {
        self.auto_tick = auto;
        self
    }

    /// Prints the live view (default: off).
    pub fn with_view(mut self, view: ViewMode) -> Self {
        self.view = view;
        self
    }

    /// The title line of the live view.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The SLA ledger's slot (default one minute; the demo compresses it).
    pub fn with_ledger_slot(mut self, slot: Duration) -> Self {
        self.ledger_slot = slot;
        self
    }

    /// Sends alerts to `sinks` instead of the rule file's `[[alert]]` sinks.
    pub fn with_sinks(mut self, sinks: Vec<AlertSink>) -> Self {
        self.sinks = Some(sinks);
        self
    }

    /// Requests in flight before 429 (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Series tracked at most (default: the rule file's `[watch] max_series`,
    /// [`DEFAULT_MAX_SERIES`] unless set).
    pub fn with_max_series(mut self, max: usize) -> Self {
        self.max_series = max;
        self
    }

    /// Requires `Authorization: Bearer <token>` on exports (default: the variable named by
    /// `auth_token_env`, if any).
    /// The token is never shown: `Debug` output prints `Token(<redacted>)`.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.map(Token::new);
        self
    }

    /// Binds the listeners, opens the database, restores the state and spawns the receivers
    /// and the judge loop on the current tokio runtime.
    ///
    /// # Errors
    /// [`StartError`] when an address cannot be bound, the database cannot be opened, or the
    /// token variable is missing.
    pub async fn start(self) -> Result<Watch, StartError> {
        let now = self.clock.now_ms();
        let token = match (&self.token, &self.rules.watch.auth_token_env) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(var)) => Some(Token::new(
                std::env::var(var).map_err(|_| StartError::MissingToken(var.clone()))?,
            )),
            (None, None) => None,
        };
        let slot_ms = ms(self.ledger_slot).max(1);
        let mut db = match &self.database {
            Database::File(path) => Db::open(path)?,
            Database::InMemory => Db::in_memory()?,
        };
        db.set_history_keep(self.rules.watch.history);
        db.save_slas(&self.rules.sla, slot_ms)?;
        let mut judge = Judge::new(&self.rules, now, slot_ms);
        let history_from = now - 70 * 24 * 3600 * 1000;
        judge.restore(db.load(now, history_from)?);
        let last_tick = db
            .last_tick_ms()?
            .filter(|last| now - last > 2 * judge.tick_ms);
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })
        };
        let http_listener = bind(self.listen).await?;
        let grpc_listener = match self.grpc_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let http_addr = http::local_addr(&http_listener).unwrap_or(self.listen);
        let grpc_addr = grpc_listener
            .as_ref()
            .and_then(http::local_addr)
            .or(self.grpc_listen);
        let reader = match &self.database {
            Database::File(path) => Some(Mutex::new(Db::open_reader(path)?)),
            Database::InMemory => None,
        };
        let db = Arc::new(Mutex::new(db));
        let faults = Arc::new(Faults::from_env());
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(self.max_series, now)),
            clock: Arc::clone(&self.clock),
            permits: Semaphore::new(self.queue_capacity),
            max_body: usize::try_from(self.rules.watch.max_body_bytes).unwrap_or(usize::MAX),
            cors_origins: self.rules.watch.cors_origins.clone(),
            token,
            limiter: RateLimiter::new(
                self.rules.watch.rate_limit_per_source,
                self.rules.watch.rate_limit_burst,
                self.queue_capacity,
            ),
            snapshot: Mutex::new(None),
            db: Some(Arc::clone(&db)),
            reader,
            stats: Stats::default(),
            queue_capacity: self.queue_capacity,
            faults: Arc::clone(&faults),
            rules: Arc::new(self.rules.clone()),
            slot_ms,
            ticks: tokio::sync::watch::Sender::new(0),
            status_cache: Mutex::new(None),
        });
        let sinks = self.sinks.unwrap_or_else(|| self.rules.alert.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let dispatcher = Dispatcher::start(
            sinks,
            self.rules.route.clone(),
            Arc::clone(&db),
            Arc::clone(&self.clock),
            stop_rx.clone(),
        )?;
        let actions = Arc::new(Actions::new(
            &self.rules,
            now,
            Arc::clone(&self.clock),
            Arc::clone(&db),
        ));
        let mut tasks = vec![tokio::spawn(http::serve(
            http_listener,
            Arc::clone(&shared),
            stop_rx.clone(),
        ))];
        if let Some(l) = grpc_listener {
            tasks.push(tokio::spawn(grpc::serve(
                l,
                Arc::clone(&shared),
                stop_rx.clone(),
            )));
        }
        let ansi = self.view == ViewMode::Auto && std::io::stdout().is_terminal();
        let health = Arc::new(Health::new(judge.tick_ms, now));
        let self_beat = match &self.rules.self_heartbeat {
            Some(settings) => Some(SelfBeat::start(
                settings,
                &format!("http://{http_addr}"),
                shared.token.as_ref().map(Token::expose),
                Arc::clone(&health),
                Arc::clone(&shared),
                dispatcher.clone(),
            )?),
            None => None,
        };
        let core = Arc::new(Core {
            shared: Arc::clone(&shared),
            judge: Mutex::new(judge),
            db,
            dispatcher,
            names: Names {
                outcome: self.rules.outcome.iter().map(|r| r.name.clone()).collect(),
                deadman: self.rules.deadman.iter().map(|r| r.name.clone()).collect(),
                sla: self.rules.sla.iter().map(|s| s.name.clone()).collect(),
            },
            view: self.view,
            ansi,
            title: self.title,
            ticks: Mutex::new(0),
            health,
            faults,
            warned: Mutex::new(Vec::new()),
            actions,
        });
        if self.auto_tick {
            tasks.push(tokio::spawn(tick_loop(Arc::clone(&core), stop_rx)));
        }
        Ok(Watch {
            http_addr,
            grpc_addr,
            core,
            stop: stop_tx,
            tasks,
            self_beat,
            last_tick,
        })
    }
}

#[derive(Debug)]
struct Core {
    shared: Arc<Shared>,
    judge: Mutex<Judge>,
    db: Arc<Mutex<Db>>,
    dispatcher: Dispatcher,
    names: Names,
    view: ViewMode,
    ansi: bool,
    title: String,
    ticks: Mutex<u64>,
    health: Arc<Health>,
    faults: Arc<Faults>,
    /// Rules already warned about (never matched).
    warned: Mutex<Vec<String>>,
    actions: Arc<Actions>,
}

impl Core {
    /// One tick: judge, hand alerts to the hooks, persist, publish the snapshot, draw.
    async fn tick(self: &Arc<Self>) -> Vec<Alert> {
        let started = std::time::Instant::now();
        let now = self.shared.clock.now_ms();
        let judged = {
            let (Ok(mut store), Ok(mut judge)) = (self.shared.store.lock(), self.judge.lock())
            else {
                return Vec::new();
            };
            let mut report = judge.tick(&mut store, now);
            // The watch's own events: deliveries given up (fired and resolved at once).
            for alert in self.dispatcher.take_raised() {
                let mut resolved = alert.clone();
                resolved.status = AlertStatus::Resolved;
                resolved.resolved_ms = Some(now);
                report.events.push(alert);
                report.events.push(resolved);
            }
            // What the actions did since the last tick, onto their alerts.
            for done in self.actions.take_done() {
                let line = done.run.summary.clone();
                let amended = judge.amend(&done.alert_id, |a| {
                    a.actions_taken.push(done.run.clone());
                    if done.incident.is_some() {
                        a.incident.clone_from(&done.incident);
                    }
                    if !a.details.contains(&line) {
                        a.details.push(line.clone());
                    }
                });
                if let Some(a) = amended {
                    report.updates.push(a);
                }
            }
            report.outbox = report
                .events
                .iter()
                .map(|a| (a.clone(), self.dispatcher.route(a)))
                .filter(|(_, sinks)| !sinks.is_empty())
                .collect();
            let tick_count = {
                let mut t = self.ticks.lock().unwrap_or_else(|e| e.into_inner());
                *t += 1;
                *t
            };
            if tick_count % 600 == 0 {
                store.expire(now - ms(SERIES_IDLE_EXPIRY));
            }
            let snapshot = judge.snapshot(&store, now);
            (report, snapshot, tick_count)
        };
        let (report, snapshot, tick_count) = judged;
        let events = report.events.clone();
        let core = Arc::clone(self);
        let read_only = self
            .faults
            .db_read_only
            .load(std::sync::atomic::Ordering::Relaxed);
        let persisted = tokio::task::spawn_blocking(move || {
            let mut db = core.db.lock().unwrap_or_else(|e| e.into_inner());
            if core.faults.enabled {
                db.set_read_only(read_only)?;
            }
            db.apply(&report, &core.names, now)
        })
        .await;
        // Where each open alert's events stand at each sink, for the view and /api/state.
        let mut snapshot = snapshot;
        if !snapshot.open_alerts.is_empty() {
            let ids: Vec<String> = snapshot.open_alerts.iter().map(|a| a.id.clone()).collect();
            let rows = self
                .db
                .lock()
                .ok()
                .and_then(|db| db.outbox_for(&ids).ok())
                .unwrap_or_default();
            let by = crate::alert::by_alert(&rows);
            for a in &mut snapshot.open_alerts {
                if let Some(d) = by.get(&a.id) {
                    a.delivery.clone_from(d);
                }
            }
        }
        let snapshot = Arc::new(snapshot);
        let commit = match persisted {
            Ok(Err(e)) => {
                eprintln!("heartbeat-watch: {e}");
                Err(e.to_string())
            }
            Err(e) => {
                eprintln!("heartbeat-watch: persisting a tick: {e}");
                Err(e.to_string())
            }
            Ok(Ok(())) => Ok(()),
        };
        self.health.ticked(now, commit, started.elapsed());
        self.health.open_alerts.store(
            snapshot.open_alerts.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        // The outbox rows are committed: the sinks' workers deliver them now.
        self.dispatcher.wake();
        self.dispatcher.set_open(snapshot.open_alerts.clone());
        if !self.actions.is_empty() {
            self.actions.on_events(&events);
        }
        self.health.last_delivery_ms.store(
            self.dispatcher.alive_ms().max(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.warn_no_data(&snapshot);
        if let Ok(mut s) = self.shared.snapshot.lock() {
            *s = Some(Arc::clone(&snapshot));
        }
        self.shared.ticks.send_modify(|n| *n = n.wrapping_add(1));
        self.draw(&snapshot, &events, tick_count);
        events
    }

    /// Says once, on standard error, which rules never matched a series after their first
    /// judged window: a typo in a rule is not silent.
    fn warn_no_data(&self, snapshot: &Snapshot) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        for o in &snapshot.outcomes {
            if !o.seen && o.state != crate::judge::RuleState::Warming && !warned.contains(&o.rule) {
                eprintln!(
                    "heartbeat-watch: warning: outcome rule {:?} has never matched a series (heartbeat.outcome {:?}): it is no_data, never ok; check the outcome name and where filter",
                    o.rule, o.outcome
                );
                warned.push(o.rule.clone());
            }
        }
        for d in &snapshot.deadman {
            if !d.seen && d.state != crate::judge::RuleState::Warming && !warned.contains(&d.rule) {
                eprintln!(
                    "heartbeat-watch: warning: dead-man rule {:?} has never seen a beat of {}{}: check the service and emitter names",
                    d.rule,
                    d.service,
                    d.emitter
                        .as_deref()
                        .map_or(String::new(), |e| format!("/{e}"))
                );
                warned.push(d.rule.clone());
            }
        }
    }

    fn draw(&self, snapshot: &Snapshot, events: &[Alert], tick_count: u64) {
        let mut out = std::io::stdout().lock();
        match self.view {
            ViewMode::Off => return,
            _ if self.ansi => {
                let _ = write!(
                    out,
                    "{}{}",
                    view::CLEAR,
                    view::render(snapshot, true, &self.title)
                );
            }
            _ => {
                for e in events {
                    let _ = write!(out, "{}", event_text(e, snapshot.now_ms));
                }
                let every = (60_000 / snapshot.tick_ms.max(1)).max(1);
                if tick_count % u64::try_from(every).unwrap_or(1) == 1 || !events.is_empty() {
                    let _ = writeln!(out, "{}", view::render(snapshot, false, &self.title));
                }
            }
        }
        let _ = out.flush();
    }
}

/// An alert event as plain text.
pub(crate) fn event_text(a: &Alert, now_ms: i64) -> String {
    match a.status {
        crate::alert::AlertStatus::Firing => {
            format!("ALERT FIRING\n{}", view::alert_lines(a, false, now_ms))
        }
        crate::alert::AlertStatus::Resolved => format!(
            "ALERT RESOLVED [{}] {} after {}{}\n",
            a.severity,
            a.rule,
            crate::clock::human(a.resolved_ms.unwrap_or(now_ms) - a.since_ms),
            a.details
                .last()
                .filter(|d| d.contains("stopped on purpose") || d.contains("arrived again"))
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
    }
}

async fn tick_loop(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let tick_ms = core
        .judge
        .lock()
        .map(|j| j.tick_ms)
        .unwrap_or(10_000)
        .max(1);
    loop {
        let now = core.shared.clock.now_ms();
        let next_tick = (now.div_euclid(tick_ms) + 1) * tick_ms;
        // A dead-man rule's max_silence deadline wakes the judge at once, not at the next tick.
        let deadline = core
            .judge
            .lock()
            .ok()
            .and_then(|j| j.next_deadline())
            .filter(|d| *d > now);
        let next = deadline.map_or(next_tick, |d| d.min(next_tick));
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        // The test hook's stalled judge: the loop stops ticking, the rest of the watch runs.
        while core
            .faults
            .stall_judge
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => return,
            }
        }
        core.health.tick_lag_ms.store(
            core.shared.clock.now_ms() - next,
            std::sync::atomic::Ordering::Relaxed,
        );
        core.tick().await;
    }
}

/// A running watch. Dropping it leaves the tasks running; call [`Watch::shutdown`].
#[derive(Debug)]
pub struct Watch {
    http_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    self_beat: Option<SelfBeat>,
    last_tick: Option<i64>,
}

impl Watch {
    /// A builder for `rules`, with the settings of its `[watch]` table.
    pub fn builder(rules: RuleFile) -> WatchBuilder {
        let settings = rules.watch.clone();
        WatchBuilder {
            clock: Arc::new(SystemClock),
            database: Database::File(settings.database.clone()),
            listen: settings.listen,
            grpc_listen: Some(settings.grpc_listen),
            auto_tick: true,
            view: ViewMode::Off,
            title: "heartbeat-watch".to_owned(),
            ledger_slot: Duration::from_secs(60),
            sinks: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_series: usize::try_from(settings.max_series).unwrap_or(usize::MAX),
            token: None,
            rules,
        }
    }

    /// What the watch says at start, after its addresses: warnings about the rule file (no
    /// sink, no self-heartbeat, rules that can never be green), each dead-man rule's detection
    /// figures, and how long the watch was not running.
    pub fn start_notes(&self, rules: &RuleFile) -> Vec<String> {
        let mut out: Vec<String> = crate::check::warnings(rules)
            .into_iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        out.extend(crate::check::detection_lines(rules));
        if let Some(last) = self.last_tick {
            let now = self.core.shared.clock.now_ms();
            out.push(format!(
                "the last tick was committed {} ago ({}): the SLA ledger counts the slots in between as unknown",
                crate::clock::human(now - last),
                crate::clock::rfc3339(last)
            ));
        }
        out
    }

    /// The OTLP/HTTP address (`http://{addr}/v1/metrics`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The OTLP/gRPC address, if served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// Judges now (at the clock's time) and returns the alerts that fired or resolved.
    pub async fn tick(&self) -> Vec<Alert> {
        self.core.tick().await
    }

    /// What the live view shows, as of the last tick (or now, before any).
    pub fn snapshot(&self) -> Snapshot {
        if let Some(s) = self
            .core
            .shared
            .snapshot
            .lock()
            .ok()
            .and_then(|s| s.clone())
        {
            return (*s).clone();
        }
        let now = self.core.shared.clock.now_ms();
        let store = self
            .core
            .shared
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let judge = self.core.judge.lock().unwrap_or_else(|e| e.into_inner());
        judge.snapshot(&store, now)
    }

    /// Points accepted and rejected since start.
    pub fn points(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.core.shared.stats;
        (
            s.points_accepted.load(Relaxed),
            s.points_rejected.load(Relaxed),
        )
    }

    /// Alert deliveries: succeeded, attempts failed (each is retried), events given up after
    /// their sink's `max_delivery_age`.
    pub fn deliveries(&self) -> (u64, u64, u64) {
        self.core.dispatcher.counts()
    }

    /// Firing alerts re-posted to Alertmanager sinks since start.
    pub fn resent(&self) -> u64 {
        self.core.dispatcher.resent()
    }

    /// The SLA report of `month` from the state database.
    ///
    /// # Errors
    /// [`DbError`] when the database cannot be read.
    pub fn report(&self, month: Month) -> Result<SlaReport, DbError> {
        let db = self.core.db.lock().unwrap_or_else(|e| e.into_inner());
        SlaReport::build(&db, month, self.core.shared.clock.now_ms())
    }

    /// Stops the self-heartbeat (on purpose: status 2), the receivers and the judge loop, and
    /// waits for them (at most a few seconds each).
    pub async fn shutdown(self) {
        if let Some(beat) = self.self_beat {
            let _ = tokio::time::timeout(Duration::from_secs(10), beat.stop()).await;
        }
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// Builds the monthly report from the state database at `path`, without a running watch.
///
/// # Errors
/// [`DbError`] when the database cannot be opened or read.
pub fn report_from_file(path: &std::path::Path, month: Month) -> Result<SlaReport, DbError> {
    let db = Db::open(path)?;
    SlaReport::build(&db, month, SystemClock.now_ms())
}
