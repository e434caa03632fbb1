use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_auth_callback::WIRING.bits() }>(meta_auth_callback::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(meta_auth_callback::handle(&app, req).await) })).await
}
