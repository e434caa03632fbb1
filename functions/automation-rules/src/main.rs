use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ automation_rules::WIRING.bits() }>(automation_rules::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(automation_rules::handle(&app, req).await) })).await
}
