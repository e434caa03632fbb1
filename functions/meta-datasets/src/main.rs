use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_datasets::WIRING.bits() }>(meta_datasets::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(meta_datasets::handle(&app, req).await) })).await
}
