//! Building the YCloud client a function sends with: the platform's sender (base URL and number
//! from config, API key from Secrets Manager). The evaluator, the templates listing and the rules'
//! template check take theirs from here.

use crate::automation::eval_error::EvalError;
use crate::automation::ports::WhatsappPorts;
use crate::automation::ycloud::YcloudClient;

/// The platform's YCloud client (the API key is resolved on first use).
pub async fn platform_client(ports: WhatsappPorts<'_>) -> Result<YcloudClient, EvalError> {
    let key = ports.secrets.required(crate::platform::secrets::SecretName::YcloudApiKey).await?.clone();
    let from = ports.config.ycloud.whatsapp_number.clone().ok_or(EvalError::NoSender)?;
    Ok(YcloudClient::new(ports.http.get().clone(), ports.config.ycloud.base_url.clone(), key, from))
}
