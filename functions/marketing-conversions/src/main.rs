use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app =
        crm_shared::App::from_env::<{ marketing_conversions::WIRING.bits() }>(marketing_conversions::SECRETS).await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(marketing_conversions::handle(&app, req).await) })).await
}
