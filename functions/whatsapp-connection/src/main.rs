use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ whatsapp_connection::WIRING.bits() }>(whatsapp_connection::SECRETS).await?;
    crm_shared::api::lambda::serve_http(|req| whatsapp_connection::handle(&app, req)).await
}
