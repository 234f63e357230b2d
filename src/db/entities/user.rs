use sea_orm::entity::prelude::*;

use crate::domain::User;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_name: String,
    pub user_name_key: String,
    pub email: String,
    pub email_key: String,
    pub display_name: Option<String>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<Model> for User {
    fn from(row: Model) -> Self {
        Self {
            id: row.id.into(),
            user_name: row.user_name,
            email: row.email,
            display_name: row.display_name,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
