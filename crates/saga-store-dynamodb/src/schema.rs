//! Creating the four tables outside Terraform, for tests and local rehearsals against a DynamoDB emulator.
//! The layouts mirror the Terraform definitions; Terraform stays the source of truth in AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use saga_store::StoreError;

use crate::error::unavailable;
use crate::item::{CREATED_AT, EXPIRES_AT, IDEMPOTENCY_KEY, ORDER_ID, SKU, STATUS};
use crate::Tables;

/// The orders table's index for the sweeper: every order by status, oldest first.
pub const STATUS_CREATED_AT_INDEX: &str = "status-createdAt";

fn attr(name: &str, ty: ScalarAttributeType) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .map_err(|e| StoreError::Unavailable(format!("building table definition: {e}")))
}

fn key(name: &str, ty: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .map_err(|e| StoreError::Unavailable(format!("building table definition: {e}")))
}

/// Creates whichever of the four tables do not exist yet (on-demand billing, the orders table with its
/// `status-createdAt` index, TTL on the idempotency table's `expiresAt`) and waits until all are active.
///
/// For a local rehearsal against moto:
///
/// ```no_run
/// # async fn f() -> Result<(), saga_store::StoreError> {
/// use saga_store_dynamodb::{create_tables, DynamoStore, Tables};
/// let store = DynamoStore::for_endpoint("http://127.0.0.1:5000", Tables::with_prefix("dev"));
/// create_tables(store.client(), store.tables()).await?;
/// # Ok(()) }
/// ```
pub async fn create_tables(client: &Client, tables: &Tables) -> Result<(), StoreError> {
    use ScalarAttributeType::{N, S};
    let existing = list_tables(client).await?;
    let specs = [
        (&tables.orders, ORDER_ID),
        (&tables.inventory, SKU),
        (&tables.reservations, ORDER_ID),
        (&tables.idempotency, IDEMPOTENCY_KEY),
    ];
    for (name, hash) in specs {
        if existing.iter().any(|t| t == name) {
            continue;
        }
        let mut req = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(hash, KeyType::Hash)?)
            .attribute_definitions(attr(hash, S)?);
        if name == &tables.orders {
            req = req
                .attribute_definitions(attr(STATUS, S)?)
                .attribute_definitions(attr(CREATED_AT, N)?)
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(STATUS_CREATED_AT_INDEX)
                        .key_schema(key(STATUS, KeyType::Hash)?)
                        .key_schema(key(CREATED_AT, KeyType::Range)?)
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .map_err(|e| {
                            StoreError::Unavailable(format!("building table definition: {e}"))
                        })?,
                );
        }
        match req.send().await {
            Ok(_) => {}
            // Another test process may have created it between our listing and now.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(unavailable(&format!("CreateTable {name}"), e)),
        }
        wait_active(client, name).await?;
        if name == &tables.idempotency {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(EXPIRES_AT)
                        .build()
                        .map_err(|e| {
                            StoreError::Unavailable(format!("building TTL specification: {e}"))
                        })?,
                )
                .send()
                .await
                .map_err(|e| unavailable(&format!("UpdateTimeToLive {name}"), e))?;
        }
    }
    Ok(())
}

async fn list_tables(client: &Client) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = client
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|e| unavailable("ListTables", e))?;
        names.extend(page.table_names().iter().cloned());
        match page.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_string()),
            None => return Ok(names),
        }
    }
}

async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    // Real DynamoDB takes seconds to activate a table; emulators create it active.
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable(&format!("DescribeTable {name}"), e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} did not become active within 60s"
    )))
}
