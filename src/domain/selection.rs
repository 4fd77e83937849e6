//! Which projects a token reaches: every project its owner is a member of (the default), or
//! only the ones chosen when it was made.

use super::ProjectId;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ProjectSelection {
    #[default]
    All,
    /// Sorted, without repeats. Empty only once every chosen project has been deleted: the
    /// token then reaches none, never all.
    Only(Vec<ProjectId>),
}

/// Why a list of chosen projects was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("Pick at least one project, or let the token reach all of them.")]
    Empty,
    #[error(
        "Pick at most {} projects, or let the token reach all of them.",
        ProjectSelection::MAX
    )]
    TooMany,
    /// The same words for an id that is not a UUID and for a project the creator is not in,
    /// so the answer never tells whether someone else's project exists.
    #[error("Pick among the projects you are a member of.")]
    NotYours,
}

impl ProjectSelection {
    /// More than this and "all my projects" is the honest choice.
    pub const MAX: usize = 100;

    /// A chosen list as a client sent it (each a project id). Membership is the database's
    /// to check: `SelectionError::NotYours` is also its answer.
    pub fn only<S: AsRef<str>>(ids: &[S]) -> Result<ProjectSelection, SelectionError> {
        if ids.is_empty() {
            return Err(SelectionError::Empty);
        }
        let mut parsed = ids
            .iter()
            .map(|id| ProjectId::parse(id.as_ref().trim()).ok_or(SelectionError::NotYours))
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort();
        parsed.dedup();
        if parsed.len() > ProjectSelection::MAX {
            return Err(SelectionError::TooMany);
        }
        Ok(ProjectSelection::Only(parsed))
    }

    /// As stored: the token's `restricted` flag and its rows in `api_token_projects`.
    pub fn from_parts(restricted: bool, mut ids: Vec<ProjectId>) -> ProjectSelection {
        if !restricted {
            return ProjectSelection::All;
        }
        ids.sort();
        ids.dedup();
        ProjectSelection::Only(ids)
    }

    pub fn is_restricted(&self) -> bool {
        matches!(self, ProjectSelection::Only(_))
    }

    /// The chosen ids; none for `All`.
    pub fn ids(&self) -> &[ProjectId] {
        match self {
            ProjectSelection::All => &[],
            ProjectSelection::Only(ids) => ids,
        }
    }
}

/// In JSON as the create request takes it: `"all"`, or the list of ids.
impl serde::Serialize for ProjectSelection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProjectSelection::All => s.serialize_str("all"),
            ProjectSelection::Only(ids) => s.collect_seq(ids),
        }
    }
}

impl utoipa::PartialSchema for ProjectSelection {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["all"])),
            )
            .item(
                ArrayBuilder::new()
                    .items(<ProjectId as utoipa::PartialSchema>::schema())
                    .min_items(Some(1))
                    .max_items(Some(ProjectSelection::MAX)),
            )
            .description(Some(
                "`\"all\"`: every project you are a member of (the default); or the ids of the \
                 only projects the token may reach.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ProjectSelection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_ids_are_parsed_once() {
        let a = ProjectId::new();
        let upper = a.as_str().to_uppercase();
        let only = ProjectSelection::only(&[a.as_str(), upper.as_str()]).unwrap();
        assert_eq!(only, ProjectSelection::Only(vec![a.clone()]));
        assert_eq!(
            ProjectSelection::only::<&str>(&[]),
            Err(SelectionError::Empty)
        );
        assert_eq!(
            ProjectSelection::only(&["../x"]),
            Err(SelectionError::NotYours)
        );
        let many: Vec<String> = (0..=ProjectSelection::MAX)
            .map(|_| ProjectId::new().to_string())
            .collect();
        assert_eq!(ProjectSelection::only(&many), Err(SelectionError::TooMany));
        assert_eq!(
            serde_json::to_value(ProjectSelection::All).unwrap(),
            serde_json::json!("all")
        );
        assert_eq!(
            serde_json::to_value(&only).unwrap(),
            serde_json::json!([a.as_str()])
        );
        assert_eq!(
            ProjectSelection::from_parts(true, vec![]),
            ProjectSelection::Only(vec![]),
            "a restricted token whose projects are gone reaches none"
        );
    }
}
