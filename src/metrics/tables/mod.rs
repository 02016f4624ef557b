//! The measure stage's tables: `probe_metrics`, `pair_similarity`, `run_metrics`, `families`,
//! `lineage_tree` (per run and embedder) and `shared_phrases` (per run): each declared once, a
//! [`crate::store::table::Table`].

pub mod families;
pub mod lineage_tree;
pub mod pair_similarity;
pub mod probe_metrics;
pub mod run_metrics;
pub mod shared_phrases;
