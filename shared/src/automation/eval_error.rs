//! Why an evaluator run stopped: the store, YCloud, a secret or a missing sender number, each
//! with its failure class for the job's error handling.

use crate::automation::ycloud::YcloudError;
use crate::platform::error::{DomainError, Failure};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Ycloud(#[from] YcloudError),
    #[error("{0}")]
    Secret(#[from] crate::platform::secrets::SecretError),
    #[error("YCLOUD_WHATSAPP_NUMBER is not set: WhatsApp senders need it")]
    NoSender,
}

impl DomainError for EvalError {
    fn failure(&self) -> Failure {
        match self {
            Self::Store(e) => e.failure(),
            Self::Ycloud(e) => e.failure(),
            Self::Secret(_) | Self::NoSender => Failure::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Ycloud(e) => e.code(),
            Self::Secret(_) | Self::NoSender => "internal_error",
        }
    }
}
