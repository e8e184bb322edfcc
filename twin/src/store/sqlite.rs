//! The embedded store: one SQLite file (bundled SQLite, WAL journal), with
//! samples in a narrow table keyed by integer ids of VIN and path and by
//! time, clustered so that one signal's range is one index range.
//!
//! ```sql
//! samples(vehicle, signal, t, value)   PRIMARY KEY (vehicle, signal, t), WITHOUT ROWID
//! events(vehicle, t, type, body)       command outcomes: commands(vehicle, t, id, path, ...)
//! vehicles(id, vin), signals(id, path) documents(vehicle, body)
//! captures(vehicle, id, rule, ..., complete, plugins)  capture_chunks(vehicle, id, chunk, data)
//! ```
//!
//! One connection writes (the writer thread's batches), another reads, so
//! queries never wait for a batch: WAL lets them read the last committed
//! state meanwhile.

use super::{
    CaptureInfo, CaptureMeta, CaptureQuery, EventQuery, PendingCapture, Record, Store,
    StoredCommand,
};
use crate::TwinError;
use crate::clock::Millis;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tcu_engine::catalog::Catalog;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS vehicles (id INTEGER PRIMARY KEY, vin TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS signals (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS samples (
    vehicle INTEGER NOT NULL, signal INTEGER NOT NULL, t INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (vehicle, signal, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    vehicle INTEGER NOT NULL, t INTEGER NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_vehicle ON events (vehicle, t);
CREATE INDEX IF NOT EXISTS events_by_time ON events (t);
CREATE TABLE IF NOT EXISTS commands (
    vehicle INTEGER NOT NULL, t INTEGER NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL,
    value TEXT NOT NULL, state TEXT NOT NULL, reason TEXT
);
CREATE INDEX IF NOT EXISTS commands_by_vehicle ON commands (vehicle, t);
CREATE INDEX IF NOT EXISTS commands_by_time ON commands (t);
CREATE TABLE IF NOT EXISTS documents (vehicle INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS captures (
    vehicle INTEGER NOT NULL, id TEXT NOT NULL, rule TEXT NOT NULL, trigger_tick INTEGER NOT NULL,
    trigger_t REAL NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL, t INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0, completed_t INTEGER, plugins TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (vehicle, id)
);
CREATE INDEX IF NOT EXISTS captures_by_time ON captures (t);
CREATE TABLE IF NOT EXISTS capture_chunks (
    vehicle INTEGER NOT NULL, id TEXT NOT NULL, chunk INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (vehicle, id, chunk)
) WITHOUT ROWID;
";

/// The writing side: its connection and the id caches.
#[derive(Debug)]
struct WriteSide {
    conn: Connection,
    vins: HashMap<Arc<str>, i64>,
    /// Database id of each catalog signal, by `SignalId` index.
    signals: Vec<Option<i64>>,
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    catalog: Arc<Catalog>,
    write: Mutex<WriteSide>,
    read: Mutex<Connection>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, catalog: Arc<Catalog>) -> Result<Self, TwinError> {
        let err = |e: rusqlite::Error| TwinError::Store {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let open = || -> Result<Connection, rusqlite::Error> {
            let c = Connection::open(path)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            // WAL with NORMAL is durable across a process crash; a power cut
            // may lose the last batch, which the vehicles' seqs show.
            c.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(c)
        };
        let conn = open().map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let read = open().map_err(err)?;
        Ok(Self {
            path: path.to_owned(),
            write: Mutex::new(WriteSide {
                conn,
                vins: HashMap::new(),
                signals: vec![None; catalog.len()],
            }),
            catalog,
            read: Mutex::new(read),
        })
    }

    fn err(&self, e: rusqlite::Error) -> TwinError {
        TwinError::Store {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

fn vehicle_id(w: &mut WriteSide, vin: &Arc<str>) -> Result<i64, rusqlite::Error> {
    if let Some(&id) = w.vins.get(vin) {
        return Ok(id);
    }
    w.conn
        .prepare_cached("INSERT OR IGNORE INTO vehicles (vin) VALUES (?1)")?
        .execute([&**vin])?;
    let id = w
        .conn
        .prepare_cached("SELECT id FROM vehicles WHERE vin = ?1")?
        .query_row([&**vin], |r| r.get(0))?;
    w.vins.insert(vin.clone(), id);
    Ok(id)
}

fn signal_id(
    w: &mut WriteSide,
    catalog: &Catalog,
    sig: tcu_engine::catalog::SignalId,
) -> Result<i64, rusqlite::Error> {
    if let Some(Some(id)) = w.signals.get(sig.index()) {
        return Ok(*id);
    }
    let path = catalog.meta(sig).path.as_str();
    w.conn
        .prepare_cached("INSERT OR IGNORE INTO signals (path) VALUES (?1)")?
        .execute([path])?;
    let id = w
        .conn
        .prepare_cached("SELECT id FROM signals WHERE path = ?1")?
        .query_row([path], |r| r.get(0))?;
    if let Some(slot) = w.signals.get_mut(sig.index()) {
        *slot = Some(id);
    }
    Ok(id)
}

fn write_batch(
    w: &mut WriteSide,
    catalog: &Catalog,
    batch: &[Record],
) -> Result<(), rusqlite::Error> {
    w.conn.execute_batch("BEGIN")?;
    let result = (|| {
        // Ids first (they may insert), so that the inserts below run on
        // statements prepared once per batch.
        for r in batch {
            let vin = match r {
                Record::Samples { vin, values, .. } => {
                    for &(sig, _) in values {
                        signal_id(w, catalog, sig)?;
                    }
                    vin
                }
                other => other.vin(),
            };
            vehicle_id(w, vin)?;
        }
        let w = &*w;
        let vehicle = |vin: &Arc<str>| {
            w.vins
                .get(vin)
                .copied()
                .ok_or(rusqlite::Error::QueryReturnedNoRows)
        };
        let mut samples = w.conn.prepare_cached(
            "INSERT OR REPLACE INTO samples (vehicle, signal, t, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut events = w.conn.prepare_cached(
            "INSERT INTO events (vehicle, t, type, body) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut commands = w.conn.prepare_cached(
            "INSERT INTO commands (vehicle, t, id, path, value, state, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut documents = w
            .conn
            .prepare_cached("INSERT OR REPLACE INTO documents (vehicle, body) VALUES (?1, ?2)")?;
        let mut capture = w.conn.prepare_cached(
            "INSERT OR IGNORE INTO captures (vehicle, id, rule, trigger_tick, trigger_t, bytes, chunks, t) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut chunk = w.conn.prepare_cached(
            "INSERT OR IGNORE INTO capture_chunks (vehicle, id, chunk, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut complete = w.conn.prepare_cached(
            "UPDATE captures SET complete = 1, completed_t = ?3, plugins = ?4 \
             WHERE vehicle = ?1 AND id = ?2 AND complete = 0",
        )?;
        // Samples in key order: each page of the table is then written
        // once per batch instead of once per message (the messages of a
        // fleet touch every vehicle's and signal's page in turn), which
        // made an insert three times cheaper once the table outgrew the
        // page cache. The sort is stable, so of two samples with the same
        // key the later one is still written last and kept.
        let mut rows: Vec<(i64, i64, Millis, f64)> = Vec::new();
        for r in batch {
            if let Record::Samples { vin, t, values, .. } = r {
                let v = vehicle(vin)?;
                rows.reserve(values.len());
                for &(sig, value) in values {
                    let s = w
                        .signals
                        .get(sig.index())
                        .copied()
                        .flatten()
                        .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    rows.push((v, s, *t, value));
                }
            }
        }
        rows.sort_by_key(|&(v, s, t, _)| (v, s, t));
        for (v, s, t, value) in rows {
            samples.execute(params![v, s, t, value])?;
        }
        for r in batch {
            match r {
                Record::Samples { .. } => {}
                Record::Event { vin, t, kind, body } => {
                    events.execute(params![vehicle(vin)?, t, kind, body])?;
                }
                Record::Command { vin, outcome } => {
                    commands.execute(params![
                        vehicle(vin)?,
                        outcome.t,
                        outcome.command_id,
                        outcome.path,
                        outcome.value.to_string(),
                        outcome.state.as_str(),
                        outcome.reason
                    ])?;
                }
                Record::Document { vin, body } => {
                    documents.execute(params![vehicle(vin)?, body])?;
                }
                Record::CaptureChunk {
                    vin,
                    meta,
                    t,
                    chunk: index,
                    data,
                } => {
                    let v = vehicle(vin)?;
                    capture.execute(params![
                        v,
                        meta.id,
                        meta.rule,
                        i64::try_from(meta.trigger_tick).unwrap_or(i64::MAX),
                        meta.trigger_t,
                        i64::try_from(meta.bytes).unwrap_or(i64::MAX),
                        meta.chunks,
                        t
                    ])?;
                    chunk.execute(params![v, meta.id, index, data])?;
                }
                Record::CaptureComplete {
                    vin,
                    id,
                    t,
                    plugins,
                } => {
                    complete.execute(params![vehicle(vin)?, id, t, plugins])?;
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => w.conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = w.conn.execute_batch("ROLLBACK");
            // Ids cached in the rolled-back transaction are gone.
            w.vins.clear();
            w.signals.iter_mut().for_each(|s| *s = None);
            Err(e)
        }
    }
}

/// The columns [`capture_row`] reads.
const CAPTURE_SELECT: &str = "SELECT v.vin, c.id, c.rule, c.trigger_tick, c.trigger_t, c.bytes, c.chunks, \
     (SELECT COUNT(*) FROM capture_chunks k WHERE k.vehicle = c.vehicle AND k.id = c.id), \
     c.complete, COALESCE(c.completed_t, c.t), c.plugins \
     FROM captures c JOIN vehicles v ON v.id = c.vehicle";

fn capture_row(r: &rusqlite::Row<'_>) -> Result<CaptureInfo, rusqlite::Error> {
    let plugins: String = r.get(10)?;
    Ok(CaptureInfo {
        vin: r.get(0)?,
        meta: CaptureMeta {
            id: r.get(1)?,
            rule: r.get(2)?,
            trigger_tick: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            trigger_t: r.get(4)?,
            bytes: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            chunks: r.get(6)?,
        },
        received_chunks: r.get(7)?,
        complete: r.get::<_, i64>(8)? != 0,
        received: r.get(9)?,
        plugins: CaptureInfo::parse_plugins(&plugins),
    })
}

impl SqliteStore {
    fn ids(
        &self,
        conn: &Connection,
        vin: &str,
        path: &str,
    ) -> Result<Option<(i64, i64)>, rusqlite::Error> {
        let v: Option<i64> = conn
            .prepare_cached("SELECT id FROM vehicles WHERE vin = ?1")?
            .query_row([vin], |r| r.get(0))
            .optional()?;
        let s: Option<i64> = conn
            .prepare_cached("SELECT id FROM signals WHERE path = ?1")?
            .query_row([path], |r| r.get(0))
            .optional()?;
        Ok(v.zip(s))
    }

    fn vehicle(&self, conn: &Connection, vin: &str) -> Result<Option<i64>, rusqlite::Error> {
        conn.prepare_cached("SELECT id FROM vehicles WHERE vin = ?1")?
            .query_row([vin], |r| r.get(0))
            .optional()
    }
}

impl Store for SqliteStore {
    fn write(&self, batch: &[Record]) -> Result<(), TwinError> {
        let mut w = lock(&self.write);
        write_batch(&mut w, &self.catalog, batch).map_err(|e| self.err(e))
    }

    fn documents(&self) -> Result<Vec<String>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<String>, rusqlite::Error> {
            let mut st = conn.prepare("SELECT body FROM documents ORDER BY vehicle")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    fn scan(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(Millis, f64) -> bool,
    ) -> Result<(), TwinError> {
        let conn = lock(&self.read);
        let mut run = || -> Result<(), rusqlite::Error> {
            let Some((v, s)) = self.ids(&conn, vin, path)? else {
                return Ok(());
            };
            let mut st = conn.prepare_cached(
                "SELECT t, value FROM samples WHERE vehicle = ?1 AND signal = ?2 AND t >= ?3 AND t < ?4 ORDER BY t",
            )?;
            let mut rows = st.query(params![v, s, from, to])?;
            while let Some(row) = rows.next()? {
                if !f(row.get(0)?, row.get(1)?) {
                    break;
                }
            }
            Ok(())
        };
        run().map_err(|e| self.err(e))
    }

    fn signals(&self, vin: &str) -> Result<Vec<String>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<String>, rusqlite::Error> {
            let Some(v) = self.vehicle(&conn, vin)? else {
                return Ok(Vec::new());
            };
            // One probe per known path: each an index lookup, where a
            // DISTINCT over the samples would read all of them.
            let mut st = conn.prepare_cached(
                "SELECT path FROM signals s WHERE EXISTS (SELECT 1 FROM samples WHERE vehicle = ?1 AND signal = s.id) ORDER BY path",
            )?;
            let rows = st.query_map([v], |r| r.get(0))?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    fn events(&self, vin: &str, q: &EventQuery) -> Result<Vec<Json>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<Json>, rusqlite::Error> {
            let Some(v) = self.vehicle(&conn, vin)? else {
                return Ok(Vec::new());
            };
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let mut st = conn.prepare_cached(
                "SELECT body FROM (SELECT t, rowid AS r, body FROM events WHERE vehicle = ?1 AND t >= ?2 AND t < ?3 \
                 AND (?4 IS NULL OR type = ?4) ORDER BY t DESC, r DESC LIMIT ?5) ORDER BY t, r",
            )?;
            let rows = st.query_map(params![v, q.from, q.to, q.kind, limit], |r| {
                r.get::<_, String>(0)
            })?;
            let mut out = Vec::new();
            for body in rows {
                out.push(serde_json::from_str(&body?).unwrap_or(Json::Null));
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    fn commands(
        &self,
        vin: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<StoredCommand>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<StoredCommand>, rusqlite::Error> {
            let Some(v) = self.vehicle(&conn, vin)? else {
                return Ok(Vec::new());
            };
            let mut st = conn.prepare_cached(
                "SELECT t, id, path, value, state, reason FROM commands WHERE vehicle = ?1 AND t >= ?2 AND t < ?3 ORDER BY t, rowid",
            )?;
            let rows = st.query_map(params![v, from, to], |r| {
                let value: String = r.get(3)?;
                Ok(StoredCommand {
                    t: r.get(0)?,
                    id: r.get(1)?,
                    path: r.get(2)?,
                    value: serde_json::from_str(&value).unwrap_or(Json::Null),
                    state: r.get(4)?,
                    reason: r.get(5)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    fn captures(&self, q: &CaptureQuery) -> Result<Vec<CaptureInfo>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<CaptureInfo>, rusqlite::Error> {
            let mut st = conn.prepare_cached(&format!(
                "{CAPTURE_SELECT} WHERE (?1 IS NULL OR v.vin = ?1) ORDER BY c.t, c.id"
            ))?;
            let rows = st.query_map([&q.vin], capture_row)?;
            let mut out = Vec::new();
            for c in rows {
                let c = c?;
                if q.admits(&c) {
                    out.push(c);
                }
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    fn incomplete_captures(&self) -> Result<Vec<PendingCapture>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Vec<PendingCapture>, rusqlite::Error> {
            let mut st = conn.prepare_cached(&format!(
                "{CAPTURE_SELECT} WHERE c.complete = 0 ORDER BY c.t, c.id"
            ))?;
            let infos = st
                .query_map([], capture_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let mut parts = conn.prepare_cached(
                "SELECT k.chunk, k.data FROM capture_chunks k JOIN vehicles v ON v.id = k.vehicle \
                 WHERE v.vin = ?1 AND k.id = ?2 ORDER BY k.chunk",
            )?;
            let mut out = Vec::with_capacity(infos.len());
            for info in infos {
                let rows = parts.query_map([&info.vin, &info.meta.id], |r| {
                    Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
                })?;
                out.push(PendingCapture {
                    parts: rows.collect::<Result<_, _>>()?,
                    vin: info.vin,
                    meta: info.meta,
                });
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    fn capture_file(
        &self,
        vin: &str,
        id: &str,
    ) -> Result<Option<(CaptureInfo, Option<String>)>, TwinError> {
        let conn = lock(&self.read);
        let run = || -> Result<Option<(CaptureInfo, Option<String>)>, rusqlite::Error> {
            let mut st =
                conn.prepare_cached(&format!("{CAPTURE_SELECT} WHERE v.vin = ?1 AND c.id = ?2"))?;
            let Some(info) = st.query_row([vin, id], capture_row).optional()? else {
                return Ok(None);
            };
            if !info.complete {
                return Ok(Some((info, None)));
            }
            let mut st = conn.prepare_cached(
                "SELECT k.data FROM capture_chunks k JOIN vehicles v ON v.id = k.vehicle \
                 WHERE v.vin = ?1 AND k.id = ?2 ORDER BY k.chunk",
            )?;
            let mut file = String::new();
            let rows = st.query_map([vin, id], |r| r.get::<_, String>(0))?;
            for part in rows {
                file.push_str(&part?);
            }
            Ok(Some((info, Some(file))))
        };
        run().map_err(|e| self.err(e))
    }

    fn prune(&self, before: Millis) -> Result<u64, TwinError> {
        let w = lock(&self.write);
        let run = || -> Result<u64, rusqlite::Error> {
            let mut gone = 0;
            w.conn.execute_batch("BEGIN")?;
            // Per (vehicle, signal): each delete is one range of the key.
            let pairs: Vec<(i64, i64)> = {
                let mut st = w
                    .conn
                    .prepare("SELECT v.id, s.id FROM vehicles v, signals s")?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            {
                let mut del = w.conn.prepare_cached(
                    "DELETE FROM samples WHERE vehicle = ?1 AND signal = ?2 AND t < ?3",
                )?;
                for (v, s) in pairs {
                    gone += del.execute(params![v, s, before])? as u64;
                }
            }
            gone += w
                .conn
                .execute("DELETE FROM events WHERE t < ?1", [before])? as u64;
            gone += w
                .conn
                .execute("DELETE FROM commands WHERE t < ?1", [before])? as u64;
            w.conn.execute(
                "DELETE FROM capture_chunks WHERE (vehicle, id) IN (SELECT vehicle, id FROM captures WHERE t < ?1)",
                [before],
            )?;
            gone += w
                .conn
                .execute("DELETE FROM captures WHERE t < ?1", [before])? as u64;
            w.conn.execute_batch("COMMIT")?;
            Ok(gone)
        };
        let r = run();
        if r.is_err() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        r.map_err(|e| self.err(e))
    }

    fn size_bytes(&self) -> u64 {
        let file = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        file(&self.path) + file(Path::new(&wal))
    }
}
