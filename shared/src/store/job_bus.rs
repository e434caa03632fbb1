//! The job bus: events the product puts on its own EventBridge bus to fan work out (the spend
//! sync's `spend-sync.requested`, one per tenant). A port with the EventBridge implementation and
//! an in-memory twin that records what was published (unit tests count events through it).
//!
//! `PutEvents` takes at most [`MAX_BATCH`] entries and may accept some and fail others; the port
//! reports which entries failed so the caller retries only those.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::StoreError;

/// EventBridge's limit of entries per `PutEvents`.
pub const MAX_BATCH: usize = 10;

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub source: String,
    pub detail_type: String,
    /// JSON text.
    pub detail: String,
}

#[async_trait]
pub trait JobBus: Send + Sync {
    /// Puts up to [`MAX_BATCH`] events; returns the indexes (into `events`) of the entries the bus
    /// did not accept (to be retried). An error means nothing is known to be accepted.
    async fn put_events(&self, events: &[JobEvent]) -> Result<Vec<usize>, StoreError>;
}

/// The product's bus (`EVENT_BUS_NAME`).
#[derive(Debug, Clone)]
pub struct EventBridgeJobBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeJobBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }
}

#[async_trait]
impl JobBus for EventBridgeJobBus {
    async fn put_events(&self, events: &[JobEvent]) -> Result<Vec<usize>, StoreError> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        if events.len() > MAX_BATCH {
            return Err(StoreError::Dynamo(format!("PutEvents takes at most {MAX_BATCH} entries")));
        }
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect::<Vec<_>>();
        let out = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
            use aws_sdk_eventbridge::error::ProvideErrorMetadata;
            match e.code() {
                Some("ThrottlingException") => StoreError::Throttled,
                _ => StoreError::Dynamo(format!(
                    "eventbridge put_events: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(e)
                )),
            }
        })?;
        // Entries answer in request order; a failed one carries an error code instead of an id.
        let failed = out
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.error_code().is_some() || r.event_id().is_none())
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        if out.entries().len() < events.len() {
            // A short answer: whatever was not answered is treated as not accepted.
            let answered = out.entries().len();
            return Ok(failed.into_iter().chain(answered..events.len()).collect());
        }
        Ok(failed)
    }
}

/// In-memory bus: records accepted events; `fail_next` makes the next N entries fail (as
/// EventBridge's partial failures do).
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryJobBus {
    pub published: std::sync::Mutex<Vec<JobEvent>>,
    pub fail_next: std::sync::atomic::AtomicUsize,
    /// `PutEvents` calls made (batches).
    pub calls: std::sync::atomic::AtomicUsize,
}

#[cfg(any(test, feature = "test-support"))]
impl MemoryJobBus {
    pub fn published(&self) -> Vec<JobEvent> {
        self.published.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl JobBus for MemoryJobBus {
    async fn put_events(&self, events: &[JobEvent]) -> Result<Vec<usize>, StoreError> {
        use std::sync::atomic::Ordering;
        if events.len() > MAX_BATCH {
            return Err(StoreError::Dynamo(format!("PutEvents takes at most {MAX_BATCH} entries")));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut failed = Vec::new();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        for (i, e) in events.iter().enumerate() {
            let fail = self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            if fail {
                failed.push(i);
            } else {
                published.push(e.clone());
            }
        }
        Ok(failed)
    }
}
