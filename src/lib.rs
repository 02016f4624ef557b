//! hivewatch: watches the AI model ecosystem for behavioural monoculture.
//!
//! The nightly pipeline is a chain of stages, one module each, passing typed tables forward:
//! [`config`] + [`probes`] -> [`plan`] -> [`collect`] -> [`store`]. [`run`] strings them together
//! for `hivewatch run`; [`sim`] is the simulated ecosystem the tests and the demo run against.
//! See ARCHITECTURE.md for the map.

pub mod alert;
pub mod cli;
pub mod collect;
pub mod config;
pub mod demo;
pub mod embed;
pub mod exit;
pub mod features;
pub mod import;
pub mod metrics;
pub mod plan;
pub mod probes;
pub mod progress;
pub mod report;
pub mod run;
pub mod secrets;
pub mod sim;
pub mod store;
pub mod trend;
pub mod util;
