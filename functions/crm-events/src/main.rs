use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ crm_events::WIRING.bits() }>(crm_events::SECRETS).await?;
    run(service_fn(|ev: LambdaEvent<Value>| async {
        crm_events::handle_event(&app, ev.payload).await.map_err(Error::from)
    }))
    .await
}
