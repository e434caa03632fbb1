use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_conversions::WIRING.bits() }>(meta_conversions::SECRETS).await?;
    let app = &app;
    run(service_fn(|ev: LambdaEvent<Value>| async move {
        let deadline = crm_shared::platform::clock::deadline_of(ev.context.deadline);
        meta_conversions::handle_event(app, Some(deadline)).await.map_err(Error::from)
    }))
    .await
}
