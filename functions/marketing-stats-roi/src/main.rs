use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ marketing_stats_roi::WIRING.bits() }>(marketing_stats_roi::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| marketing_stats_roi::handle(&app, req)).await
}
