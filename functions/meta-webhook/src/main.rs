use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_webhook::WIRING.bits() }>(meta_webhook::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(meta_webhook::handle(&app, req).await) })).await
}
