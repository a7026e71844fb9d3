//! `regio`: the command line of Regio.
fn main() {}
