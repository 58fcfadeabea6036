pub mod audit;
pub mod me;
pub mod operator;
pub mod ops;
