//! hivewatch: watches the AI model ecosystem for behavioural monoculture.
//!
//! The nightly pipeline is a chain of stages, one module each, passing typed tables forward:
//! [`config`] + [`probes`] -> [`plan`] -> [`collect`] -> [`embed`] -> [`features`] ->
//! [`identity`] -> [`metrics`] -> [`lineage`] -> [`trend`] -> [`alert`] -> [`report`]. Each stage owns its tables; [`store`]
//! is the plumbing they share. [`pipeline`] is the tail every run goes through (after
//! collection, an import, or again in `analyze`); [`run`] strings collection and the tail
//! together for `hivewatch run`; [`remote`] puts the tables in object storage through a local
//! mirror; [`consortium`] is members collecting with their own keys and one analysis over the
//! union; [`sim`] is the simulated ecosystem the tests and the demo run against. See ARCHITECTURE.md for the map and the layering rules.

// A function fits on a screen: clippy.toml sets the limit (ARCHITECTURE.md, "Invariants").
#![warn(clippy::too_many_lines)]

// Foundations: they know nothing of the pipeline.
pub mod failure;
pub mod input;
pub mod net;
pub mod say;
pub mod secrets;
pub mod util;
pub mod vocab;

// What a person writes: configuration and probe suites.
pub mod config;
pub mod probes;

// The plumbing every table goes through.
pub mod store;

// The stages, in pipeline order.
pub mod alert;
pub mod collect;
pub mod embed;
pub mod features;
pub mod identity;
pub mod lineage;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod trend;

// Orchestration and the edge.
pub mod analyze;
pub mod cli;
pub mod consortium;
pub mod demo;
pub mod exit;
pub mod import;
pub mod night;
pub mod pipeline;
pub mod progress;
pub mod query;
pub mod remote;
pub mod run;
pub mod session;
pub mod sim;
pub mod tables;
