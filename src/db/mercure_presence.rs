//! Who is subscribed to what on the Mercure hub (its subscriptions API),
//! right across instances. Each open Mercure stream is one row per
//! selector in `mercure_subscriptions`, written by the instance that holds
//! it, in the same transaction as the subscription's event (a private
//! update on `/.well-known/mercure/subscriptions/<topic>/<subscriber>`):
//! the rows and the events never disagree. Each instance keeps a lease in
//! `mercure_instances`; the rows of an instance whose lease ran out (it
//! died) are removed by another, with their `active: false` events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Value};
use serde_json::json;

use super::Error;
use super::announce::Announce;
use super::mercure;
use super::writer::{Change, Writer};
use crate::db::statement::{begin_snapshot, statement};
use crate::domain::mercure::{HUB_PATH, Update};

/// How long an instance's rows stand without its word.
pub const LEASE: Duration = Duration::from_secs(15);

/// How often an instance renews its lease and looks for others' that ran
/// out.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Where the subscriptions API and the subscription events live.
pub fn subscriptions_path() -> String {
    format!("{HUB_PATH}/subscriptions")
}

/// `value` as Go's `url.QueryEscape` writes it, which the reference hub
/// builds subscription ids with: letters, digits and `-_.~` as they are, a
/// space as `+`, every other byte `%XX`.
pub fn query_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                escaped.push(char::from(byte));
            }
            b' ' => escaped.push('+'),
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    escaped
}

/// One subscription: a subscriber's selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `/.well-known/mercure/subscriptions/<topic>/<subscriber>`.
    pub id: String,
    pub subscriber: String,
    pub topic: String,
    pub payload: Option<serde_json::Value>,
}

impl Subscription {
    pub fn new(subscriber: &str, topic: &str, payload: Option<serde_json::Value>) -> Self {
        Self {
            id: format!(
                "{}/{}/{}",
                subscriptions_path(),
                query_escape(topic),
                query_escape(subscriber)
            ),
            subscriber: subscriber.to_owned(),
            topic: topic.to_owned(),
            payload,
        }
    }

    /// The JSON-LD document of the subscription (`lastEventID` aside).
    pub fn document(&self, active: bool) -> serde_json::Value {
        let mut document = json!({
            "id": self.id,
            "type": "Subscription",
            "subscriber": self.subscriber,
            "topic": self.topic,
            "active": active,
        });
        if let (Some(payload), Some(object)) = (&self.payload, document.as_object_mut()) {
            object.insert("payload".to_owned(), payload.clone());
        }
        document
    }

    /// The document standing alone, as its event and the API's answer for
    /// one subscription hold it: with the `@context` a list carries once.
    pub fn linked_document(&self, active: bool) -> serde_json::Value {
        let mut document = self.document(active);
        if let Some(object) = document.as_object_mut() {
            object.insert("@context".to_owned(), json!("https://mercure.rocks/"));
        }
        document
    }

    /// Its event: a private update on its own id, which a presence watcher
    /// subscribes to (`/.well-known/mercure/subscriptions{/topic}{/subscriber}`).
    fn event(&self, active: bool) -> Update {
        let document = self.linked_document(active);
        Update {
            id: format!("urn:uuid:{}", uuid::Uuid::now_v7()),
            topics: vec![self.id.clone()],
            data: document.to_string(),
            private: true,
            kind: None,
            retry: None,
        }
    }

    fn of(row: &QueryResult) -> Result<Self, Error> {
        let payload: Option<String> = row.try_get("", "payload")?;
        Ok(Self {
            id: row.try_get("", "id")?,
            subscriber: row.try_get("", "subscriber")?,
            topic: row.try_get("", "topic")?,
            payload: payload.and_then(|p| serde_json::from_str(&p).ok()),
        })
    }
}

/// This instance's side of presence.
#[derive(Clone)]
pub struct Presence {
    writer: Writer,
    announce: Arc<dyn Announce>,
    /// Made at start-up: this process's rows are known by it.
    instance: String,
}

impl Presence {
    pub fn new(writer: Writer, announce: Arc<dyn Announce>) -> Self {
        Self {
            writer,
            announce,
            instance: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Records `subscriptions` (a new stream's), each with its `active:
    /// true` event, once committed; returns the newest of those events' log
    /// ids, after which the stream begins (a subscriber does not receive
    /// its own arrival).
    pub async fn join(&self, subscriptions: &[Subscription]) -> Result<i64, Error> {
        let joins = subscriptions.iter().map(|subscription| {
            let (subscription, instance) = (subscription.clone(), self.instance.clone());
            self.writer
                .write_logged(self.announce.clone(), move |txn, slot| {
                    let (subscription, instance) = (subscription.clone(), instance.clone());
                    Box::pin(async move {
                        lease(txn, &instance, slot.now).await?;
                        txn.execute_raw(statement(
                            txn,
                            "INSERT INTO mercure_subscriptions (id, subscriber, topic, payload, instance_id) \
                             VALUES ($1, $2, $3, $4, $5)",
                            vec![
                                subscription.id.clone().into(),
                                subscription.subscriber.clone().into(),
                                subscription.topic.clone().into(),
                                subscription.payload.as_ref().map(|p| p.to_string()).into(),
                                instance.into(),
                            ],
                        ))
                        .await?;
                        mercure::append(txn, &subscription.event(true), slot.now).await?;
                        Ok(Change::Made(()))
                    })
                })
        });
        let mut newest = 0;
        for joined in futures_util::future::join_all(joins).await {
            let ((), event) = joined?;
            newest = newest.max(event.map_or(0, |event| event.id));
        }
        Ok(newest)
    }

    /// Removes `subscriptions` (a closed stream's, or a dead instance's),
    /// each with its `active: false` event; one already gone makes none.
    pub async fn leave(&self, subscriptions: &[Subscription]) -> Result<(), Error> {
        let leaves = subscriptions.iter().map(|subscription| {
            let subscription = subscription.clone();
            self.writer.write(self.announce.clone(), move |txn, slot| {
                let subscription = subscription.clone();
                Box::pin(async move {
                    let removed = txn
                        .execute_raw(statement(
                            txn,
                            "DELETE FROM mercure_subscriptions WHERE id = $1",
                            vec![subscription.id.clone().into()],
                        ))
                        .await?;
                    if removed.rows_affected() == 0 {
                        return Ok(Change::Nothing(()));
                    }
                    mercure::append(txn, &subscription.event(false), slot.now).await?;
                    Ok(Change::Made(()))
                })
            })
        });
        for left in futures_util::future::join_all(leaves).await {
            left?;
        }
        Ok(())
    }

    /// Renews this instance's lease, and removes the rows of every
    /// instance whose lease ran out, with their `active: false` events.
    pub async fn keep(&self, db: &DatabaseConnection) -> Result<(), Error> {
        let instance = self.instance.clone();
        self.writer
            .maintain(move |txn, slot| {
                let instance = instance.clone();
                Box::pin(async move {
                    lease(txn, &instance, slot.now).await?;
                    Ok(Change::Nothing(()))
                })
            })
            .await?;
        let stale = db
            .query_all_raw(statement(
                db,
                "SELECT s.id, s.subscriber, s.topic, s.payload FROM mercure_subscriptions AS s \
                 LEFT JOIN mercure_instances AS i ON i.instance_id = s.instance_id \
                 WHERE i.instance_id IS NULL OR i.lease_until < $1",
                vec![Utc::now().into()],
            ))
            .await?
            .iter()
            .map(Subscription::of)
            .collect::<Result<Vec<_>, _>>()?;
        self.leave(&stale).await?;
        self.writer
            .maintain(|txn, slot| {
                Box::pin(async move {
                    txn.execute_raw(statement(
                        txn,
                        "DELETE FROM mercure_instances WHERE lease_until < $1",
                        vec![slot.now.into()],
                    ))
                    .await?;
                    Ok(Change::Nothing(()))
                })
            })
            .await
    }

    /// Renews the lease and removes other instances' stale rows every few
    /// seconds, until `stop`.
    pub async fn run(self, db: DatabaseConnection, stop: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(error) = self.keep(&db).await {
                tracing::warn!(%error, "could not renew the Mercure presence lease");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(RENEW_EVERY) => {}
            }
        }
    }
}

async fn lease(
    txn: &impl ConnectionTrait,
    instance: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    txn.execute_raw(statement(
        txn,
        "INSERT INTO mercure_instances (instance_id, lease_until) VALUES ($1, $2) \
         ON CONFLICT (instance_id) DO UPDATE SET lease_until = excluded.lease_until",
        vec![instance.into(), until.into()],
    ))
    .await?;
    Ok(())
}

/// Which subscriptions a read lists.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub topic: Option<String>,
    pub subscriber: Option<String>,
}

/// The subscriptions `listing` names, and the id of the newest Mercure
/// update (`earliest` when none), read in one snapshot: a client that
/// subscribes to subscription events from it misses no change.
pub async fn list(
    db: &DatabaseConnection,
    listing: &Listing,
) -> Result<(Vec<Subscription>, String), Error> {
    let txn = begin_snapshot(db).await?;
    let newest = mercure::newest(&txn, 1)
        .await?
        .into_iter()
        .next()
        .map_or_else(|| "earliest".to_owned(), |update| update.id);
    let mut sql =
        "SELECT id, subscriber, topic, payload FROM mercure_subscriptions WHERE true".to_owned();
    let mut values: Vec<Value> = Vec::new();
    for (column, value) in [
        ("topic", &listing.topic),
        ("subscriber", &listing.subscriber),
    ] {
        if let Some(value) = value {
            values.push(value.clone().into());
            sql.push_str(&format!(" AND {column} = ${}", values.len()));
        }
    }
    sql.push_str(" ORDER BY id");
    let rows = txn.query_all_raw(statement(&txn, &sql, values)).await?;
    txn.commit().await?;
    let subscriptions = rows
        .iter()
        .map(Subscription::of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((subscriptions, newest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_escaped_as_the_reference_hub_escapes_them() {
        assert_eq!(
            query_escape("https://example.com/{id}"),
            "https%3A%2F%2Fexample.com%2F%7Bid%7D"
        );
        assert_eq!(query_escape("a b~*"), "a+b~%2A");
        let subscription = Subscription::new("urn:uuid:1", "https://example.com/books/{id}", None);
        assert_eq!(
            subscription.id,
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D/urn%3Auuid%3A1"
        );
        assert!(
            crate::domain::mercure::Selector::parse(
                "/.well-known/mercure/subscriptions{/topic}{/subscriber}"
            )
            .matches(&subscription.id)
        );
        let event = subscription.event(true);
        assert!(event.private);
        assert!(
            event
                .data
                .contains("\"@context\":\"https://mercure.rocks/\"")
        );
    }
}
