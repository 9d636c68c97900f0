//! Persisted state in SQLite: alert history, closed outcome windows (the anomaly baselines),
//! the SLA ledger (each slot down, unknown or up), SLA definitions, the last beat seen per
//! emitter, the latest emitter statuses (a graceful stop survives a restart) and the time of
//! the last completed tick.
//!
//! Each tick's changes are written in one transaction, in WAL mode: a process killed mid-write
//! loses at most that uncommitted tick, never what was committed before.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::alert::{Alert, AlertStatus};
use crate::clock::{month_bounds, month_of};
use crate::rulefile::Sla;
use crate::state::{DeployRow, EmitterSeen, Persisted, SlotState, StatusRow, TickReport};

/// A database error, with what the watch was doing.
#[derive(Debug, thiserror::Error)]
#[error("state database: {doing}: {source}")]
pub struct DbError {
    doing: &'static str,
    #[source]
    source: rusqlite::Error,
}

fn ctx(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> DbError {
    move |source| DbError { doing, source }
}

/// An SLA as recorded in the database, for reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlaRecord {
    pub(crate) name: String,
    pub(crate) objective: f64,
    pub(crate) signals: Vec<String>,
    pub(crate) slot_ms: i64,
}

/// One event for one sink in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxRow {
    pub(crate) seq: i64,
    pub(crate) sink: String,
    pub(crate) alert: Alert,
    pub(crate) created_ms: i64,
    pub(crate) next_ms: i64,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) delivered_ms: Option<i64>,
    pub(crate) gave_up_ms: Option<i64>,
}

const OUTBOX_COLUMNS: &str =
    "seq, sink, body, created_ms, next_ms, attempts, last_error, delivered_ms, gave_up_ms";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<OutboxRow>> {
    let body: String = r.get(2)?;
    let Ok(alert) = serde_json::from_str::<Alert>(&body) else {
        return Ok(None);
    };
    Ok(Some(OutboxRow {
        seq: r.get(0)?,
        sink: r.get(1)?,
        alert,
        created_ms: r.get(3)?,
        next_ms: r.get(4)?,
        attempts: r.get(5)?,
        last_error: r.get(6)?,
        delivered_ms: r.get(7)?,
        gave_up_ms: r.get(8)?,
    }))
}

/// Rule and SLA names by index, to write a tick's rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub(crate) outcome: Vec<String>,
    pub(crate) deadman: Vec<String>,
    pub(crate) sla: Vec<String>,
}

/// The state database.
#[derive(Debug)]
pub(crate) struct Db {
    conn: Connection,
    /// How long the console's history is kept (`watch.history`).
    history_keep_ms: i64,
    /// When the history was last pruned.
    pruned_ms: i64,
}

/// One stored history row, as read back: `(value, window start, successes, failures, band)`.
pub(crate) type HistoryPoint = (String, i64, f64, f64, Option<(f64, f64, f64)>);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, status TEXT NOT NULL, since_ms INTEGER NOT NULL,
    resolved_ms INTEGER, classification TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_since ON alerts (since_ms);
CREATE TABLE IF NOT EXISTS windows (
    rule TEXT NOT NULL, start_ms INTEGER NOT NULL, successes REAL NOT NULL, failures REAL NOT NULL,
    PRIMARY KEY (rule, start_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    sla TEXT NOT NULL, slot_ms INTEGER NOT NULL, up INTEGER NOT NULL,
    PRIMARY KEY (sla, slot_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slas (
    name TEXT PRIMARY KEY, objective REAL NOT NULL, signals TEXT NOT NULL, slot_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (
    rule TEXT NOT NULL, emitter TEXT NOT NULL, instance TEXT NOT NULL, recv_ms INTEGER NOT NULL,
    value REAL NOT NULL, reason TEXT, PRIMARY KEY (rule, emitter)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, sink TEXT NOT NULL,
    body TEXT NOT NULL, created_ms INTEGER NOT NULL, next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, history TEXT NOT NULL DEFAULT '[]',
    delivered_ms INTEGER, gave_up_ms INTEGER);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sink, delivered_ms, gave_up_ms, next_ms);
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox (alert_id);
CREATE TABLE IF NOT EXISTS action_runs (
    action TEXT NOT NULL, alert_id TEXT NOT NULL, at_ms INTEGER NOT NULL, ok INTEGER NOT NULL,
    PRIMARY KEY (action, alert_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    rule TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, start_ms INTEGER NOT NULL,
    successes REAL NOT NULL, failures REAL NOT NULL, expected REAL, low REAL, high REAL,
    PRIMARY KEY (rule, key, value, start_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_start ON history (start_ms);
CREATE TABLE IF NOT EXISTS deploys (
    service TEXT NOT NULL, at_ms INTEGER NOT NULL, version TEXT NOT NULL, previous TEXT,
    PRIMARY KEY (service, at_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS emitters (
    service TEXT NOT NULL, emitter TEXT NOT NULL, instance TEXT NOT NULL, last_seen_ms INTEGER NOT NULL,
    last_value REAL NOT NULL, PRIMARY KEY (service, emitter)) WITHOUT ROWID;
";

impl Db {
    /// Opens (creating if needed) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, DbError> {
        let conn = Connection::open(path).map_err(ctx("opening"))?;
        Self::init(conn)
    }

    /// A second, read-only connection to the database at `path` (already created by
    /// [`Db::open`]): the console's history queries read through it (WAL lets readers run
    /// beside the judge's writes), so a long query never holds up a tick.
    pub(crate) fn open_reader(path: &Path) -> Result<Self, DbError> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(ctx("opening for reading"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(ctx("setting the busy timeout"))?;
        Ok(Self {
            conn,
            history_keep_ms: 7 * 86_400_000,
            pruned_ms: 0,
        })
    }

    /// A database in memory, gone at exit.
    pub(crate) fn in_memory() -> Result<Self, DbError> {
        let conn = Connection::open_in_memory().map_err(ctx("opening in memory"))?;
        Self::init(conn)
    }

    fn init(conn: Connection) -> Result<Self, DbError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(ctx("setting the busy timeout"))?;
        // WAL: readers (reports) do not block the judge; NORMAL is durable across a process kill.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(ctx("enabling WAL"))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(ctx("setting synchronous"))?;
        conn.execute_batch(SCHEMA)
            .map_err(ctx("creating the schema"))?;
        // Version 1: the ledger's `up` column holds a slot state (0 down, 1 unknown, 2 up);
        // before, 1 meant up.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(ctx("reading the schema version"))?;
        if version < 1 {
            conn.execute_batch(
                "BEGIN; UPDATE ledger SET up = 2 WHERE up = 1; PRAGMA user_version = 1; COMMIT;",
            )
            .map_err(ctx("migrating the ledger to slot states"))?;
        }
        Ok(Self {
            conn,
            history_keep_ms: 7 * 86_400_000,
            pruned_ms: 0,
        })
    }

    /// Sets how long the console's history is kept.
    pub(crate) fn set_history_keep(&mut self, keep: std::time::Duration) {
        self.history_keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    }

    /// Records the SLA definitions, for reports that read only the database.
    pub(crate) fn save_slas(&mut self, slas: &[Sla], slot_ms: i64) -> Result<(), DbError> {
        let tx = self.conn.transaction().map_err(ctx("saving SLAs"))?;
        for s in slas {
            let signals = serde_json::to_string(&s.signals).unwrap_or_default();
            tx.execute(
                "INSERT OR REPLACE INTO slas (name, objective, signals, slot_ms) VALUES (?1, ?2, ?3, ?4)",
                params![s.name, s.objective, signals, slot_ms],
            )
            .map_err(ctx("saving SLAs"))?;
        }
        tx.commit().map_err(ctx("saving SLAs"))
    }

    /// Writes one tick's changes in one transaction.
    pub(crate) fn apply(
        &mut self,
        report: &TickReport,
        names: &Names,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let (outcome_names, sla_names, deadman_names) =
            (&names.outcome, &names.sla, &names.deadman);
        let tx = self
            .conn
            .transaction()
            .map_err(ctx("starting a transaction"))?;
        {
            let mut alert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO alerts (id, rule, status, since_ms, resolved_ms, classification, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(ctx("writing alerts"))?;
            for a in report.events.iter().chain(&report.updates) {
                let status = match a.status {
                    AlertStatus::Firing => "firing",
                    AlertStatus::Resolved => "resolved",
                };
                let body = serde_json::to_string(a).unwrap_or_default();
                alert
                    .execute(params![
                        a.id,
                        a.rule,
                        status,
                        a.since_ms,
                        a.resolved_ms,
                        a.classification.as_str(),
                        body
                    ])
                    .map_err(ctx("writing alerts"))?;
            }
            let mut outbox = tx
                .prepare_cached(
                    "INSERT INTO outbox (alert_id, sink, body, created_ms, next_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .map_err(ctx("writing the outbox"))?;
            for (alert, sinks) in &report.outbox {
                let body = serde_json::to_string(alert).unwrap_or_default();
                for sink in sinks {
                    outbox
                        .execute(params![alert.id, sink, body, now_ms])
                        .map_err(ctx("writing the outbox"))?;
                }
            }
            let mut ledger = tx
                .prepare_cached(
                    "INSERT INTO ledger (sla, slot_ms, up) VALUES (?1, ?2, ?3)
                     ON CONFLICT (sla, slot_ms) DO UPDATE SET
                       up = CASE WHEN up = 0 OR excluded.up = 0 THEN 0 ELSE excluded.up END",
                )
                .map_err(ctx("writing the ledger"))?;
            for row in &report.ledger {
                if let Some(name) = sla_names.get(row.sla) {
                    ledger
                        .execute(params![name, row.slot_ms, row.state.code()])
                        .map_err(ctx("writing the ledger"))?;
                }
            }
            let mut window = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO windows (rule, start_ms, successes, failures) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(ctx("writing windows"))?;
            for w in &report.windows {
                if let Some(name) = outcome_names.get(w.rule) {
                    window
                        .execute(params![name, w.start_ms, w.successes, w.failures])
                        .map_err(ctx("writing windows"))?;
                }
            }
            let mut emitter = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO emitters (service, emitter, instance, last_seen_ms, last_value)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(ctx("writing emitters"))?;
            for e in &report.emitters {
                emitter
                    .execute(params![
                        e.service,
                        e.emitter,
                        e.instance,
                        e.last_seen_ms,
                        e.last_value
                    ])
                    .map_err(ctx("writing emitters"))?;
            }
            let mut save = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO statuses (rule, emitter, instance, recv_ms, value, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(ctx("writing statuses"))?;
            let mut delete = tx
                .prepare_cached("DELETE FROM statuses WHERE rule = ?1 AND emitter = ?2")
                .map_err(ctx("writing statuses"))?;
            for (rule, row, keep) in &report.statuses {
                let Some(rule) = deadman_names.get(*rule) else {
                    continue;
                };
                if *keep {
                    save.execute(params![
                        rule,
                        row.emitter,
                        row.instance,
                        row.recv_ms,
                        row.value,
                        row.reason
                    ])
                    .map_err(ctx("writing statuses"))?;
                } else {
                    delete
                        .execute(params![rule, row.emitter])
                        .map_err(ctx("writing statuses"))?;
                }
            }
            let mut history = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO history (rule, key, value, start_ms, successes, failures, expected, low, high)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(ctx("writing history"))?;
            for h in &report.history {
                let (e, l, hi) = match h.band {
                    Some((e, l, hi)) => (Some(e), Some(l), Some(hi)),
                    None => (None, None, None),
                };
                history
                    .execute(params![
                        h.rule,
                        h.key,
                        h.value,
                        h.start_ms,
                        h.successes,
                        h.failures,
                        e,
                        l,
                        hi
                    ])
                    .map_err(ctx("writing history"))?;
            }
            let mut deploy = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO deploys (service, at_ms, version, previous) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(ctx("writing deploys"))?;
            for d in &report.deploys {
                deploy
                    .execute(params![d.service, d.at_ms, d.version, d.previous])
                    .map_err(ctx("writing deploys"))?;
            }
            // The history is pruned at most once an hour: one indexed range delete.
            if now_ms - self.pruned_ms >= 3_600_000 {
                let cutoff = now_ms - self.history_keep_ms;
                tx.execute("DELETE FROM history WHERE start_ms < ?1", params![cutoff])
                    .map_err(ctx("pruning history"))?;
                tx.execute("DELETE FROM deploys WHERE at_ms < ?1", params![cutoff])
                    .map_err(ctx("pruning history"))?;
            }
            // Every tick writes: a database that stops taking writes is noticed at once (the
            // self-heartbeat stops), and the last tick tells when the watch last ran.
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('last_tick_ms', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![now_ms]))
            .map_err(ctx("writing the tick"))?;
        }
        tx.commit().map_err(ctx("committing"))?;
        if now_ms - self.pruned_ms >= 3_600_000 {
            self.pruned_ms = now_ms;
        }
        Ok(())
    }

    /// A rule's history between `from` and `to` (window starts), for `key` (`""` the rule's
    /// totals, else a drill-down key or `heartbeat.emitter`), ordered by value then time.
    pub(crate) fn history(
        &self,
        rule: &str,
        key: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryPoint>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT value, start_ms, successes, failures, expected, low, high FROM history
                 WHERE rule = ?1 AND key = ?2 AND start_ms >= ?3 AND start_ms < ?4
                 ORDER BY value, start_ms",
            )
            .map_err(ctx("reading history"))?;
        let rows = stmt
            .query_map(params![rule, key, from, to], |r| {
                let band = match (
                    r.get::<_, Option<f64>>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                    r.get::<_, Option<f64>>(6)?,
                ) {
                    (Some(e), Some(l), Some(h)) => Some((e, l, h)),
                    _ => None,
                };
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, band))
            })
            .map_err(ctx("reading history"))?;
        rows.collect::<Result<_, _>>()
            .map_err(ctx("reading history"))
    }

    /// The version changes between `from` and `to`, oldest first.
    pub(crate) fn deploys(&self, from: i64, to: i64) -> Result<Vec<DeployRow>, DbError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT service, at_ms, version, previous FROM deploys
                 WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms",
            )
            .map_err(ctx("reading deploys"))?;
        let rows = stmt
            .query_map(params![from, to], |r| {
                Ok(DeployRow {
                    service: r.get(0)?,
                    at_ms: r.get(1)?,
                    version: r.get(2)?,
                    previous: r.get(3)?,
                })
            })
            .map_err(ctx("reading deploys"))?;
        rows.collect::<Result<_, _>>()
            .map_err(ctx("reading deploys"))
    }

    /// Loads what the judge needs at start: open alerts, windows since `history_from_ms`, the
    /// ledger of the month of `now_ms`, the emitters.
    pub(crate) fn load(&self, now_ms: i64, history_from_ms: i64) -> Result<Persisted, DbError> {
        let mut out = Persisted::default();
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM alerts WHERE status = 'firing' ORDER BY since_ms")
            .map_err(ctx("loading alerts"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(ctx("loading alerts"))?;
        for body in rows {
            let body = body.map_err(ctx("loading alerts"))?;
            if let Ok(alert) = serde_json::from_str::<Alert>(&body) {
                out.open_alerts.push(alert);
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT rule, start_ms, successes, failures FROM windows WHERE start_ms >= ?1")
            .map_err(ctx("loading windows"))?;
        let rows = stmt
            .query_map([history_from_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(ctx("loading windows"))?;
        for row in rows {
            out.windows.push(row.map_err(ctx("loading windows"))?);
        }
        let (from, to) = month_bounds(month_of(now_ms));
        out.ledger = self.ledger(None, from, to)?;
        let mut stmt = self
            .conn
            .prepare("SELECT service, emitter, instance, last_seen_ms, last_value FROM emitters")
            .map_err(ctx("loading emitters"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(EmitterSeen {
                    service: r.get(0)?,
                    emitter: r.get(1)?,
                    instance: r.get(2)?,
                    last_seen_ms: r.get(3)?,
                    last_value: r.get(4)?,
                })
            })
            .map_err(ctx("loading emitters"))?;
        for row in rows {
            out.emitters.push(row.map_err(ctx("loading emitters"))?);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT rule, emitter, instance, recv_ms, value, reason FROM statuses")
            .map_err(ctx("loading statuses"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    StatusRow {
                        emitter: r.get(1)?,
                        instance: r.get(2)?,
                        recv_ms: r.get(3)?,
                        value: r.get(4)?,
                        reason: r.get(5)?,
                    },
                ))
            })
            .map_err(ctx("loading statuses"))?;
        for row in rows {
            out.statuses.push(row.map_err(ctx("loading statuses"))?);
        }
        Ok(out)
    }

    /// Rows of `sink` due at `now_ms`, oldest first, leaving out any whose alert has an
    /// earlier event still pending for the sink (order is kept per alert).
    pub(crate) fn outbox_due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, DbError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.sink = ?1 AND o.delivered_ms IS NULL
             AND o.gave_up_ms IS NULL AND o.next_ms <= ?2
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.sink = o.sink AND p.alert_id = o.alert_id
                 AND p.seq < o.seq AND p.delivered_ms IS NULL AND p.gave_up_ms IS NULL)
             ORDER BY o.seq LIMIT ?3"
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(ctx("reading the outbox"))?;
        let rows = stmt
            .query_map(params![sink, now_ms, limit], outbox_row)
            .map_err(ctx("reading the outbox"))?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(r) = row.map_err(ctx("reading the outbox"))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records one attempt's outcome on an outbox row (the last 10 attempts are kept).
    pub(crate) fn outbox_record(
        &self,
        seq: i64,
        attempt: &crate::alert::Attempt,
    ) -> Result<(), DbError> {
        use crate::alert::Attempt;
        let entry = match attempt {
            Attempt::Delivered { at_ms } => serde_json::json!({"at_ms": at_ms, "ok": true}),
            Attempt::Failed { at_ms, error, .. } => {
                serde_json::json!({"at_ms": at_ms, "ok": false, "error": error})
            }
            Attempt::GivenUp { at_ms, reason } => {
                serde_json::json!({"at_ms": at_ms, "ok": false, "given_up": reason})
            }
        };
        let history: String = self
            .conn
            .query_row("SELECT history FROM outbox WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .map_err(ctx("writing the outbox"))?;
        let mut list: Vec<serde_json::Value> = serde_json::from_str(&history).unwrap_or_default();
        list.push(entry);
        let excess = list.len().saturating_sub(10);
        list.drain(..excess);
        let history = serde_json::to_string(&list).unwrap_or_default();
        let (sql, args): (&str, Vec<rusqlite::types::Value>) = match attempt {
            Attempt::Delivered { at_ms } => (
                "UPDATE outbox SET attempts = attempts + 1, delivered_ms = ?2, history = ?3 WHERE seq = ?1",
                vec![seq.into(), (*at_ms).into(), history.into()],
            ),
            Attempt::Failed { error, next_ms, .. } => (
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_ms = ?3, history = ?4 WHERE seq = ?1",
                vec![
                    seq.into(),
                    error.clone().into(),
                    (*next_ms).into(),
                    history.into(),
                ],
            ),
            Attempt::GivenUp { at_ms, .. } => (
                "UPDATE outbox SET gave_up_ms = ?2, history = ?3 WHERE seq = ?1",
                vec![seq.into(), (*at_ms).into(), history.into()],
            ),
        };
        self.conn
            .execute(sql, rusqlite::params_from_iter(args))
            .map_err(ctx("writing the outbox"))?;
        Ok(())
    }

    /// The outbox rows of these alerts, in order.
    pub(crate) fn outbox_for(&self, alert_ids: &[String]) -> Result<Vec<OutboxRow>, DbError> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE alert_id = ?1 ORDER BY seq"
            ))
            .map_err(ctx("reading the outbox"))?;
        for id in alert_ids {
            let rows = stmt
                .query_map([id], outbox_row)
                .map_err(ctx("reading the outbox"))?;
            for row in rows {
                if let Some(r) = row.map_err(ctx("reading the outbox"))? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// `(action, alert id, when)` of every action run: the "once per alert" rule and, for the
    /// last hour's, the rate guard.
    pub(crate) fn action_runs(&self) -> Result<Vec<(String, String, i64)>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT action, alert_id, at_ms FROM action_runs")
            .map_err(ctx("reading actions"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(ctx("reading actions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(ctx("reading actions"))
    }

    /// Records that an action ran for an alert.
    pub(crate) fn record_action(
        &self,
        action: &str,
        alert_id: &str,
        at_ms: i64,
        ok: bool,
    ) -> Result<(), DbError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO action_runs (action, alert_id, at_ms, ok) VALUES (?1, ?2, ?3, ?4)",
                params![action, alert_id, at_ms, ok],
            )
            .map(|_| ())
            .map_err(ctx("recording an action"))
    }

    /// The first slot ever recorded for `sla`, if any.
    pub(crate) fn first_slot(&self, sla: &str) -> Result<Option<i64>, DbError> {
        self.conn
            .query_row(
                "SELECT min(slot_ms) FROM ledger WHERE sla = ?1",
                [sla],
                |r| r.get(0),
            )
            .map_err(ctx("reading the ledger"))
    }

    /// When the last tick was committed, if ever.
    pub(crate) fn last_tick_ms(&self) -> Result<Option<i64>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM meta WHERE key = 'last_tick_ms'")
            .map_err(ctx("reading the last tick"))?;
        let mut rows = stmt.query([]).map_err(ctx("reading the last tick"))?;
        match rows.next().map_err(ctx("reading the last tick"))? {
            Some(row) => Ok(Some(row.get(0).map_err(ctx("reading the last tick"))?)),
            None => Ok(None),
        }
    }

    /// Stops (or resumes) taking writes, as a full disk or a read-only mount would: a fault
    /// injected by the test hook, so that the self-heartbeat's reaction can be tested.
    pub(crate) fn set_read_only(&self, on: bool) -> Result<(), DbError> {
        self.conn
            .execute_batch(if on {
                "PRAGMA query_only = ON;"
            } else {
                "PRAGMA query_only = OFF;"
            })
            .map_err(ctx("switching query_only"))
    }

    /// Ledger rows `(sla, slot, state)` in `[from, to)`, of one SLA or all.
    pub(crate) fn ledger(
        &self,
        sla: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64, SlotState)>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sla, slot_ms, up FROM ledger WHERE slot_ms >= ?1 AND slot_ms < ?2
                 AND (?3 IS NULL OR sla = ?3) ORDER BY sla, slot_ms",
            )
            .map_err(ctx("reading the ledger"))?;
        let rows = stmt
            .query_map(params![from, to, sla], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    SlotState::from_code(r.get::<_, i64>(2)?),
                ))
            })
            .map_err(ctx("reading the ledger"))?;
        rows.collect::<Result<_, _>>()
            .map_err(ctx("reading the ledger"))
    }

    /// SLA definitions recorded by the watch.
    pub(crate) fn slas(&self) -> Result<Vec<SlaRecord>, DbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, objective, signals, slot_ms FROM slas ORDER BY name")
            .map_err(ctx("reading SLAs"))?;
        let rows = stmt
            .query_map([], |r| {
                let signals: String = r.get(2)?;
                Ok(SlaRecord {
                    name: r.get(0)?,
                    objective: r.get(1)?,
                    signals: serde_json::from_str(&signals).unwrap_or_default(),
                    slot_ms: r.get(3)?,
                })
            })
            .map_err(ctx("reading SLAs"))?;
        rows.collect::<Result<_, _>>().map_err(ctx("reading SLAs"))
    }

    /// Alerts that started in `[from, to)` or were open during it.
    pub(crate) fn alerts(&self, from: i64, to: i64) -> Result<Vec<Alert>, DbError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT body FROM alerts WHERE since_ms < ?2 AND (resolved_ms IS NULL OR resolved_ms >= ?1)
                 ORDER BY since_ms",
            )
            .map_err(ctx("reading alerts"))?;
        let rows = stmt
            .query_map(params![from, to], |r| r.get::<_, String>(0))
            .map_err(ctx("reading alerts"))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(ctx("reading alerts"))?;
            if let Ok(a) = serde_json::from_str(&body) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Counts rows of a table (for tests).
    #[cfg(test)]
    pub(crate) fn count(&self, table: &str) -> Result<i64, DbError> {
        let sql = match table {
            "alerts" => "SELECT count(*) FROM alerts",
            "ledger" => "SELECT count(*) FROM ledger",
            "windows" => "SELECT count(*) FROM windows",
            "history" => "SELECT count(*) FROM history",
            _ => "SELECT count(*) FROM emitters",
        };
        self.conn
            .query_row(sql, [], |r| r.get(0))
            .map_err(ctx("counting"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKind, Classification};
    use crate::state::{LedgerRow, WindowRow};

    fn names() -> Names {
        Names {
            outcome: vec!["send".into()],
            deadman: vec![],
            sla: vec!["core".into()],
        }
    }

    fn alert(status: AlertStatus) -> Alert {
        Alert {
            id: "send@1000".into(),
            rule: "send".into(),
            kind: AlertKind::Outcome,
            status,
            severity: "page".into(),
            service: None,
            signal: "heartbeat.outcomes".into(),
            since_ms: 1000,
            since: crate::clock::rfc3339(1000),
            resolved_ms: (status == AlertStatus::Resolved).then_some(5000),
            classification: Classification::SuccessRatio,
            conditions: vec![],
            summary: "drop".into(),
            details: vec![],
            tenants: vec![],
            attributes: vec![],
            deploys: vec![],
            actions: vec![],
            runbook_url: None,
            sop: None,
            actions_taken: Vec::new(),
            incident: None,
            delivery: Vec::new(),
        }
    }

    #[test]
    fn a_tick_is_written_and_loaded_back() {
        let path = std::env::temp_dir().join(format!("hb-watch-db-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let mut db = Db::open(&path).unwrap();
            let report = TickReport {
                events: vec![alert(AlertStatus::Firing)],
                ledger: vec![
                    LedgerRow {
                        sla: 0,
                        slot_ms: 60_000,
                        state: SlotState::Up,
                    },
                    LedgerRow {
                        sla: 0,
                        slot_ms: 120_000,
                        state: SlotState::Down,
                    },
                ],
                windows: vec![WindowRow {
                    rule: 0,
                    start_ms: 0,
                    successes: 10.0,
                    failures: 1.0,
                }],
                emitters: vec![],
                ..TickReport::default()
            };
            db.apply(&report, &names(), 0).unwrap();
            // A later "up" for a slot already down stays down.
            let again = TickReport {
                ledger: vec![LedgerRow {
                    sla: 0,
                    slot_ms: 120_000,
                    state: SlotState::Up,
                }],
                ..TickReport::default()
            };
            db.apply(&again, &names(), 0).unwrap();
        }
        let db = Db::open(&path).unwrap();
        let loaded = db.load(100_000, 0).unwrap();
        assert_eq!(loaded.open_alerts.len(), 1);
        assert_eq!(loaded.windows, vec![("send".to_owned(), 0, 10.0, 1.0)]);
        assert_eq!(
            db.ledger(Some("core"), 0, 1_000_000).unwrap(),
            vec![
                ("core".to_owned(), 60_000, SlotState::Up),
                ("core".to_owned(), 120_000, SlotState::Down)
            ]
        );
        assert_eq!(db.count("alerts").unwrap(), 1);
        drop(db);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_ledger_written_before_slot_states_reads_as_up_and_down() {
        let path = std::env::temp_dir().join(format!("hb-watch-db-v0-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE ledger (sla TEXT NOT NULL, slot_ms INTEGER NOT NULL, up INTEGER NOT NULL,
                 PRIMARY KEY (sla, slot_ms)) WITHOUT ROWID;
                 INSERT INTO ledger VALUES ('core', 0, 1), ('core', 60000, 0);",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.ledger(Some("core"), 0, 1_000_000).unwrap(),
            vec![
                ("core".to_owned(), 0, SlotState::Up),
                ("core".to_owned(), 60_000, SlotState::Down)
            ]
        );
        drop(db);
        // Opened again: not migrated twice.
        let db = Db::open(&path).unwrap();
        assert_eq!(db.ledger(Some("core"), 0, 1).unwrap()[0].2, SlotState::Up);
        drop(db);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_read_only_database_refuses_the_tick() {
        let mut db = Db::in_memory().unwrap();
        db.apply(&TickReport::default(), &Names::default(), 1)
            .unwrap();
        db.set_read_only(true).unwrap();
        let e = db
            .apply(&TickReport::default(), &Names::default(), 2)
            .unwrap_err();
        assert!(
            e.to_string().contains("state database: writing the tick"),
            "{e}"
        );
        db.set_read_only(false).unwrap();
        db.apply(&TickReport::default(), &Names::default(), 3)
            .unwrap();
        assert_eq!(db.last_tick_ms().unwrap(), Some(3));
    }

    #[test]
    fn a_resolved_alert_is_no_longer_open() {
        let mut db = Db::in_memory().unwrap();
        for status in [AlertStatus::Firing, AlertStatus::Resolved] {
            let report = TickReport {
                events: vec![alert(status)],
                ..TickReport::default()
            };
            db.apply(&report, &Names::default(), 0).unwrap();
        }
        assert!(db.load(0, 0).unwrap().open_alerts.is_empty());
        assert_eq!(db.alerts(0, 10_000).unwrap().len(), 1);
    }

    #[test]
    fn history_is_kept_for_its_retention_and_then_pruned() {
        use crate::state::{DeployRow, HistoryRow};
        const DAY: i64 = 86_400_000;
        let mut db = Db::in_memory().unwrap();
        db.set_history_keep(std::time::Duration::from_secs(86_400));
        let row = |start_ms: i64, key: &str| HistoryRow {
            rule: "send".into(),
            key: key.into(),
            value: if key.is_empty() {
                String::new()
            } else {
                "acme".into()
            },
            start_ms,
            successes: 9.0,
            failures: 1.0,
            band: key.is_empty().then_some((10.0, 6.0, 14.0)),
        };
        let report = TickReport {
            history: vec![row(0, ""), row(0, "heartbeat.tenant")],
            deploys: vec![DeployRow {
                service: "svc".into(),
                at_ms: 0,
                version: "2.0".into(),
                previous: Some("1.0".into()),
            }],
            ..TickReport::default()
        };
        db.apply(&report, &names(), 0).unwrap();
        assert_eq!(
            db.history("send", "", 0, DAY).unwrap(),
            vec![(String::new(), 0, 9.0, 1.0, Some((10.0, 6.0, 14.0)))]
        );
        assert_eq!(
            db.history("send", "heartbeat.tenant", 0, DAY)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(db.deploys(0, DAY).unwrap().len(), 1);
        // Two days later, with a new window: the old rows are gone, the new one stays.
        let later = TickReport {
            history: vec![row(2 * DAY, "")],
            ..TickReport::default()
        };
        db.apply(&later, &names(), 2 * DAY).unwrap();
        assert_eq!(db.count("history").unwrap(), 1);
        assert!(db.deploys(0, 3 * DAY).unwrap().is_empty());
        assert_eq!(db.history("send", "", 0, 3 * DAY).unwrap()[0].1, 2 * DAY);
    }
}
