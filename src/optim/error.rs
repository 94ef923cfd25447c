//! Errors from loading optimizer state.

use std::fmt;

/// Why `Optimizer::load_state_dict` refused a state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptimError {
    /// The number of parameter groups differs.
    GroupCount {
        /// Groups in the optimizer.
        expected: usize,
        /// Groups in the state dict.
        got: usize,
    },
    /// A group has a different number of parameters.
    GroupSize {
        /// The group index.
        group: usize,
        /// Parameters in the optimizer's group.
        expected: usize,
        /// Parameters in the state dict's group.
        got: usize,
    },
    /// A hyper-parameter is missing from a group.
    MissingOption {
        /// The group index.
        group: usize,
        /// The option name.
        key: String,
    },
    /// A state tensor is missing or has the wrong shape.
    BadState {
        /// The parameter index.
        param: usize,
        /// The state name.
        key: String,
    },
    /// A scheduler state has rates for a different number of parameter groups.
    SchedulerGroups {
        /// Groups the scheduler was built for.
        expected: usize,
        /// Rates in the state.
        got: usize,
    },
    /// A scheduler state lacks a counter, or it is not a valid count.
    SchedulerValue(String),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::GroupCount { expected, got } => write!(
                f,
                "loaded state dict has a different number of parameter groups ({got}, optimizer has {expected})"
            ),
            OptimError::GroupSize {
                group,
                expected,
                got,
            } => write!(
                f,
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group \
                 (group {group}: {got} parameters, optimizer has {expected})"
            ),
            OptimError::MissingOption { group, key } => {
                write!(
                    f,
                    "loaded state dict: parameter group {group} lacks option '{key}'"
                )
            }
            OptimError::BadState { param, key } => write!(
                f,
                "loaded state dict: state '{key}' of parameter {param} is missing or has the wrong shape"
            ),
            OptimError::SchedulerGroups { expected, got } => write!(
                f,
                "scheduler state has rates for {got} parameter groups, the scheduler has {expected}"
            ),
            OptimError::SchedulerValue(key) => {
                write!(f, "scheduler state: '{key}' is missing or invalid")
            }
        }
    }
}

impl std::error::Error for OptimError {}
