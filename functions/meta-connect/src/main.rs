use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_connect::WIRING.bits() }>(meta_connect::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(meta_connect::handle(&app, req).await) })).await
}
