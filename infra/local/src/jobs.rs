//! The local stand-in of the product bus's job rules. EventBridge in moto accepts events but
//! delivers none, so the jobs a function takes from the bus through a rule — [`LOCAL_JOBS`]:
//! `meta.connected` → `meta-spend-sync` — are also queued here when put, and run after the call
//! that put them has returned: in the background under `make dev` ([`LocalJobs::spawn`]), when a
//! test asks ([`LocalJobs::run_queued`]). `spend-sync.requested` is not queued: `make spend-sync`
//! runs the fan-out and every tenant by hand.

use std::sync::Arc;

use async_trait::async_trait;
use crm_shared::meta::follow_up::META_CONNECTED;
use crm_shared::store::job_bus::{JobBus, JobEvent};
use crm_shared::store::StoreError;
use crm_shared::App;
use meta_spend_sync::Summary;
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex;

/// `detail-type`s run locally (each by the function its rule in the template targets).
pub const LOCAL_JOBS: &[&str] = &[META_CONNECTED];

/// Every event the bus accepted, in order: what a rule on the bus would see (moto keeps none).
/// `make dev` shows it at `GET /__local/bus-events` (e.g. one `meta.lead.received` per Meta lead).
pub type BusLog = Arc<std::sync::Mutex<Vec<JobEvent>>>;

/// The App's bus with local delivery of [`LOCAL_JOBS`]: every event still goes to the real bus
/// (moto) and into the [`BusLog`]; the accepted ones of those types are queued too.
struct LocalJobBus {
    inner: Arc<dyn JobBus>,
    queue: UnboundedSender<JobEvent>,
    log: BusLog,
}

#[async_trait]
impl JobBus for LocalJobBus {
    async fn put_events(&self, events: &[JobEvent]) -> Result<Vec<usize>, StoreError> {
        let refused = self.inner.put_events(events).await?;
        let accepted: Vec<&JobEvent> =
            events.iter().enumerate().filter(|(i, _)| !refused.contains(i)).map(|(_, e)| e).collect();
        self.log.lock().unwrap_or_else(|p| p.into_inner()).extend(accepted.iter().map(|e| (*e).clone()));
        for event in accepted.into_iter().filter(|e| LOCAL_JOBS.contains(&e.detail_type.as_str())) {
            // The receiver lives as long as the stack; a closed queue only means nobody runs jobs.
            let _ = self.queue.send(event.clone());
        }
        Ok(refused)
    }
}

/// The queue of jobs put through an App wired with [`wire`].
pub struct LocalJobs {
    queue: Mutex<UnboundedReceiver<JobEvent>>,
    log: BusLog,
}

/// Puts the local delivery in front of `app`'s job bus.
pub fn wire(app: &mut App) -> LocalJobs {
    let (tx, rx) = unbounded_channel();
    let log = BusLog::default();
    app.job_bus = Arc::new(LocalJobBus { inner: app.job_bus.clone(), queue: tx, log: log.clone() });
    LocalJobs { queue: Mutex::new(rx), log }
}

/// A queued job as EventBridge hands it to the function.
fn envelope(event: &JobEvent, app: &App) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "000000000000",
        "time": app.clock.now().to_rfc3339(),
        "region": "us-east-1",
        "resources": [],
        "detail": serde_json::from_str::<Value>(&event.detail).unwrap_or(Value::Null),
    })
}

/// Runs one job as its rule's target would; why it failed otherwise (Lambda would retry it).
async fn run(app: &App, event: &JobEvent) -> Result<Summary, String> {
    meta_spend_sync::handle_event(app, envelope(event, app)).await.map_err(|e| e.to_string())
}

impl LocalJobs {
    /// The bus's log (shared: it keeps filling after the jobs are spawned).
    pub fn bus_log(&self) -> BusLog {
        self.log.clone()
    }

    /// Events the bus accepted so far with `detail_type`.
    pub fn published(&self, detail_type: &str) -> Vec<JobEvent> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().filter(|e| e.detail_type == detail_type).cloned().collect()
    }

    /// Runs every job queued so far, in order; their outcomes.
    pub async fn run_queued(&self, app: &App) -> Vec<Result<Summary, String>> {
        let mut out = Vec::new();
        let mut queue = self.queue.lock().await;
        while let Ok(event) = queue.try_recv() {
            out.push(run(app, &event).await);
        }
        out
    }

    /// Runs jobs as they are queued, in the background (the local stack).
    pub fn spawn(self, app: App) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut queue = self.queue.into_inner();
            while let Some(event) = queue.recv().await {
                match run(&app, &event).await {
                    Ok(_) => tracing::info!(detail_type = %event.detail_type, "local job done"),
                    Err(e) => tracing::error!(detail_type = %event.detail_type, error = %e, "local job failed"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crm_shared::domain::ids::TenantId;
    use crm_shared::testing::unit_app;

    use super::*;

    #[tokio::test]
    async fn connect_jobs_are_queued_and_run_other_jobs_only_reach_the_bus() {
        let (mut app, mem) = unit_app(&[]);
        let jobs = wire(&mut app);
        let spend = crm_shared::meta::insights::request_event(TenantId(3));
        let connected = crm_shared::meta::follow_up::job(TenantId(3));
        assert_eq!(
            app.job_bus.put_events(&[spend.clone(), connected.clone()]).await.expect("put"),
            Vec::<usize>::new()
        );
        assert_eq!(mem.job_bus.published(), vec![spend, connected], "everything still reaches the bus");
        let ran = jobs.run_queued(&app).await;
        assert_eq!(ran.len(), 1, "only meta.connected runs locally");
        assert!(matches!(&ran[0], Ok(Summary::Connected(f)) if f.tenant_id == 3 && f.skipped.is_some()));
        assert!(jobs.run_queued(&app).await.is_empty(), "each job runs once");
        // A job the bus refused is not run either.
        mem.job_bus.fail_next.store(1, std::sync::atomic::Ordering::SeqCst);
        let refused = app.job_bus.put_events(&[crm_shared::meta::follow_up::job(TenantId(4))]).await.expect("put");
        assert_eq!(refused, vec![0]);
        assert!(jobs.run_queued(&app).await.is_empty());
    }
}
