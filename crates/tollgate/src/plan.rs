//! `tollgate plan`: the query plan of an operation against a supergraph,
//! printed as text, without contacting any subgraph.

use std::path::Path;

use apollo_compiler::ExecutableDocument;
use tollgate_core::planner;
use tollgate_core::Supergraph;

/// Why a plan could not be printed. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum PlanCommandError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The supergraph does not load.
    #[error("{path}: {source}")]
    Supergraph {
        /// The file.
        path: String,
        /// Why.
        source: tollgate_core::supergraph::SupergraphError,
    },
    /// The operation does not parse or validate against the API schema.
    #[error("{path}: the operation is not valid against the supergraph's API schema:\n{message}")]
    Operation {
        /// The file.
        path: String,
        /// The diagnostics.
        message: String,
    },
    /// Planning failed.
    #[error("{path}: {source}")]
    Plan {
        /// The file.
        path: String,
        /// Why.
        source: planner::PlanError,
    },
}

/// Reads both files and returns the plan as text.
pub fn plan_files(
    supergraph: &Path,
    query: &Path,
    operation_name: Option<&str>,
) -> Result<String, PlanCommandError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| PlanCommandError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let sdl = read(supergraph)?;
    let text = read(query)?;
    let supergraph_path = supergraph.display().to_string();
    let query_path = query.display().to_string();
    let supergraph = Supergraph::parse(&sdl).map_err(|source| PlanCommandError::Supergraph {
        path: supergraph_path,
        source,
    })?;
    let document =
        ExecutableDocument::parse_and_validate(supergraph.api_schema(), text, &query_path)
            .map_err(|e| PlanCommandError::Operation {
                path: query_path.clone(),
                message: e.errors.to_string(),
            })?;
    let operation = document
        .operations
        .get(operation_name)
        .map_err(|e| PlanCommandError::Operation {
            path: query_path.clone(),
            message: e.message().to_string(),
        })?
        .clone();
    // Progressive-override labels are planned off (the fields stay with the
    // subgraphs they are overridden from).
    let labels = vec![false; supergraph.join().override_labels().len()];
    let plan =
        planner::plan_operation(&supergraph, &document, &operation, &labels).map_err(|source| {
            PlanCommandError::Plan {
                path: query_path,
                source,
            }
        })?;
    Ok(plan.to_string())
}
