use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_shared::platform::telemetry::init();
    let app = crm_shared::App::from_env::<{ admin_deployment_config::WIRING.bits() }>(admin_deployment_config::SECRETS)
        .await?;
    run(service_fn(|req: Request| async { Ok::<_, Error>(admin_deployment_config::handle(&app, req).await) })).await
}
