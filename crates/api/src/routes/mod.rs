pub mod audit;
pub mod billing;
pub mod link;
pub mod me;
pub mod notifications;
pub mod operator;
pub mod ops;
