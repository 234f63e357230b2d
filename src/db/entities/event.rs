use sea_orm::entity::prelude::*;

/// One committed event, as its envelope JSON: what replays send verbatim.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub topic: String,
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// The SSE `event:` line; `None` for a default `message`.
    pub sse_event: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
