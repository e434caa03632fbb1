use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app =
        crm_shared::App::from_env::<{ marketing_combined_stats::WIRING.bits() }>(marketing_combined_stats::SECRETS)
            .await?;
    crm_shared::api::lambda::serve_http(|req| marketing_combined_stats::handle(&app, req)).await
}
