//! What each role may see: the pages of the navigation, and for each the admin API call
//! that page is built on. An integration test calls every page's probe as every role and
//! checks that the page is offered exactly when the call is allowed.

use freeway_wire::auth::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    Overview,
    Tenants,
    Team,
    Keys,
    Pool,
    Routing,
    Requests,
    Audit,
    Settings,
    Tokens,
    Playground,
    Account,
}

impl Page {
    pub const ALL: &'static [Page] = &[
        Page::Overview,
        Page::Tenants,
        Page::Team,
        Page::Keys,
        Page::Pool,
        Page::Routing,
        Page::Requests,
        Page::Audit,
        Page::Settings,
        Page::Tokens,
        Page::Playground,
        Page::Account,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Page::Overview => "Overview",
            Page::Tenants => "Tenants",
            Page::Team => "Team",
            Page::Keys => "My keys",
            Page::Pool => "Pool",
            Page::Routing => "Routing",
            Page::Requests => "Requests",
            Page::Audit => "Audit log",
            Page::Settings => "Settings",
            Page::Tokens => "Admin tokens",
            Page::Playground => "Playground",
            Page::Account => "Account",
        }
    }

    /// `data-testid` and URL word.
    pub fn slug(self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::Tenants => "tenants",
            Page::Team => "team",
            Page::Keys => "keys",
            Page::Pool => "pool",
            Page::Routing => "routing",
            Page::Requests => "requests",
            Page::Audit => "audit",
            Page::Settings => "settings",
            Page::Tokens => "tokens",
            Page::Playground => "playground",
            Page::Account => "account",
        }
    }

    /// Where the page lives, for a caller in `tenant` as `member`.
    pub fn href(self, tenant: Option<&str>, member: Option<&str>) -> String {
        match (self, tenant, member) {
            (Page::Overview, ..) => "/".into(),
            (Page::Team, Some(t), _) => format!("/tenants/{t}"),
            (Page::Keys, Some(t), Some(m)) => format!("/tenants/{t}/members/{m}"),
            (page, ..) => format!("/{}", page.slug()),
        }
    }

    /// Is the page offered to `role`? A tenant admin or member always has a tenant; a member
    /// (and a tenant admin who is also a member) has a member id.
    pub fn visible(self, role: Role, has_member: bool) -> bool {
        match self {
            Page::Overview | Page::Requests | Page::Tokens | Page::Playground | Page::Account => {
                true
            }
            Page::Tenants | Page::Pool | Page::Routing | Page::Settings => {
                role == Role::InstanceAdmin
            }
            Page::Team => role == Role::TenantAdmin,
            Page::Audit => role != Role::Member,
            Page::Keys => role != Role::InstanceAdmin && has_member,
        }
    }

    /// The admin API call the page is built on: method and path, `{tenant}` and `{member}`
    /// standing for the caller's own. It must succeed exactly when the page is visible.
    pub fn probe(self) -> (&'static str, &'static str) {
        match self {
            Page::Overview => ("GET", "/admin/v1/usage/summary"),
            Page::Tenants => ("POST", "/admin/v1/tenants"),
            Page::Team => ("POST", "/admin/v1/tenants/{tenant}/members"),
            Page::Keys => ("GET", "/admin/v1/tenants/{tenant}/members/{member}/keys"),
            Page::Pool => ("GET", "/admin/v1/providers"),
            Page::Routing => ("GET", "/admin/v1/routing/state"),
            Page::Requests => ("GET", "/admin/v1/requests"),
            Page::Audit => ("GET", "/admin/v1/audit"),
            Page::Settings => ("GET", "/admin/v1/settings"),
            Page::Tokens => ("GET", "/admin/v1/tokens"),
            Page::Playground => ("GET", "/admin/v1/me"),
            Page::Account => ("GET", "/admin/v1/me"),
        }
    }
}

/// The navigation of `role`, in order.
pub fn navigation(role: Role, has_member: bool) -> Vec<Page> {
    Page::ALL
        .iter()
        .copied()
        .filter(|p| p.visible(role, has_member))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_an_overview_and_only_the_instance_admin_has_the_pool() {
        for role in Role::ALL {
            let pages = navigation(*role, *role != Role::InstanceAdmin);
            assert_eq!(pages.first(), Some(&Page::Overview));
            assert_eq!(pages.contains(&Page::Pool), *role == Role::InstanceAdmin);
        }
        assert!(!navigation(Role::Member, true).contains(&Page::Audit));
        assert!(navigation(Role::Member, true).contains(&Page::Keys));
    }
}
