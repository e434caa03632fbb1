use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ marketing_fx_rates::WIRING.bits() }>(marketing_fx_rates::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| marketing_fx_rates::handle(&app, req)).await
}
