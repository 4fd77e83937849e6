//! A member's role on a project: `owner` > `editor` > `viewer`.

super::string_enum! {
    stored
    /// A member's role on a project, from least to most.
    #[derive(PartialOrd, Ord)]
    pub enum Role {
        Viewer = "viewer",
        Editor = "editor",
        Owner = "owner",
    }
}

impl Role {
    /// What a client is told when it names no role of these.
    pub const EXPECTED: &'static str = "Use owner, editor or viewer.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Owner > Role::Editor && Role::Editor > Role::Viewer);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
