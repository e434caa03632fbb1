use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_token_status::WIRING.bits() }>(meta_token_status::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(meta_token_status::handle(&app, req).await) })).await
}
