//! `contacts.name` and `contacts.title`: what `describeContact` tells about a person
//! beside the e-mail address `contacts.email` already held, so that a salesperson
//! reading the bottom of the hourglass sees who, not only an id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    Name,
    Title,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table a column at a time.
        for column in [Contacts::Name, Contacts::Title] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Contacts::Table)
                        .add_column(string_len_null(column, 200))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Contacts::Title, Contacts::Name] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Contacts::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
