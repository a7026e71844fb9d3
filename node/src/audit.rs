//! The auditor's side of the audit log (the chain itself, its hashing and checkpoints live in
//! [`regio_store::audit`]): what a node exports for an auditor ([`export`]), reading an
//! export or a set of files back ([`files`]), and the offline checks `regio audit` runs on
//! them — policy chains and equivocation, log integrity against signed checkpoints, signed
//! answers against the log ([`verify`]), and decisions re-run from the evidence
//! ([`decide`]).

pub mod decide;
pub mod export;
pub mod files;
pub mod verify;
