//! `tcu-twin serve`: opens the store and restores every document (and the
//! captures still missing chunks) from it,
//! starts the writer thread, the broker connection, the HTTP API and the
//! periodic work (expiry and staleness, document checkpoints, retention,
//! and on a shared PostgreSQL store the merge of the other twins' documents),
//! and stops all of it cleanly on SIGINT or SIGTERM: the API stops
//! accepting, the event streams end, the broker session is closed (the
//! broker keeps it), the documents are checkpointed and the writer drains.

use crate::TwinError;
use crate::clock::{Clock, SystemClock, duration_ms};
use crate::config::{StoreLocation, TwinConfig};
use crate::fleet::{Effects, Fleet};
use crate::hub::Hub;
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::writer::Writer;
use std::sync::Arc;
use std::time::Duration;
use tcu_engine::catalog::Catalog;

/// How often expiry and staleness are checked.
pub const TICK: Duration = Duration::from_millis(250);
/// How often retention runs.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

fn seed(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Runs the twin until SIGINT or SIGTERM.
pub fn serve(cfg: TwinConfig) -> Result<(), TwinError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TwinError::Io {
            path: "tokio runtime".into(),
            source: e,
        })?;
    // Vetting jobs run in a child process of this very executable.
    let runner = std::env::current_exe()
        .map(crate::vet::Runner::Child)
        .map_err(|e| TwinError::Io {
            path: "the twin's own executable (for vetting jobs)".into(),
            source: e,
        })?;
    runtime.block_on(run(cfg, Arc::new(SystemClock), runner))
}

async fn on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
        }
        _ => std::future::pending().await,
    }
}

/// The service on `clock`.
pub async fn run(
    cfg: TwinConfig,
    clock: Arc<dyn Clock>,
    runner: crate::vet::Runner,
) -> Result<(), TwinError> {
    let catalog = Arc::new(Catalog::builtin());
    // The PostgreSQL client blocks on a runtime of its own, which may not
    // run inside this one: the store is opened and read off it.
    let (location, instance, c) = (
        cfg.store.location.clone(),
        cfg.ingest.client_id.clone(),
        catalog.clone(),
    );
    let (store, documents, captures) = tokio::task::spawn_blocking(move || {
        let store: Arc<dyn Store> = match &location {
            StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path, c)?),
            StoreLocation::Postgres(target) => Arc::new(PostgresStore::open(target, &instance, c)?),
        };
        let documents = store.documents()?;
        let captures = store.incomplete_captures()?;
        Ok::<_, TwinError>((store, documents, captures))
    })
    .await
    .map_err(|e| TwinError::Io {
        path: "store".into(),
        source: std::io::Error::other(e.to_string()),
    })??;
    let mut fleet = Fleet::new(
        catalog.clone(),
        cfg.ingest.topics.clone(),
        cfg.twin.clone(),
        cfg.ingest.max_payload_bytes,
        cfg.ingest.max_vehicles,
        clock.now_ms(),
    );
    let restored = fleet.restore(&documents);
    let incomplete = fleet.restore_captures(captures);
    tracing::info!(
        store = %cfg.store.location.describe(),
        documents = restored,
        incomplete_captures = incomplete,
        "store opened"
    );
    let writer = Writer::spawn(store.clone(), cfg.store.batch_max, cfg.store.flush_interval);
    let hub = Arc::new(Hub::new(fleet, store.clone(), writer, clock.clone()));
    let vet = crate::vet::Vetting::start(
        &cfg.vet,
        store.clone(),
        clock.clone(),
        catalog.clone(),
        runner,
    )?;
    if let Some(dir) = &cfg.vet.current_dir {
        tracing::info!(current_dir = %dir.display(), "vetting jobs on");
    }

    let listener = crate::http::bind(&cfg.http).await?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = if cfg.http.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("HTTP API on {scheme}://{addr}");
    let http = tokio::spawn({
        let (hub, http_cfg) = (hub.clone(), cfg.http.clone());
        async move { crate::http::serve(hub, &http_cfg, listener, vet).await }
    });

    let options = crate::mqtt::options(&cfg.ingest)?;
    let (client, events) = rumqttc::AsyncClient::new(options, 1000);
    hub.set_publisher(Arc::new(crate::mqtt::MqttPublisher(client.clone())));
    let subscriptions = crate::mqtt::subscriptions(&cfg.ingest);
    tracing::info!(
        broker = %format!("{}:{}", cfg.ingest.broker.host, cfg.ingest.broker.port),
        client_id = %cfg.ingest.client_id,
        subscriptions = ?subscriptions,
        "connecting to the broker"
    );
    let mqtt = tokio::spawn(crate::mqtt::run(
        hub.clone(),
        client,
        events,
        subscriptions,
        seed(&cfg.ingest.client_id),
    ));

    let nats = tokio::spawn(crate::nats::run(
        hub.clone(),
        cfg.ingest.clone(),
        seed(&cfg.ingest.client_id) ^ 1,
    ));

    let periodic = tokio::spawn(periodic(
        hub.clone(),
        cfg.store.checkpoint_interval,
        cfg.store.retention,
    ));
    let peers = matches!(cfg.store.location, StoreLocation::Postgres(_))
        .then(|| tokio::spawn(sync_peers(hub.clone(), cfg.store.sync_interval)));
    on_signal().await;
    hub.shut_down();
    let _ = tokio::time::timeout(Duration::from_secs(5), mqtt).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), nats).await;
    let served = tokio::time::timeout(Duration::from_secs(5), http).await;
    periodic.abort();
    if let Some(p) = peers {
        p.abort();
    }
    hub.checkpoint();
    let drained = tokio::task::spawn_blocking({
        let hub = hub.clone();
        move || {
            hub.writer.flush(Duration::from_secs(30));
            hub.writer.close();
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("the store writer did not stop cleanly");
    }
    tracing::info!("stopped");
    match served {
        Ok(Ok(r)) => r.map_err(|e| {
            tracing::error!("HTTP: {e}");
            e
        }),
        _ => Ok(()),
    }
}

/// On a shared store: merges what the other twins checkpointed every
/// `every`, so this twin serves the vehicles (and the parts of their
/// documents) that others ingest. A failing read is logged once until
/// one succeeds again.
async fn sync_peers(hub: Arc<Hub>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failing = false;
    loop {
        tick.tick().await;
        let store = hub.store.clone();
        let read = move || store.peer_documents().map(|b| Fleet::parse_peers(&b));
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(peers)) => {
                if failing {
                    tracing::info!("reading the other twins' documents works again");
                    failing = false;
                }
                if peers.is_empty() {
                    continue;
                }
                let mut fx = Effects::default();
                let n = hub.fleet().merge(&peers, hub.now(), &mut fx);
                tracing::debug!(
                    read = peers.len(),
                    changed = n,
                    "merged the other twins' documents"
                );
                for vin in fx.changed {
                    let _ = hub.changes.send(vin);
                }
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!("reading the other twins' documents: {e}");
                failing = true;
            }
            _ => {}
        }
    }
}

async fn periodic(hub: Arc<Hub>, checkpoint_every: Duration, retention: Duration) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut checkpoint = tokio::time::interval(checkpoint_every);
    let mut prune = tokio::time::interval(RETENTION_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => hub.tick(),
            _ = checkpoint.tick() => hub.checkpoint(),
            _ = prune.tick() => {
                let (store, before) = (hub.store.clone(), hub.now() - duration_ms(retention));
                match tokio::task::spawn_blocking(move || store.prune(before)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(rows = n, "retention: old history deleted"),
                    Ok(Err(e)) => tracing::warn!("retention: {e}"),
                    _ => {}
                }
            }
        }
    }
}
