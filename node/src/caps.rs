//! What one author (a certifier, a member) can make a node hold, and how large a page of a
//! sync reply is: the `[documents]` section of `config.toml`, used by the engine (documents
//! from peers) and the federation's sync. A leaf: it knows no other module.

use serde::{Deserialize, Serialize};

/// Default of [`Caps::certificates_per_certifier`].
pub const DEFAULT_CERTIFICATES_PER_CERTIFIER: usize = 4096;
/// Default of [`Caps::revocations_per_certifier`].
pub const DEFAULT_REVOCATIONS_PER_CERTIFIER: usize = 4096;
/// Default of [`Caps::policy_versions_per_member`].
pub const DEFAULT_POLICY_VERSIONS_PER_MEMBER: usize = 16;
/// Default of [`Caps::sync_page_bytes`]: 1 MiB.
pub const DEFAULT_SYNC_PAGE_BYTES: usize = 1024 * 1024;

/// How much one author can make this node hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Certificates stored per certifier (from peers; the admin API is not capped).
    /// Default 4096.
    #[serde(default = "default_certificates")]
    pub certificates_per_certifier: usize,
    /// Revocations stored per certifier (from peers). Default 4096.
    #[serde(default = "default_revocations")]
    pub revocations_per_certifier: usize,
    /// Versions of another member's policy bundle kept in memory (the newest; older ones are
    /// forgotten, so equivocation is detected among these). Default 16.
    #[serde(default = "default_policy_versions")]
    pub policy_versions_per_member: usize,
    /// Largest page of documents this node sends in answer to one sync request, bytes (a
    /// member pulls page after page; never more than 3/4 of the network's response cap).
    /// Default 1048576 (1 MiB).
    #[serde(default = "default_sync_page")]
    pub sync_page_bytes: usize,
}

fn default_certificates() -> usize {
    DEFAULT_CERTIFICATES_PER_CERTIFIER
}
fn default_revocations() -> usize {
    DEFAULT_REVOCATIONS_PER_CERTIFIER
}
fn default_policy_versions() -> usize {
    DEFAULT_POLICY_VERSIONS_PER_MEMBER
}
fn default_sync_page() -> usize {
    DEFAULT_SYNC_PAGE_BYTES
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            certificates_per_certifier: DEFAULT_CERTIFICATES_PER_CERTIFIER,
            revocations_per_certifier: DEFAULT_REVOCATIONS_PER_CERTIFIER,
            policy_versions_per_member: DEFAULT_POLICY_VERSIONS_PER_MEMBER,
            sync_page_bytes: DEFAULT_SYNC_PAGE_BYTES,
        }
    }
}

impl Caps {
    /// The `[documents]` section of `config.toml`, commented.
    pub fn render(&self) -> String {
        format!(
            "\n[documents]\n\
             # Certificates / revocations stored per certifier of a region, from peers (the admin\n\
             # API is not capped; defaults {DEFAULT_CERTIFICATES_PER_CERTIFIER} and {DEFAULT_REVOCATIONS_PER_CERTIFIER}).\n\
             certificates_per_certifier = {}\n\
             revocations_per_certifier = {}\n\
             # Versions of another member's policy bundle kept in memory (default {DEFAULT_POLICY_VERSIONS_PER_MEMBER}).\n\
             policy_versions_per_member = {}\n\
             # Largest page of one sync reply in bytes (default {DEFAULT_SYNC_PAGE_BYTES} = 1 MiB).\n\
             sync_page_bytes = {}\n",
            self.certificates_per_certifier,
            self.revocations_per_certifier,
            self.policy_versions_per_member,
            self.sync_page_bytes,
        )
    }
}
