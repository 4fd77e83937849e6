//! Scopes: what a token may be used for. A session caller holds them all.

super::string_enum! {
    /// What a token may be used for.
    #[derive(PartialOrd, Ord)]
    pub enum Scope {
        Publish = "publish",
        Messages = "messages",
        Files = "files",
        Domain = "domain",
        BillingRead = "billing.read",
    }
}

impl Scope {
    /// One line for the Create token dialog.
    pub fn description(self) -> &'static str {
        match self {
            Scope::Publish => "Publish a project's site, and list its publishes.",
            Scope::Messages => "Post and read project comments.",
            Scope::Files => "Upload, list, download and delete project files.",
            Scope::Domain => "Read and change a project's custom domain.",
            Scope::BillingRead => "Read your invoices.",
        }
    }
}

/// A token's scopes, sorted and without repeats; stored as `publish,messages`.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Default,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn new(mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Scopes(scopes)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }

    fn to_db(&self) -> String {
        self.names().join(",")
    }

    /// A stored name that is no scope is an error, never dropped: retiring a scope takes a
    /// migration.
    fn from_db(s: &str) -> Result<Self, String> {
        s.split(',')
            .filter(|name| !name.is_empty())
            .map(|name| Scope::parse(name).ok_or_else(|| format!("unknown Scope {name:?}")))
            .collect::<Result<_, _>>()
            .map(Scopes::new)
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = Scope;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, Scope>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().copied()
    }
}

/// A list of names in JSON: `["publish", "messages"]`.
impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Scope::as_str))
    }
}

impl utoipa::PartialSchema for Scopes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<Scope as utoipa::PartialSchema>::schema())
            .unique_items(true)
            .into()
    }
}

impl utoipa::ToSchema for Scopes {}

super::text_column!(Scopes, |v| v.to_db(), |s| Scopes::from_db(&s)?);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("billing"), None);
        assert_eq!(Scope::parse("Publish"), None);
    }

    #[test]
    fn stored_form_is_sorted_and_deduplicated() {
        let s = Scopes::new(vec![Scope::BillingRead, Scope::Publish, Scope::Publish]);
        assert_eq!(s.to_db(), "publish,billing.read");
        assert_eq!(Scopes::from_db(&s.to_db()), Ok(s));
        assert_eq!(Scopes::from_db(""), Ok(Scopes::default()));
        assert!(Scopes::from_db("publish,retired").is_err());
    }
}
