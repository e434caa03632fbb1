use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app =
        crm_shared::App::from_env::<{ meta_test_connection::WIRING.bits() }>(meta_test_connection::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| meta_test_connection::handle(&app, req)).await
}
