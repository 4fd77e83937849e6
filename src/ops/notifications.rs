//! What an account was told (SPEC §8.2): marking it read.

use crate::db::{self, models::notifications};
use crate::domain::UserId;
use crate::error::AppError;
use crate::state::AppState;

/// Marks every unread notification of the account read, now; answers how many were.
pub async fn mark_all_read(state: &AppState, user_id: &UserId) -> Result<usize, AppError> {
    let (user_id, now) = (user_id.clone(), state.clock.now());
    Ok(db::write_query(&state.pool, move |conn| {
        notifications::mark_all_read(conn, &user_id, now)
    })
    .await?)
}
