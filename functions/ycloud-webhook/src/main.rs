use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ ycloud_webhook::WIRING.bits() }>(ycloud_webhook::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(ycloud_webhook::handle(&app, req).await) })).await
}
