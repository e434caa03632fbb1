use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ marketing_settings::WIRING.bits() }>(marketing_settings::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(marketing_settings::handle(&app, req).await) })).await
}
