//! The store conformance suite (`crm_shared::store::conformance`) against DynamoDB on moto: the
//! same checks the in-memory twins pass in the unit tests.

use crm_shared::store::conformance;
use integration_tests::TestEnv;

#[tokio::test]
async fn dynamo_connections_and_profiles_conform() {
    conformance::connections_and_profiles(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_connected_index_conforms() {
    conformance::connected_index(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_oauth_states_conform() {
    conformance::oauth_states(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_rate_limiter_conforms() {
    conformance::rate_limiter(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_audit_log_conforms() {
    conformance::audit_log(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_page_index_conforms() {
    conformance::page_index(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_lead_handoffs_conform() {
    conformance::lead_handoffs(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_lead_inbox_conforms() {
    conformance::lead_inbox(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_aggregates_conform() {
    conformance::aggregates(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_spend_conforms() {
    conformance::spend(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_fx_rates_conform() {
    conformance::fx_rates(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_provider_rates_conform() {
    conformance::provider_rates(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_parked_events_conform() {
    let store = TestEnv::new().await.store;
    conformance::parked_events(&store, &store).await;
}

#[tokio::test]
async fn dynamo_event_store_conforms() {
    let store = TestEnv::new().await.store;
    conformance::event_store(&store, &store, &store).await;
}

#[tokio::test]
async fn eventbridge_job_bus_conforms() {
    let env = TestEnv::new().await;
    let bus = crm_shared::store::job_bus::EventBridgeJobBus::new(
        aws_sdk_eventbridge::Client::new(&env.sdk),
        env.resources.event_bus.clone(),
    );
    conformance::job_bus(&bus).await;
}

#[tokio::test]
async fn dynamo_due_items_conform() {
    conformance::due_items(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_due_watermark_conforms() {
    conformance::due_watermark(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_send_claims_conform() {
    conformance::send_claims(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_contacts_conform() {
    conformance::contacts(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_automation_log_conform() {
    conformance::automation_log(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_automation_rules_conform() {
    conformance::automation_rules(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_whatsapp_connections_conform() {
    conformance::whatsapp_connections(&TestEnv::new().await.store).await;
}

#[tokio::test]
async fn dynamo_conversion_store_conforms() {
    conformance::conversion_store(&TestEnv::new().await.store).await;
}
