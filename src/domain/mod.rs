//! Typed values of the product, each parsed once where it enters. A leaf: nothing here
//! imports another module of the crate.

pub mod name;
