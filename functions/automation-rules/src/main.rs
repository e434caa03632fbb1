use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ automation_rules::WIRING.bits() }>(automation_rules::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| automation_rules::handle(&app, req)).await
}
