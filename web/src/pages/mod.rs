//! One module per page (or group of pages) of the navigation.

pub mod account;
pub mod audit;
pub mod login;
pub mod members;
pub mod overview;
pub mod playground;
pub mod pool;
pub mod requests;
pub mod routing;
pub mod settings;
pub mod tenants;
pub mod tokens;
