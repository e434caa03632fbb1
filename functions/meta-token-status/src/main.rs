use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ meta_token_status::WIRING.bits() }>(meta_token_status::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| meta_token_status::handle(&app, req)).await
}
