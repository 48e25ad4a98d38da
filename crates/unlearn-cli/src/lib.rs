//! What the `unlearn` and `cargo xtask` binaries share: the command-line arguments of a study
//! ([`args::ReproduceArgs`]) and the parsers of options every command uses. The libraries
//! below take typed requests and know nothing of the command line.
//!
//! # Example
//! ```
//! use clap::Parser;
//! use unlearn_cli::args::ReproduceArgs;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     study: ReproduceArgs,
//! }
//!
//! let cli = Cli::parse_from(["x", "--scenarios", "random:0.1", "--methods", "ft,muda"]);
//! let request = cli.study.to_request(std::path::Path::new("target")).unwrap();
//! assert_eq!(request.config.methods, Some(vec!["ft".to_string(), "muda".to_string()]));
//! ```

pub mod args;
pub mod import_flags;
