use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_spend_sync::WIRING.bits() }>(meta_spend_sync::SECRETS).await?;
    run(service_fn(|ev: LambdaEvent<Value>| async {
        meta_spend_sync::handle_event(&app, ev.payload).await.map_err(Error::from)
    }))
    .await
}
