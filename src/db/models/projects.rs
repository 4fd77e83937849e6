//! Projects, their members and roles, and their custom domain.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::WriteError;
use crate::db::models::users::User;
use crate::db::schema::{
    api_token_projects, instance_token_policy, project_members, projects, users,
};
use crate::db::{write_transaction, DbConnection};
use crate::domain::{
    Cursor, Email, LifetimeDays, PageRequest, ProjectId, ProjectName, Role, TokenId, TokenPolicy,
    UserId,
};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: ProjectId,
    pub name: ProjectName,
    pub domain: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A member as the project page lists them.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: UserId,
    pub email: Email,
    pub role: Role,
    pub added_at: NaiveDateTime,
}

/// The caller's role on a project now, or `None` when not a member (or no such project).
pub fn role_of(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
) -> QueryResult<Option<Role>> {
    project_members::table
        .find((project_id, user_id))
        .select(project_members::role)
        // `get_result`, not `first`: SQLite recompiles `LIMIT ?` (see `tokens::find_by_hash`).
        .get_result(conn)
        .optional()
}

/// The role of the account with this email on a project, or `None` when it is not a member
/// (or no account has this email).
pub fn role_by_email(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    email: &str,
) -> QueryResult<Option<Role>> {
    match User::find_by_email(conn, email)? {
        Some(user) => role_of(conn, project_id, &user.id),
        None => Ok(None),
    }
}

/// What the permission rule needs to know of a caller on one project, read in one query.
#[derive(Clone, Copy, Debug)]
pub struct Standing {
    /// The user's role there now.
    pub role: Role,
    /// Whether the presented token chose this project (always, for callers that reach all).
    pub chosen: bool,
    pub policy: TokenPolicy,
}

/// A policy as its columns keep it.
type PolicyColumns = (Option<i32>, bool, bool);

fn policy_of((days, require_restricted, require_second_factor): PolicyColumns) -> TokenPolicy {
    TokenPolicy {
        // Only `set_policy` writes it, with a checked value.
        max_lifetime_days: days.and_then(|d| LifetimeDays::new(d.into()).ok()),
        require_restricted,
        require_second_factor,
    }
}

/// The policy's columns, in `PolicyColumns`' order.
const POLICY: (
    projects::token_max_lifetime_days,
    projects::token_require_restricted,
    projects::token_require_second_factor,
) = (
    projects::token_max_lifetime_days,
    projects::token_require_restricted,
    projects::token_require_second_factor,
);

/// The user's standing on a project (`None`: not a member, or no such project); with
/// `token_id`, whether that token chose it — one query either way.
pub fn standing(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
    token_id: Option<&TokenId>,
) -> QueryResult<Option<Standing>> {
    let member = project_members::table
        .inner_join(projects::table)
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::user_id.eq(user_id));
    let policy = POLICY;
    // The instance's policy may require a second factor of every member (SPEC §3.1, §9):
    // asked in the same query, so the bearer path gains no statement.
    let instance = diesel::dsl::exists(
        instance_token_policy::table.filter(instance_token_policy::require_second_factor),
    );
    let row: Option<(Role, PolicyColumns, bool, bool)> = match token_id {
        None => member
            .select((
                project_members::role,
                policy,
                true.into_sql::<Bool>(),
                instance,
            ))
            .get_result(conn)
            .optional()?,
        Some(token_id) => member
            .left_join(
                api_token_projects::table.on(api_token_projects::project_id
                    .eq(project_members::project_id)
                    .and(api_token_projects::token_id.eq(token_id))),
            )
            .select((
                project_members::role,
                policy,
                api_token_projects::token_id.nullable().is_not_null(),
                instance,
            ))
            .get_result(conn)
            .optional()?,
    };
    Ok(row.map(|(role, policy, chosen, instance_requires)| {
        let mut policy = policy_of(policy);
        policy.require_second_factor |= instance_requires;
        Standing {
            role,
            chosen,
            policy,
        }
    }))
}

pub fn policy(conn: &mut DbConnection, id: &ProjectId) -> QueryResult<TokenPolicy> {
    let columns = projects::table.find(id).select(POLICY).get_result(conn)?;
    Ok(policy_of(columns))
}

/// Replaces the project's token policy. Tokens it blocks are not touched: they work again if
/// the policy changes back.
pub fn set_policy(
    conn: &mut DbConnection,
    id: &ProjectId,
    policy: &TokenPolicy,
) -> QueryResult<()> {
    diesel::update(projects::table.find(id))
        .set((
            projects::token_max_lifetime_days
                .eq(policy.max_lifetime_days.map(|d| i32::from(d.get()))),
            projects::token_require_restricted.eq(policy.require_restricted),
            projects::token_require_second_factor.eq(policy.require_second_factor),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user's projects with their token policies (the first `limit`, oldest first): what the
/// Create token form offers and warns about.
pub fn policies_for(
    conn: &mut DbConnection,
    user_id: &UserId,
    limit: i64,
) -> QueryResult<Vec<(ProjectId, ProjectName, TokenPolicy)>> {
    let rows: Vec<(ProjectId, ProjectName, PolicyColumns)> = projects::table
        .inner_join(project_members::table)
        .filter(project_members::user_id.eq(user_id))
        .order((projects::created_at.asc(), projects::id.asc()))
        .limit(limit)
        .select((projects::id, projects::name, POLICY))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, policy)| (id, name, policy_of(policy)))
        .collect())
}

pub fn find(conn: &mut DbConnection, id: &ProjectId) -> QueryResult<Project> {
    projects::table
        .find(id)
        .select(Project::as_select())
        .get_result(conn)
}

/// A page of the user's projects with their role, oldest first; with `only`, just those that
/// token chose (`auth::permission` says when).
pub fn list_for(
    conn: &mut DbConnection,
    user_id: &UserId,
    only: Option<&TokenId>,
    page: &PageRequest,
) -> QueryResult<Vec<(Project, Role)>> {
    let mut query = projects::table
        .inner_join(project_members::table)
        .filter(project_members::user_id.eq(user_id))
        .into_boxed();
    if let Some(token_id) = only {
        query = query.filter(
            projects::id.eq_any(
                api_token_projects::table
                    .filter(api_token_projects::token_id.eq(token_id))
                    .select(api_token_projects::project_id),
            ),
        );
    }
    if let Some(Cursor { at: Some(at), key }) = &page.after {
        query = query.filter(
            projects::created_at.gt(*at).or(projects::created_at
                .eq(*at)
                .and(projects::id.gt(key.clone()))),
        );
    }
    query
        .order((projects::created_at.asc(), projects::id.asc()))
        .limit(page.fetch())
        .select((Project::as_select(), project_members::role))
        .load(conn)
}

impl Project {
    pub fn cursor(&self) -> Cursor {
        Cursor::new(Some(self.created_at), self.id.as_str())
    }
}

/// Creates the project with its creator as owner, both rows or neither.
pub fn create(
    conn: &mut DbConnection,
    owner_id: &UserId,
    name: ProjectName,
    now: NaiveDateTime,
) -> Result<Project, WriteError> {
    let project = Project {
        id: ProjectId::new(),
        name,
        domain: None,
        created_at: now,
    };
    write_transaction(conn, |conn| {
        diesel::insert_into(projects::table)
            .values(&project)
            .execute(conn)?;
        diesel::insert_into(project_members::table)
            .values((
                project_members::project_id.eq(&project.id),
                project_members::user_id.eq(owner_id),
                project_members::role.eq(Role::Owner),
                project_members::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok::<_, WriteError>(())
    })?;
    Ok(project)
}

pub fn members(conn: &mut DbConnection, project_id: &ProjectId) -> QueryResult<Vec<Member>> {
    let rows: Vec<(UserId, Email, Role, NaiveDateTime)> = project_members::table
        .inner_join(users::table)
        .filter(project_members::project_id.eq(project_id))
        .order((project_members::created_at.asc(), users::email))
        .select((
            users::id,
            users::email,
            project_members::role,
            project_members::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, email, role, added_at)| Member {
            user_id,
            email,
            role,
            added_at,
        })
        .collect())
}

/// The emails of the project's members whose account has no second factor (SPEC §3.1), for
/// the owners' access page.
pub fn without_second_factor(
    conn: &mut DbConnection,
    project_id: &ProjectId,
) -> QueryResult<Vec<Email>> {
    project_members::table
        .inner_join(users::table)
        .filter(project_members::project_id.eq(project_id))
        .filter(users::second_factor.eq(false))
        .order(users::email)
        .select(users::email)
        .load(conn)
}

fn owners_other_than(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
) -> QueryResult<i64> {
    project_members::table
        .filter(project_members::project_id.eq(project_id))
        .filter(project_members::role.eq(Role::Owner))
        .filter(project_members::user_id.ne(user_id))
        .count()
        .get_result(conn)
}

/// Adds the account with `email` to the project, or changes its role. A project always keeps
/// at least one owner. Answers the member and the role it had before (none when added now).
pub fn set_member(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    email: &str,
    new_role: Role,
    now: NaiveDateTime,
) -> Result<(Member, Option<Role>), WriteError> {
    write_transaction(conn, |conn| {
        let user = User::find_by_email(conn, email)?.ok_or_else(|| {
            WriteError::field(
                "email",
                "No account has this email; ask them to sign up first.",
            )
        })?;
        let current = role_of(conn, project_id, &user.id)?;
        if current == Some(Role::Owner)
            && new_role != Role::Owner
            && owners_other_than(conn, project_id, &user.id)? == 0
        {
            return Err(WriteError::field(
                "role",
                "A project needs at least one owner.",
            ));
        }
        if current.is_some() {
            diesel::update(project_members::table.find((project_id, &user.id)))
                .set(project_members::role.eq(new_role))
                .execute(conn)?;
        } else {
            diesel::insert_into(project_members::table)
                .values((
                    project_members::project_id.eq(project_id),
                    project_members::user_id.eq(&user.id),
                    project_members::role.eq(new_role),
                    project_members::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        let member = Member {
            user_id: user.id,
            email: user.email,
            role: new_role,
            added_at: now,
        };
        Ok((member, current))
    })
}

/// Removes a member; the last owner cannot be removed.
pub fn remove_member(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    user_id: &UserId,
) -> Result<(), WriteError> {
    write_transaction(conn, |conn| {
        let current = role_of(conn, project_id, user_id)?.ok_or(diesel::result::Error::NotFound)?;
        if current == Role::Owner && owners_other_than(conn, project_id, user_id)? == 0 {
            return Err(WriteError::field(
                "userId",
                "A project needs at least one owner.",
            ));
        }
        diesel::delete(project_members::table.find((project_id, user_id))).execute(conn)?;
        Ok(())
    })
}

pub fn set_domain(
    conn: &mut DbConnection,
    project_id: &ProjectId,
    domain: Option<String>,
) -> QueryResult<()> {
    diesel::update(projects::table.find(project_id))
        .set(projects::domain.eq(domain))
        .execute(conn)
        .map(drop)
}
