use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app =
        crm_shared::App::from_env::<{ hsm_trigger_evaluator::WIRING.bits() }>(hsm_trigger_evaluator::SECRETS).await?;
    let app = &app;
    run(service_fn(|ev: LambdaEvent<Value>| async move {
        let deadline = hsm_trigger_evaluator::deadline_of(ev.context.deadline);
        hsm_trigger_evaluator::handle_event(app, Some(deadline)).await.map_err(Error::from)
    }))
    .await
}
