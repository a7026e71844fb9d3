//! The demo region (owner: lead): synthetic data and a fully signed region of five
//! municipalities, used by `regio demo` and by the multi-node tests.

pub mod data;
pub mod region;
