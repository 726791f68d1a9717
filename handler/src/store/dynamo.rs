//! The DynamoDB adapter (`aws` feature): one table, on-demand.
//!
//! ## Key design
//!
//! | item | `pk` | `sk` | other attributes |
//! | --- | --- | --- | --- |
//! | a person | `PERSON#<id>` | `PERSON` | `record` (the [`Person`], via `serde_dynamo`), `version`, `gsi1pk` = `CHANGES`, `gsi1sk` = `<updated_at, 12 digits>#<id>`, `expires_at` |
//! | a contact (dedupe) | `CONTACT#<form>:<email or phone>` | `CONTACT` | `person_id`, `expires_at` |
//! | a rate-limit window | `RATE#<client hash>#<window start>` | `RATE` | `n`, `expires_at` |
//! | a day's counter | `COUNTS` | `<YYYY-MM-DD>#<counter>` | `n` |
//! | the digest state | `DIGEST` | `STATE` | `state` (watermark and lease), `version` (moved only by a conditional put) |
//!
//! - [`INDEX`] (`by_change`, keys `gsi1pk`/`gsi1sk`, all attributes) is the
//!   time-ordered index the digest queries: everything changed since a time.
//!   One partition: a neighbourhood network writes far below its limit.
//! - [`TTL_ATTRIBUTE`] (`expires_at`, epoch seconds) is the table's TTL:
//!   DynamoDB deletes a record after the retention period.
//! - Creating a person is one transaction: the person `Put` with
//!   `attribute_not_exists(pk)` and one contact `Put` per contact with
//!   `attribute_not_exists(pk)`; so two first submissions by the same person
//!   at once give one record. An update is one transaction too: the person
//!   `Put` with `version = :expected`, claimed contacts `Put` with
//!   `attribute_not_exists(pk)`, released contacts `Delete` with
//!   `person_id = :id`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem,
};
use serde::{Deserialize, Serialize};

use super::{Counter, DigestState, Person, Store, StoreError, Timestamp};

/// The partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The sort key attribute.
pub const SORT_KEY: &str = "sk";
/// The time-ordered index the digest queries.
pub const INDEX: &str = "by_change";
/// The index's partition key attribute.
pub const INDEX_PARTITION_KEY: &str = "gsi1pk";
/// The index's sort key attribute.
pub const INDEX_SORT_KEY: &str = "gsi1sk";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The DynamoDB actions the `submit` function's code calls: `find`
/// (GetItem), `create`/`replace` (TransactWriteItems, whose Put and Delete
/// need PutItem and DeleteItem), `hit`/`count` (UpdateItem). Its policy
/// grants exactly these, on the table only.
pub const SUBMIT_ACTIONS: &[&str] = &[
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:UpdateItem",
];

/// The DynamoDB actions the `digest` function's code calls:
/// `digest_state` (GetItem), `put_digest_state` (PutItem), `changed_since`
/// (Query on [`INDEX`]) and `counts` (Query on the table).
pub const DIGEST_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"];

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct PersonItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    version: u64,
    expires_at: Timestamp,
    record: Person,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn person_item(person: &Person) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let item = PersonItem {
        pk: format!("PERSON#{}", person.id),
        sk: "PERSON".into(),
        gsi1pk: "CHANGES".into(),
        gsi1sk: format!("{:012}#{}", person.updated_at.max(0), person.id),
        version: person.version,
        expires_at: person.expires_at,
        record: person.clone(),
    };
    serde_dynamo::to_item(item)
        .map_err(|e| StoreError::Unavailable(format!("encoding a record: {e}")))
}

fn person_from(item: HashMap<String, AttributeValue>) -> Result<Person, StoreError> {
    serde_dynamo::from_item::<_, PersonItem>(item)
        .map(|i| i.record)
        .map_err(|e| StoreError::Unavailable(format!("a stored record does not decode: {e}")))
}

fn contact_put(
    table: &str,
    contact: &str,
    person: &Person,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .item(PARTITION_KEY, s(format!("CONTACT#{contact}")))
        .item(SORT_KEY, s("CONTACT"))
        .item("person_id", s(&person.id))
        .item(TTL_ATTRIBUTE, n(person.expires_at))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as the key design says (tests and local use; in
    /// AWS the template creates it).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
        let index = GlobalSecondaryIndex::builder()
            .index_name(INDEX)
            .key_schema(key(INDEX_PARTITION_KEY, KeyType::Hash).map_err(built)?)
            .key_schema(key(INDEX_SORT_KEY, KeyType::Range).map_err(built)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(built)?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PARTITION_KEY).map_err(built)?)
            .attribute_definitions(attr(SORT_KEY).map_err(built)?)
            .attribute_definitions(attr(INDEX_PARTITION_KEY).map_err(built)?)
            .attribute_definitions(attr(INDEX_SORT_KEY).map_err(built)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash).map_err(built)?)
            .key_schema(key(SORT_KEY, KeyType::Range).map_err(built)?)
            .global_secondary_indexes(index)
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(built)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                let conflict = match e.as_service_error() {
                    Some(E::TransactionCanceledException(c)) => {
                        c.cancellation_reasons().iter().any(|r| {
                            matches!(
                                r.code(),
                                Some("ConditionalCheckFailed" | "TransactionConflict")
                            )
                        })
                    }
                    _ => false,
                };
                if conflict {
                    Err(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            if let Some(index) = index {
                query = query.index_name(index);
            } else {
                query = query.consistent_read(true);
            }
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let out = query.send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn add(
        &self,
        pk: String,
        sk: String,
        expires_at: Option<Timestamp>,
    ) -> Result<u64, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew);
        update = match expires_at {
            Some(at) => update
                .update_expression("ADD n :one SET expires_at = :e")
                .expression_attribute_values(":e", n(at)),
            None => update.update_expression("ADD n :one"),
        };
        let out = update.send().await.map_err(unavailable)?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Unavailable("UpdateItem returned no count".into()))
    }
}

impl Store for DynamoStore {
    async fn find(&self, contacts: &[String]) -> Result<Vec<Person>, StoreError> {
        let mut people: Vec<Person> = Vec::new();
        for contact in contacts {
            let Some(item) = self.get(format!("CONTACT#{contact}"), "CONTACT").await? else {
                continue;
            };
            let Some(id) = item.get("person_id").and_then(|v| v.as_s().ok()) else {
                continue;
            };
            if people.iter().any(|p| &p.id == id) {
                continue;
            }
            if let Some(item) = self.get(format!("PERSON#{id}"), "PERSON").await? {
                people.push(person_from(item)?);
            }
        }
        Ok(people)
    }

    async fn create(&self, person: &Person) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(person_item(person)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for contact in &person.contacts {
            items.push(contact_put(&self.table, contact, person)?);
        }
        self.transact(items).await
    }

    async fn replace(
        &self,
        person: &Person,
        expected_version: u64,
        released: &[String],
        claimed: &[String],
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(person_item(person)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for contact in claimed {
            items.push(contact_put(&self.table, contact, person)?);
        }
        for contact in released {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key(PARTITION_KEY, s(format!("CONTACT#{contact}")))
                .key(SORT_KEY, s("CONTACT"))
                .condition_expression("person_id = :id")
                .expression_attribute_values(":id", s(&person.id))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.transact(items).await
    }

    async fn changed_since(&self, since: Timestamp) -> Result<Vec<Person>, StoreError> {
        let items = self
            .query_all(
                Some(INDEX),
                "gsi1pk = :p AND gsi1sk >= :s",
                vec![
                    (":p", s("CHANGES")),
                    (":s", s(format!("{:012}", since.max(0)))),
                ],
            )
            .await?;
        items.into_iter().map(person_from).collect()
    }

    async fn hit(
        &self,
        client: &str,
        window_start: Timestamp,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.add(
            format!("RATE#{client}#{window_start}"),
            "RATE".into(),
            Some(expires_at),
        )
        .await
    }

    async fn count(&self, day: &str, counter: Counter) -> Result<(), StoreError> {
        self.add("COUNTS".into(), format!("{day}#{}", counter.name()), None)
            .await
            .map(drop)
    }

    async fn digest_state(&self) -> Result<DigestState, StoreError> {
        match self.get("DIGEST".into(), "STATE").await? {
            None => Ok(DigestState::default()),
            Some(mut item) => {
                let state = item
                    .remove("state")
                    .ok_or_else(|| StoreError::Unavailable("digest state without state".into()))?;
                serde_dynamo::from_attribute_value(state).map_err(|e| {
                    StoreError::Unavailable(format!("the digest state does not decode: {e}"))
                })
            }
        }
    }

    async fn put_digest_state(
        &self,
        state: &DigestState,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(state)
            .map_err(|e| StoreError::Unavailable(format!("encoding the digest state: {e}")))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s("DIGEST"))
            .item(SORT_KEY, s("STATE"))
            .item("state", value)
            .item("version", n(state.version));
        let put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(expected_version))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn counts(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(Counter, u64)>, StoreError> {
        let items = self
            .query_all(
                None,
                "pk = :p AND sk BETWEEN :from AND :to",
                vec![
                    (":p", s("COUNTS")),
                    (":from", s(format!("{from_day}#"))),
                    (":to", s(format!("{to_day}#~"))),
                ],
            )
            .await?;
        let mut totals: Vec<(Counter, u64)> = Counter::ALL.iter().map(|c| (*c, 0)).collect();
        for item in items {
            let name = item
                .get(SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .and_then(|sk| sk.split_once('#'))
                .map(|(_, n)| n.to_owned());
            let count: u64 = item
                .get("n")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let Some(total) = totals
                .iter_mut()
                .find(|(c, _)| Some(c.name()) == name.as_deref())
            {
                total.1 += count;
            }
        }
        Ok(totals)
    }
}
