use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ ycloud_webhook::WIRING.bits() }>(ycloud_webhook::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| ycloud_webhook::handle(&app, req)).await
}
