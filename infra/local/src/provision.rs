//! Creates the product's AWS resources in moto (idempotent), mirroring `infra/template.yaml`.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use crm_shared::platform::secrets::SecretName;
use crm_shared::store::attr;

/// Names of the resources to create (tests use unique names per test).
#[derive(Debug, Clone)]
pub struct ResourceNames {
    pub table: String,
    pub event_bus: String,
    pub key_alias: String,
    pub secret_prefix: String,
}

impl ResourceNames {
    pub fn unique(prefix: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        Self {
            table: format!("{prefix}-{id}"),
            event_bus: format!("{prefix}-bus-{id}"),
            key_alias: format!("alias/{prefix}-{id}"),
            secret_prefix: format!("{prefix}/{id}"),
        }
    }
}

/// What was created: the env a function needs to use it.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub event_bus: String,
    pub kms_key_arn: String,
    /// `(SecretName, ARN)` for every secret value given.
    pub secret_arns: Vec<(SecretName, String)>,
}

impl Provisioned {
    /// Env pairs as the SAM template sets them (secrets by ARN).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("TABLE_NAME".to_string(), self.table.clone()),
            ("EVENT_BUS_NAME".to_string(), self.event_bus.clone()),
            ("KMS_KEY_ID".to_string(), self.kms_key_arn.clone()),
        ];
        for (name, arn) in &self.secret_arns {
            env.push((name.arn_env_var().to_string(), arn.clone()));
        }
        env
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn err<E: std::error::Error + Send + Sync + 'static>(what: &'static str) -> impl FnOnce(E) -> BoxError {
    move |e| format!("{what}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)).into()
}

/// Creates (or finds) every resource. `secrets` are the values to store.
pub async fn provision(
    sdk: &SdkConfig,
    names: &ResourceNames,
    secrets: &[(SecretName, String)],
) -> Result<Provisioned, BoxError> {
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &names.table).await?;

    let kms = aws_sdk_kms::Client::new(sdk);
    let kms_key_arn = match kms.describe_key().key_id(&names.key_alias).send().await {
        Ok(out) => out.key_metadata().map(|m| m.arn().unwrap_or(m.key_id()).to_string()),
        Err(_) => None,
    };
    let kms_key_arn = match kms_key_arn {
        Some(arn) => arn,
        None => {
            let out = kms
                .create_key()
                .description("Meta access tokens (local)")
                .send()
                .await
                .map_err(err("kms create_key"))?;
            let meta = out.key_metadata().ok_or("kms create_key returned no metadata")?;
            kms.create_alias()
                .alias_name(&names.key_alias)
                .target_key_id(meta.key_id())
                .send()
                .await
                .map_err(err("kms create_alias"))?;
            meta.arn().unwrap_or(meta.key_id()).to_string()
        }
    };

    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let mut secret_arns = Vec::new();
    for (name, value) in secrets {
        let id = format!("{}/{}", names.secret_prefix, name.env_var().to_ascii_lowercase());
        let arn = match sm.describe_secret().secret_id(&id).send().await {
            Ok(found) => {
                sm.put_secret_value()
                    .secret_id(&id)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(err("secretsmanager put_secret_value"))?;
                found.arn().unwrap_or(&id).to_string()
            }
            Err(_) => {
                let out = sm
                    .create_secret()
                    .name(&id)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(err("secretsmanager create_secret"))?;
                out.arn().unwrap_or(&id).to_string()
            }
        };
        secret_arns.push((*name, arn));
    }

    let eb = aws_sdk_eventbridge::Client::new(sdk);
    if eb.describe_event_bus().name(&names.event_bus).send().await.is_err() {
        eb.create_event_bus().name(&names.event_bus).send().await.map_err(err("eventbridge create_event_bus"))?;
    }

    Ok(Provisioned { table: names.table.clone(), event_bus: names.event_bus.clone(), kms_key_arn, secret_arns })
}

/// The single table: PK/SK, sparse GSI1, TTL on `ttl`, on-demand (as in the template).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), BoxError> {
    if client.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let def =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .attribute_definitions(def(attr::PK)?)
        .attribute_definitions(def(attr::SK)?)
        .attribute_definitions(def(attr::GSI1PK)?)
        .attribute_definitions(def(attr::GSI1SK)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("GSI1")
                .key_schema(key(attr::GSI1PK, KeyType::Hash)?)
                .key_schema(key(attr::GSI1SK, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?,
        )
        .send()
        .await
        .map_err(err("dynamodb create_table"))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(TimeToLiveSpecification::builder().attribute_name(attr::TTL).enabled(true).build()?)
        .send()
        .await
        .map_err(err("dynamodb update_time_to_live"))?;
    Ok(())
}
