//! The shared store: one PostgreSQL database that several twins write and
//! read, so that each of them serves the whole fleet (see "Several twins"
//! in `docs/TWIN.md`). Same tables and semantics as the SQLite store, plus:
//!
//! ```sql
//! ingested(vehicle, seq, t, instance)    one row per telemetry message, by the twin that took it
//! documents(vehicle, instance, stamp, body)  one checkpoint per vehicle and twin; `stamp`
//!                                        from a sequence, so a twin reads only what changed
//! commands(..) UNIQUE (vehicle, command, path, state)  an outcome two twins saw is kept once
//! tcu_twin_schema(version)               migrations applied, under an advisory lock
//! ```
//!
//! The client is the synchronous `postgres` crate: the store is used from
//! the writer thread and from blocking sections, never on the async
//! runtime. Ids of VINs and paths are allocated outside the batch
//! transactions (each insert commits at once), so two twins inserting the
//! same new vehicles in different orders never deadlock. A connection that
//! broke is opened again on the next call. Errors name the URL without
//! its password.

use super::{
    CaptureInfo, CaptureMeta, CaptureQuery, EventQuery, PendingCapture, Record, Store,
    StoredCommand,
};
use crate::TwinError;
use crate::clock::Millis;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tcu_engine::catalog::{Catalog, SignalId};

/// Schema migrations, in order; `tcu_twin_schema.version` counts those
/// applied. A new version appends one, never edits an old one.
const MIGRATIONS: &[&str] = &["
CREATE TABLE vehicles (id BIGSERIAL PRIMARY KEY, vin TEXT NOT NULL UNIQUE);
CREATE TABLE signals (id BIGSERIAL PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE samples (
    vehicle BIGINT NOT NULL, signal BIGINT NOT NULL, t BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vehicle, signal, t)
);
CREATE INDEX samples_by_time ON samples USING brin (t);
CREATE TABLE ingested (vehicle BIGINT NOT NULL, seq BIGINT NOT NULL, t BIGINT NOT NULL, instance TEXT NOT NULL);
CREATE INDEX ingested_by_vehicle ON ingested (vehicle, seq);
CREATE INDEX ingested_by_time ON ingested USING brin (t);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY, vehicle BIGINT NOT NULL, t BIGINT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX events_by_vehicle ON events (vehicle, t);
CREATE INDEX events_by_time ON events (t);
CREATE TABLE commands (
    id BIGSERIAL PRIMARY KEY, vehicle BIGINT NOT NULL, t BIGINT NOT NULL, command TEXT NOT NULL,
    path TEXT NOT NULL, value TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
    UNIQUE (vehicle, command, path, state)
);
CREATE INDEX commands_by_vehicle ON commands (vehicle, t);
CREATE INDEX commands_by_time ON commands (t);
CREATE SEQUENCE document_stamps;
CREATE TABLE documents (
    vehicle BIGINT NOT NULL, instance TEXT NOT NULL, stamp BIGINT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (vehicle, instance)
);
CREATE INDEX documents_by_stamp ON documents (instance, stamp);
", "
CREATE TABLE captures (
    vehicle BIGINT NOT NULL, id TEXT NOT NULL, rule TEXT NOT NULL, trigger_tick BIGINT NOT NULL,
    trigger_t DOUBLE PRECISION NOT NULL, bytes BIGINT NOT NULL, chunks BIGINT NOT NULL, t BIGINT NOT NULL,
    complete BOOLEAN NOT NULL DEFAULT false, completed_t BIGINT, plugins TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (vehicle, id)
);
CREATE INDEX captures_by_time ON captures (t);
CREATE TABLE capture_chunks (
    vehicle BIGINT NOT NULL, id TEXT NOT NULL, chunk BIGINT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (vehicle, id, chunk)
);
"];

/// Key of the advisory lock that serialises migrations of twins starting
/// together ("tcutwin" in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_6375_7477_696e;

/// Where the database is: its URL and the password from elsewhere (the
/// environment or a file), which takes precedence over one in the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// `postgres://user@host[:port]/database[?options]` as configured.
    pub url: String,
    /// The password, if not in the URL.
    pub password: Option<String>,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &redact(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Whether `s` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `url` without the password of its user information.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

impl PgTarget {
    /// The client configuration; the error says what is wrong with the
    /// URL (never repeating its password).
    pub fn config(&self) -> Result<postgres::Config, String> {
        let mut c = postgres::Config::from_str(&self.url).map_err(|e| e.to_string())?;
        if let Some(pw) = &self.password {
            c.password(pw);
        }
        if c.get_connect_timeout().is_none() {
            c.connect_timeout(Duration::from_secs(10));
        }
        if c.get_application_name().is_none() {
            c.application_name("tcu-twin");
        }
        Ok(c)
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

/// The writing side: its connection and the id caches (ids committed at
/// once, so they stay valid whatever happens to a batch).
struct WriteSide {
    conn: Option<Conn>,
    vins: HashMap<Arc<str>, i64>,
    /// Database id of each catalog signal, by `SignalId` index.
    signals: Vec<Option<i64>>,
}

/// The PostgreSQL store of one twin (`instance`, its MQTT client id).
pub struct PostgresStore {
    url: String,
    config: postgres::Config,
    instance: String,
    catalog: Arc<Catalog>,
    write: Mutex<WriteSide>,
    read: Mutex<Option<Conn>>,
    /// The newest stamp read of each peer's checkpoints.
    marks: Mutex<HashMap<String, i64>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics inside
        // another one (the twin's last reference may go on its runtime):
        // the connections are closed on a thread of their own.
        let write = lock(&self.write).conn.take();
        let read = lock(&self.read).take();
        let closing = std::thread::Builder::new()
            .name("twin-pg-close".into())
            .spawn(move || drop((write, read)));
        if let Ok(t) = closing {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

const VEHICLE_ID: &str = "WITH ins AS (INSERT INTO vehicles (vin) VALUES ($1) ON CONFLICT (vin) DO NOTHING RETURNING id) \
     SELECT id FROM ins UNION ALL SELECT id FROM vehicles WHERE vin = $1 LIMIT 1";
const SIGNAL_ID: &str = "WITH ins AS (INSERT INTO signals (path) VALUES ($1) ON CONFLICT (path) DO NOTHING RETURNING id) \
     SELECT id FROM ins UNION ALL SELECT id FROM signals WHERE path = $1 LIMIT 1";
const FIND_VEHICLE: &str = "SELECT id FROM vehicles WHERE vin = $1";
const FIND_SIGNAL: &str = "SELECT id FROM signals WHERE path = $1";

impl PostgresStore {
    /// Connects to `target` as twin `instance`, creating or migrating the
    /// schema.
    pub fn open(
        target: &PgTarget,
        instance: &str,
        catalog: Arc<Catalog>,
    ) -> Result<Self, TwinError> {
        let url = redact(&target.url);
        let config = target.config().map_err(|message| TwinError::Store {
            path: PathBuf::from(&url),
            message: format!("bad URL: {message}"),
        })?;
        let store = Self {
            write: Mutex::new(WriteSide {
                conn: None,
                vins: HashMap::new(),
                signals: vec![None; catalog.len()],
            }),
            read: Mutex::new(None),
            marks: Mutex::new(HashMap::new()),
            url,
            config,
            instance: instance.to_owned(),
            catalog,
        };
        let mut conn = store.connect("connect")?;
        migrate(&mut conn.client).map_err(|e| store.err("schema migration", e))?;
        lock(&store.write).conn = Some(conn);
        Ok(store)
    }

    fn err(&self, what: &str, e: impl fmt::Display) -> TwinError {
        TwinError::Store {
            path: PathBuf::from(&self.url),
            message: format!("{what}: {e}"),
        }
    }

    fn pg_err(&self, what: &str, e: &postgres::Error) -> TwinError {
        // The database's own message (and its detail) says most; the
        // client's Display alone is often just "db error".
        match e.as_db_error() {
            Some(db) => self.err(what, format_args!("{}: {}", db.code().code(), db.message())),
            None => self.err(what, e),
        }
    }

    fn connect(&self, what: &str) -> Result<Conn, TwinError> {
        let client = self
            .config
            .connect(NoTls)
            .map_err(|e| self.pg_err(what, &e))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    /// The open connection in `slot`, opened (again) when there is none or
    /// it broke.
    fn conn<'a>(&self, slot: &'a mut Option<Conn>) -> Result<&'a mut Conn, TwinError> {
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = Some(self.connect("reconnect")?);
        }
        slot.as_mut()
            .ok_or_else(|| self.err("connect", "no connection"))
    }

    /// Runs `f` on the reading connection.
    fn reading<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, TwinError> {
        let mut slot = lock(&self.read);
        let conn = self.conn(&mut slot)?;
        f(conn).map_err(|e| self.pg_err(what, &e))
    }

    /// Ids of `vin` and `path`, if both were ever stored.
    fn ids(conn: &mut Conn, vin: &str, path: &str) -> Result<Option<(i64, i64)>, postgres::Error> {
        let (fv, fs) = (conn.statement(FIND_VEHICLE)?, conn.statement(FIND_SIGNAL)?);
        let v = conn.client.query_opt(&fv, &[&vin])?.map(|r| r.get(0));
        let s = conn.client.query_opt(&fs, &[&path])?.map(|r| r.get(0));
        Ok(v.zip(s))
    }

    fn vehicle(conn: &mut Conn, vin: &str) -> Result<Option<i64>, postgres::Error> {
        let st = conn.statement(FIND_VEHICLE)?;
        Ok(conn.client.query_opt(&st, &[&vin])?.map(|r| r.get(0)))
    }
}

fn migrate(client: &mut Client) -> Result<(), String> {
    let mut tx = client.transaction().map_err(|e| e.to_string())?;
    let run = |tx: &mut postgres::Transaction<'_>| -> Result<(), postgres::Error> {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS tcu_twin_schema (version INTEGER NOT NULL)")?;
        if tx
            .query_opt("SELECT version FROM tcu_twin_schema", &[])?
            .is_none()
        {
            tx.execute("INSERT INTO tcu_twin_schema (version) VALUES (0)", &[])?;
        }
        Ok(())
    };
    run(&mut tx).map_err(|e| e.to_string())?;
    let version: i32 = tx
        .query_one("SELECT version FROM tcu_twin_schema", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let known = MIGRATIONS.len();
    let applied = usize::try_from(version).unwrap_or(usize::MAX);
    if applied > known {
        return Err(format!(
            "the database's schema is version {version}, newer than the {known} this twin knows; \
             use a newer tcu-twin"
        ));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)
            .map_err(|e| format!("migration {}: {e}", n + 1))?;
    }
    let now = i32::try_from(known).unwrap_or(i32::MAX);
    tx.execute("UPDATE tcu_twin_schema SET version = $1", &[&now])
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

/// The id `upsert` (one of [`VEHICLE_ID`], [`SIGNAL_ID`]) gives `key`.
///
/// When another twin inserted the same key in a transaction that had not
/// committed yet, the insert waits for it and then does nothing, and the
/// lookup in the same statement still reads the snapshot from before that
/// commit: no row. The next statement sees the committed row, so the
/// lookup is repeated (a few times, for a key contended again and again).
fn upsert_id(conn: &mut Conn, upsert: &'static str, key: &str) -> Result<i64, postgres::Error> {
    let st = conn.statement(upsert)?;
    for _ in 0..4 {
        if let Some(row) = conn.client.query_opt(&st, &[&key])? {
            return Ok(row.get(0));
        }
    }
    // Still nothing: let the driver's own error say so.
    Ok(conn.client.query_one(&st, &[&key])?.get(0))
}

fn vehicle_id(w: &mut WriteSide, conn: &mut Conn, vin: &Arc<str>) -> Result<i64, postgres::Error> {
    if let Some(&id) = w.vins.get(vin) {
        return Ok(id);
    }
    let id = upsert_id(conn, VEHICLE_ID, vin)?;
    w.vins.insert(vin.clone(), id);
    Ok(id)
}

fn signal_id(
    w: &mut WriteSide,
    conn: &mut Conn,
    catalog: &Catalog,
    sig: SignalId,
) -> Result<i64, postgres::Error> {
    if let Some(Some(id)) = w.signals.get(sig.index()) {
        return Ok(*id);
    }
    let id = upsert_id(conn, SIGNAL_ID, catalog.meta(sig).path.as_str())?;
    if let Some(slot) = w.signals.get_mut(sig.index()) {
        *slot = Some(id);
    }
    Ok(id)
}

/// Columns of the batch's samples and messages, ids resolved.
#[derive(Default)]
struct Columns {
    vehicle: Vec<i64>,
    signal: Vec<i64>,
    t: Vec<i64>,
    value: Vec<f64>,
    msg_vehicle: Vec<i64>,
    msg_seq: Vec<i64>,
    msg_t: Vec<i64>,
}

fn columns(
    w: &mut WriteSide,
    conn: &mut Conn,
    catalog: &Catalog,
    batch: &[Record],
) -> Result<Columns, postgres::Error> {
    let mut rows: Vec<(i64, i64, Millis, f64)> = Vec::new();
    let mut c = Columns::default();
    for r in batch {
        if let Record::Samples {
            vin,
            t,
            seq,
            values,
        } = r
        {
            let v = vehicle_id(w, conn, vin)?;
            for &(sig, value) in values {
                rows.push((v, signal_id(w, conn, catalog, sig)?, *t, value));
            }
            c.msg_vehicle.push(v);
            c.msg_seq.push(i64::try_from(*seq).unwrap_or(i64::MAX));
            c.msg_t.push(*t);
        }
    }
    // One statement may not write a key twice: of equal keys the later
    // sample is kept (the sort is stable), as SQLite's replace keeps it.
    rows.sort_by_key(|&(v, s, t, _)| (v, s, t));
    let mut kept: Vec<(i64, i64, Millis, f64)> = Vec::with_capacity(rows.len());
    for row in rows {
        match kept.last_mut() {
            Some(last) if (last.0, last.1, last.2) == (row.0, row.1, row.2) => *last = row,
            _ => kept.push(row),
        }
    }
    for (v, s, t, value) in kept {
        c.vehicle.push(v);
        c.signal.push(s);
        c.t.push(t);
        c.value.push(value);
    }
    Ok(c)
}

fn capture_row(r: &postgres::Row) -> CaptureInfo {
    CaptureInfo {
        vin: r.get(0),
        meta: CaptureMeta {
            id: r.get(1),
            rule: r.get(2),
            trigger_tick: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
            trigger_t: r.get(4),
            bytes: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
            chunks: u32::try_from(r.get::<_, i64>(6)).unwrap_or(0),
        },
        received_chunks: u32::try_from(r.get::<_, i64>(7)).unwrap_or(0),
        complete: r.get(8),
        received: r.get(9),
        plugins: CaptureInfo::parse_plugins(r.get::<_, &str>(10)),
    }
}

fn write_batch(
    w: &mut WriteSide,
    conn: &mut Conn,
    catalog: &Catalog,
    instance: &str,
    batch: &[Record],
) -> Result<(), postgres::Error> {
    // Ids first, each committed at once (outside the transaction below).
    for r in batch {
        match r {
            Record::Samples { .. } => {}
            other => {
                vehicle_id(w, conn, other.vin())?;
            }
        }
    }
    let c = columns(w, conn, catalog, batch)?;
    let samples = conn.statement(
        "INSERT INTO samples (vehicle, signal, t, value) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::float8[]) \
         ON CONFLICT (vehicle, signal, t) DO UPDATE SET value = excluded.value",
    )?;
    let ingested = conn.statement(
        "INSERT INTO ingested (vehicle, seq, t, instance) \
         SELECT v, s, t, $4 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS m(v, s, t)",
    )?;
    let events =
        conn.statement("INSERT INTO events (vehicle, t, type, body) VALUES ($1, $2, $3, $4)")?;
    let commands = conn.statement(
        "INSERT INTO commands (vehicle, t, command, path, value, state, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (vehicle, command, path, state) DO NOTHING",
    )?;
    let documents = conn.statement(
        "INSERT INTO documents (vehicle, instance, stamp, body) VALUES ($1, $2, nextval('document_stamps'), $3) \
         ON CONFLICT (vehicle, instance) DO UPDATE SET stamp = excluded.stamp, body = excluded.body",
    )?;
    let capture = conn.statement(
        "INSERT INTO captures (vehicle, id, rule, trigger_tick, trigger_t, bytes, chunks, t) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (vehicle, id) DO NOTHING",
    )?;
    let chunk = conn.statement(
        "INSERT INTO capture_chunks (vehicle, id, chunk, data) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (vehicle, id, chunk) DO NOTHING",
    )?;
    let complete = conn.statement(
        "UPDATE captures SET complete = true, completed_t = $3, plugins = $4 \
         WHERE vehicle = $1 AND id = $2 AND NOT complete",
    )?;
    let vehicle = |vin: &Arc<str>| w.vins.get(vin).copied().unwrap_or_default();
    let mut tx = conn.client.transaction()?;
    if !c.vehicle.is_empty() {
        tx.execute(&samples, &[&c.vehicle, &c.signal, &c.t, &c.value])?;
    }
    if !c.msg_vehicle.is_empty() {
        tx.execute(
            &ingested,
            &[&c.msg_vehicle, &c.msg_seq, &c.msg_t, &instance],
        )?;
    }
    for r in batch {
        match r {
            Record::Samples { .. } => {}
            Record::Event { vin, t, kind, body } => {
                tx.execute(&events, &[&vehicle(vin), t, kind, body])?;
            }
            Record::Command { vin, outcome } => {
                let params: [&(dyn ToSql + Sync); 7] = [
                    &vehicle(vin),
                    &outcome.t,
                    &outcome.command_id,
                    &outcome.path,
                    &outcome.value.to_string(),
                    &outcome.state.as_str(),
                    &outcome.reason,
                ];
                tx.execute(&commands, &params)?;
            }
            Record::Document { vin, body } => {
                tx.execute(&documents, &[&vehicle(vin), &instance, body])?;
            }
            Record::CaptureChunk {
                vin,
                meta,
                t,
                chunk: index,
                data,
            } => {
                let v = vehicle(vin);
                let params: [&(dyn ToSql + Sync); 8] = [
                    &v,
                    &meta.id,
                    &meta.rule,
                    &i64::try_from(meta.trigger_tick).unwrap_or(i64::MAX),
                    &meta.trigger_t,
                    &i64::try_from(meta.bytes).unwrap_or(i64::MAX),
                    &i64::from(meta.chunks),
                    t,
                ];
                tx.execute(&capture, &params)?;
                tx.execute(&chunk, &[&v, &meta.id, &i64::from(*index), data])?;
            }
            Record::CaptureComplete {
                vin,
                id,
                t,
                plugins,
            } => {
                tx.execute(&complete, &[&vehicle(vin), id, t, plugins])?;
            }
        }
    }
    tx.commit()
}

impl Store for PostgresStore {
    fn write(&self, batch: &[Record]) -> Result<(), TwinError> {
        let mut guard = lock(&self.write);
        let w = &mut *guard;
        let mut slot = w.conn.take();
        let result = self.conn(&mut slot).and_then(|conn| {
            write_batch(w, conn, &self.catalog, &self.instance, batch)
                .map_err(|e| self.pg_err("write", &e))
        });
        w.conn = slot;
        result
    }

    fn documents(&self) -> Result<Vec<String>, TwinError> {
        self.reading("documents", |c| {
            let st =
                c.statement("SELECT body FROM documents WHERE instance = $1 ORDER BY vehicle")?;
            let rows = c.client.query(&st, &[&self.instance])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn peer_documents(&self) -> Result<Vec<String>, TwinError> {
        let (names, stamps): (Vec<String>, Vec<i64>) = lock(&self.marks)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .unzip();
        // Per peer from its own mark: each twin's writer commits its
        // stamps in order, so nothing of a peer can commit below its mark
        // later (a single mark for all peers could skip one).
        let rows = self.reading("peer documents", |c| {
            let st = c.statement(
                "SELECT d.instance, d.stamp, d.body FROM documents d \
                 LEFT JOIN unnest($2::text[], $3::bigint[]) AS m(instance, stamp) ON m.instance = d.instance \
                 WHERE d.instance <> $1 AND d.stamp > COALESCE(m.stamp, 0) ORDER BY d.stamp",
            )?;
            c.client.query(&st, &[&self.instance, &names, &stamps])
        })?;
        let mut marks = lock(&self.marks);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (peer, stamp, body): (String, i64, String) = (r.get(0), r.get(1), r.get(2));
            let mark = marks.entry(peer).or_insert(0);
            *mark = (*mark).max(stamp);
            out.push(body);
        }
        Ok(out)
    }

    fn scan(
        &self,
        vin: &str,
        path: &str,
        from: Millis,
        to: Millis,
        f: &mut dyn FnMut(Millis, f64) -> bool,
    ) -> Result<(), TwinError> {
        self.reading("scan", |c| {
            let Some((v, s)) = Self::ids(c, vin, path)? else {
                return Ok(());
            };
            let st = c.statement(
                "SELECT t, value FROM samples WHERE vehicle = $1 AND signal = $2 AND t >= $3 AND t < $4 ORDER BY t",
            )?;
            let params: [&dyn ToSql; 4] = [&v, &s, &from, &to];
            let mut rows = c.client.query_raw(&st, params)?;
            while let Some(row) = rows.next()? {
                if !f(row.get(0), row.get(1)) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn signals(&self, vin: &str) -> Result<Vec<String>, TwinError> {
        self.reading("signals", |c| {
            let Some(v) = Self::vehicle(c, vin)? else {
                return Ok(Vec::new());
            };
            let st = c.statement(
                "SELECT path FROM signals s WHERE EXISTS (SELECT 1 FROM samples WHERE vehicle = $1 AND signal = s.id) ORDER BY path",
            )?;
            Ok(c.client.query(&st, &[&v])?.iter().map(|r| r.get(0)).collect())
        })
    }

    fn events(&self, vin: &str, q: &EventQuery) -> Result<Vec<Json>, TwinError> {
        self.reading("events", |c| {
            let Some(v) = Self::vehicle(c, vin)? else {
                return Ok(Vec::new());
            };
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let st = c.statement(
                "SELECT body FROM (SELECT id, t, body FROM events WHERE vehicle = $1 AND t >= $2 AND t < $3 \
                 AND ($4::text IS NULL OR type = $4) ORDER BY t DESC, id DESC LIMIT $5) e ORDER BY t, id",
            )?;
            let rows = c
                .client
                .query(&st, &[&v, &q.from, &q.to, &q.kind, &limit])?;
            Ok(rows
                .iter()
                .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap_or(Json::Null))
                .collect())
        })
    }

    fn commands(
        &self,
        vin: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<StoredCommand>, TwinError> {
        self.reading("commands", |c| {
            let Some(v) = Self::vehicle(c, vin)? else {
                return Ok(Vec::new());
            };
            let st = c.statement(
                "SELECT t, command, path, value, state, reason FROM commands \
                 WHERE vehicle = $1 AND t >= $2 AND t < $3 ORDER BY t, id",
            )?;
            let rows = c.client.query(&st, &[&v, &from, &to])?;
            Ok(rows
                .iter()
                .map(|r| StoredCommand {
                    t: r.get(0),
                    id: r.get(1),
                    path: r.get(2),
                    value: serde_json::from_str(r.get::<_, &str>(3)).unwrap_or(Json::Null),
                    state: r.get(4),
                    reason: r.get(5),
                })
                .collect())
        })
    }

    fn captures(&self, q: &CaptureQuery) -> Result<Vec<CaptureInfo>, TwinError> {
        self.reading("captures", |c| {
            let st = c.statement(
                "SELECT v.vin, c.id, c.rule, c.trigger_tick, c.trigger_t, c.bytes, c.chunks, \
                 (SELECT COUNT(*) FROM capture_chunks k WHERE k.vehicle = c.vehicle AND k.id = c.id), \
                 c.complete, COALESCE(c.completed_t, c.t), c.plugins \
                 FROM captures c JOIN vehicles v ON v.id = c.vehicle \
                 WHERE ($1::text IS NULL OR v.vin = $1) ORDER BY c.t, c.id",
            )?;
            let rows = c.client.query(&st, &[&q.vin])?;
            Ok(rows
                .iter()
                .map(capture_row)
                .filter(|c| q.admits(c))
                .collect())
        })
    }

    fn incomplete_captures(&self) -> Result<Vec<PendingCapture>, TwinError> {
        let incomplete: Vec<CaptureInfo> = self
            .captures(&CaptureQuery::default())?
            .into_iter()
            .filter(|c| !c.complete)
            .collect();
        self.reading("incomplete captures", |c| {
            let st = c.statement(
                "SELECT k.chunk, k.data FROM capture_chunks k JOIN vehicles v ON v.id = k.vehicle \
                 WHERE v.vin = $1 AND k.id = $2 ORDER BY k.chunk",
            )?;
            let mut out = Vec::with_capacity(incomplete.len());
            for info in incomplete {
                let rows = c.client.query(&st, &[&info.vin, &info.meta.id])?;
                out.push(PendingCapture {
                    parts: rows
                        .iter()
                        .map(|r| {
                            let chunk = u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX);
                            (chunk, r.get::<_, String>(1))
                        })
                        .collect(),
                    vin: info.vin,
                    meta: info.meta,
                });
            }
            Ok(out)
        })
    }

    fn capture_file(
        &self,
        vin: &str,
        id: &str,
    ) -> Result<Option<(CaptureInfo, Option<String>)>, TwinError> {
        let found = self.captures(&CaptureQuery {
            vin: Some(vin.to_owned()),
            ..Default::default()
        })?;
        let Some(info) = found.into_iter().find(|c| c.meta.id == id) else {
            return Ok(None);
        };
        if !info.complete {
            return Ok(Some((info, None)));
        }
        let file = self.reading("capture file", |c| {
            let st = c.statement(
                "SELECT k.data FROM capture_chunks k JOIN vehicles v ON v.id = k.vehicle \
                 WHERE v.vin = $1 AND k.id = $2 ORDER BY k.chunk",
            )?;
            let rows = c.client.query(&st, &[&vin, &id])?;
            Ok(rows.iter().map(|r| r.get::<_, &str>(0)).collect::<String>())
        })?;
        Ok(Some((info, Some(file))))
    }

    fn prune(&self, before: Millis) -> Result<u64, TwinError> {
        let mut guard = lock(&self.write);
        let conn = self.conn(&mut guard.conn)?;
        let run = |conn: &mut Conn| -> Result<u64, postgres::Error> {
            let mut tx = conn.client.transaction()?;
            let mut gone = 0;
            for table in ["samples", "events", "commands"] {
                gone += tx.execute(&format!("DELETE FROM {table} WHERE t < $1"), &[&before])?;
            }
            tx.execute("DELETE FROM ingested WHERE t < $1", &[&before])?;
            tx.execute(
                "DELETE FROM capture_chunks k USING captures c \
                 WHERE c.vehicle = k.vehicle AND c.id = k.id AND c.t < $1",
                &[&before],
            )?;
            gone += tx.execute("DELETE FROM captures WHERE t < $1", &[&before])?;
            tx.commit()?;
            Ok(gone)
        };
        run(conn).map_err(|e| self.pg_err("retention", &e))
    }

    fn size_bytes(&self) -> u64 {
        self.reading("size", |c| {
            let row = c
                .client
                .query_one("SELECT pg_database_size(current_database())", &[])?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
        .unwrap_or(0)
    }
}
