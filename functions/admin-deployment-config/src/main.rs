use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ admin_deployment_config::WIRING.bits() }>(admin_deployment_config::SECRETS)
        .await?;
    crm_shared::api::lambda::serve_http(|req| admin_deployment_config::handle(&app, req)).await
}
