use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ hsm_templates::WIRING.bits() }>(hsm_templates::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| hsm_templates::handle(&app, req)).await
}
