use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ hsm_templates::WIRING.bits() }>(hsm_templates::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(hsm_templates::handle(&app, req).await) })).await
}
