use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ automation_logs::WIRING.bits() }>(automation_logs::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(automation_logs::handle(&app, req).await) })).await
}
